import Glibc

/// A worker's life as the supervisor sees it: started with its pipes, heard through them
/// (its output to the log, its messages to its pool), written to, and ended when reaped.
extension Supervisor {
    func spawnWorker(_ pool: Pool, _ order: SpawnOrder) {
        let now = Moment.now()
        guard let plan = plans[pool.name] else { return }
        let ends: WorkerPipes.Ends
        do { ends = try WorkerPipes.make() } catch {
            return spawnFailed(pool, order, "cannot create pipes: \(error)", now: now)
        }
        let pid: pid_t
        do {
            var request = try plan.request(for: order, descriptors: ends.workers, inherited: inherited, extra: workerVariables(pool, id: nextID))
            request.guardian = guardian.pipeForChildren
            pid = try spawn(request)
        } catch {
            ends.closeAll()
            return spawnFailed(pool, order, error.description, now: now)
        }
        ends.closeWorkers()
        guardian.register(pid)

        let id = nextID
        nextID += 1
        let process = WorkerProcess(id: id, pid: pid, pool: pool, slot: order.slot,
                                    input: ends.stdin.write, output: ends.output.read, control: ends.control.read)
        let watched = Result { () throws(Errno) in try pipes.add(process) }
        pool.spawned(order, id: id, pid: pid, now: now)
        if case .failure(let error) = watched {
            say("pool \(pool.name): cannot watch the pipes of worker pid \(pid): \(error); stopping it")
            perform(pool.handle(id, .kill, now: now, using: &random), for: pool)
        }
        let limit = order.jobLimit.map { "job limit \($0)" } ?? "no job limit"
        let lifetime = order.lifetime.map { ", lifetime \(Values.formatElapsed($0))" } ?? ""
        let role = order.spare ? "a warm replacement for worker \(order.slot)" : "worker \(order.slot)"
        say("pool \(pool.name): started \(role) (pid \(pid), \(limit)\(lifetime))", alsoTo: pool)
    }

    /// What a worker learns beyond the pool's environment: its queue, its name (so that a
    /// `solo push` it runs joins the group of the job it holds) and solo's config.
    private func workerVariables(_ pool: Pool, id: UInt64) -> [(String, String)] {
        // The guardian finds what a worker's descendants daemonized by this mark (see guardian.c).
        var mark = [(Guardian.markVariable, String(Processes.ownPID))]
        // The fencing number of the fleet lock: a worker may hand it to what it writes to, so
        // that a stale holder's late writes can be told from the current one's.
        if let fleetLock, fleetLock.role == .holding { mark.append(("SOLO_FENCE", String(fleetLock.fence))) }
        guard pool.config.queue.feedsJobs else { return mark }
        return mark + [("SOLO_QUEUE", pool.config.queueName), ("SOLO_WORKER_ID", workerName(pool, id)),
                       ("SOLO_CONFIG", config.file)]
    }

    private func spawnFailed(_ pool: Pool, _ order: SpawnOrder, _ error: String, now: Moment) {
        if phase == .running && notify != nil { startupProblems.append("pool \(pool.name): worker \(order.slot) cannot start: \(error)") }
        perform(pool.spawnFailed(order, error: error, now: now, using: &random), for: pool)
        if !order.spare, let backoff = pool.backoffEvent(slot: order.slot, pid: nil, now: now) { fire(backoff) }
    }

    /// The worker's end: its last output read, its pipes closed, its pool told.
    func workerExited(_ id: UInt64, status: ExitStatus, now: Moment) -> WorkerProcess? {
        guard let process = pipes.remove(id) else { return nil }
        // Its last words may still be in the pipes: a final `ok` counts, but starts nothing,
        // and nothing is signalled: the pid is reaped and no longer names the process.
        process.reaped = true
        readControl(of: process, untilDrained: true)
        readOutput(of: process, untilDrained: true)
        _ = log(process.outputLines.finish(), of: process)
        // A worker that exits right after an answer leaves the lines written since unread:
        // those jobs never began, and go back with their attempt. The job ahead first: it is
        // the pipe's last line; the job in hand is looked at only once nothing follows it (a
        // job ahead still there means the worker read past the start of the one in hand). A
        // line still held for its group's note never reached the worker at all.
        takeBackAhead(of: process)
        if let worker = process.pool.workers[id], let job = worker.job, worker.ahead == nil,
           process.lineHeld || pipes.takeBack(Self.line(of: job), from: process) {
            perform(process.pool.handle(id, .jobTakenBack, now: now, using: &random), for: process.pool)
        }
        pipes.close(process)
        let pool = process.pool
        let worker = pool.workers[id]
        let wasSpare = worker.map(pool.isSpare) ?? false
        perform(pool.handle(id, .exited(status), now: now, using: &random), for: pool)
        if let worker { pool.hookEvents(afterExitOf: worker, wasSpare: wasSpare, now: now).forEach(fire) }
        return process
    }

    func readOutput(of process: WorkerProcess, untilDrained: Bool) {
        repeat {
            switch pipes.read(.output, of: process) {
            case .lines(let pieces):
                for word in log(pieces, of: process) {
                    perform(process.pool.handle(process.id, .printedOutcome(word), now: Moment.now(), using: &random), for: process.pool)
                }
            case .empty:
                return
            case .closed(let last):
                _ = log(last, of: process)
                return
            }
        } while untilDrained
    }

    /// Writes a worker's output to its pool's log; returns the outcome words it printed as
    /// whole lines (`ok` on stdout, say), which its pool may count as its answer.
    private func log(_ pieces: [LineBuffer.Piece], of process: WorkerProcess) -> [String] {
        var text: [UInt8] = []
        var printedOutcomes: [String] = []
        for piece in pieces {
            switch piece {
            case .line(let bytes), .partial(let bytes), .truncated(let bytes):
                bytes.withUnsafeBytes { formatter.append($0, prefix: process.prefix, to: &text) }
            }
            if case .line(let bytes) = piece, let word = WorkerMessage.outcomeWord(printed: bytes) { printedOutcomes.append(word) }
        }
        if !text.isEmpty { sink(for: process.pool).write(text); remember(text, pool: process.pool) }
        return printedOutcomes
    }

    func readControl(of process: WorkerProcess, untilDrained: Bool) {
        repeat {
            switch pipes.read(.control, of: process) {
            case .lines(let pieces):
                deliver(pieces, from: process)
            case .empty:
                return
            case .closed(let last):
                deliver(last, from: process)
                if !process.reaped { perform(process.pool.handle(process.id, .controlClosed, now: Moment.now(), using: &random), for: process.pool) }
                return
            }
        } while untilDrained
    }

    private func deliver(_ pieces: [LineBuffer.Piece], from process: WorkerProcess) {
        let now = Moment.now()
        for piece in pieces {
            let event: WorkerEvent
            switch piece {
            case .line(let bytes):
                let message = WorkerMessage.parse(bytes)
                event = process.reaped ? .finalMessage(message) : .message(message)
            case .partial, .truncated:
                guard !process.reaped else { continue }
                event = .brokeProtocol("it wrote a line over \(process.controlLines.maximumLine / 1024)K on fd 3")
            }
            perform(process.pool.handle(process.id, event, now: now, using: &random), for: process.pool)
            guard case .message(let message) = event, message.isOutcome else { continue }
            // Memory is checked after every outcome, before the worker can take another job.
            if let own = process.memory?.residentBytes() {
                perform(process.pool.handle(process.id, .ownMemory(own), now: now, using: &random), for: process.pool)
            }
            settleAhead(of: process, now: now)
        }
    }

    /// Prefetch: once a worker answers, the job written ahead to it is the one it runs, unless
    /// it is leaving (memory_limit's check above, say) and the job can still be taken back.
    private func settleAhead(of process: WorkerProcess, now: Moment) {
        guard let worker = process.pool.workers[process.id], worker.job == nil, worker.ahead != nil else { return }
        if worker.isLeaving { takeBackAhead(of: process) }
        perform(process.pool.handle(process.id, .aheadBegun, now: now, using: &random), for: process.pool)
    }

    /// Writes what the worker's stdin takes now; the rest when it is writable again.
    func writeInput(of process: WorkerProcess) {
        guard !pipes.writeInput(of: process), !process.reaped else { return }
        // The worker closed its stdin (or died): it cannot take jobs. Its exit retries the
        // job it held; if it stays, it is stopped.
        say("pool \(process.pool.name): worker pid \(process.pid) closed its stdin while holding a job; stopping it", alsoTo: process.pool)
        perform(process.pool.handle(process.id, .retire(.restart), now: Moment.now(), using: &random), for: process.pool)
    }

    private func sink(for pool: Pool) -> LogSink {
        pool.config.logFile.flatMap { sinks[$0] } ?? log
    }
}
