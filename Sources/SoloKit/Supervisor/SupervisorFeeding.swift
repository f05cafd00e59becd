/// Feeding jobs to the workers of feed pools, one line each on stdin, and with prefetch one
/// line ahead; a job of a group only once its worker is noted for it.
extension Supervisor {
    /// Gives every idle worker of a feed pool a job, if the queue has one, and commits the
    /// outcomes that are due.
    func feed() {
        let now = Moment.now()
        if phase == .running && fleetLock?.mayAct(now: now) ?? true {
            for pool in pools where pool.config.queue.feedsJobs {
                if pool.config.fastcgi != nil { sendRequests(pool, now: now); continue }
                // Only workers with a process to write to: a job taken is a job given.
                let idle = pool.idleWorkers.compactMap { worker in pipes[worker].map { (worker, $0) } }
                if !idle.isEmpty {
                    let jobs = feeder.take(for: pool, count: idle.count, now: now)
                    for ((worker, process), job) in zip(idle, jobs) { give(job, to: worker, process, of: pool, now: now) }
                    if jobs.count < idle.count && pool.config.prefetch > 0 { handOverAhead(pool, to: idle.dropFirst(jobs.count), now: now) }
                }
                if pool.config.prefetch > 0 { feedAhead(pool, now: now) }
            }
        }
        feeder.flush(now: now)
    }

    private func give(_ job: ReservedJob, to worker: UInt64, _ process: WorkerProcess, of pool: Pool, now: Moment) {
        perform(pool.handle(worker, .assigned(job), now: now, using: &random), for: pool)
        guard job.group != nil else { return write(job, to: process) }
        // A job of a group goes out once the store knows its worker: a `solo push` the job runs
        // at once (from a Redis queue, whose answer comes on a later turn) joins its group.
        process.lineHeld = true
        feeder.assign(job, of: pool, to: workerName(pool, worker)) { [unowned self] in
            process.lineHeld = false
            // Gone meanwhile: its exit gave the job back.
            guard !process.reaped else { return }
            write(job, to: process)
        }
    }

    /// Prefetch, with idle workers and no job for them: a job written ahead to a busy worker
    /// and still unread goes to an idle one instead of waiting behind a long job.
    private func handOverAhead(_ pool: Pool, to idle: ArraySlice<(UInt64, WorkerProcess)>, now: Moment) {
        var idle = idle
        for (id, worker) in pool.workers where !idle.isEmpty {
            guard var job = worker.ahead, let process = pipes[id], pipes.takeBack(Self.line(of: job), from: process) else { continue }
            perform(pool.handle(id, .aheadHandedOver, now: now, using: &random), for: pool)
            let (taker, takerProcess) = idle.removeFirst()
            job.waited = nil  // its wait was counted when it was written ahead
            give(job, to: taker, takerProcess, of: pool, now: now)
        }
    }

    /// Prefetch: a busy worker gets its next job behind the one it runs, so that it finds it in
    /// its stdin as it answers. Taken as a FastCGI request's job is: its attempt is spent only
    /// when it begins (`.began`), and it goes back untouched if it never does.
    private func feedAhead(_ pool: Pool, now: Moment) {
        // Not behind a line still held for its group's note: it would overtake it.
        let wanting = pool.workersWantingAhead.compactMap { worker in pipes[worker].flatMap { $0.lineHeld ? nil : (worker, $0) } }
        guard !wanting.isEmpty else { return }
        let jobs = feeder.take(for: pool, count: wanting.count, now: now, given: false)
        for ((worker, process), job) in zip(wanting, jobs) {
            perform(pool.handle(worker, .assignedAhead(job), now: now, using: &random), for: pool)
            write(job, to: process)
        }
    }

    private func write(_ job: ReservedJob, to process: WorkerProcess) {
        process.inputPending.append(contentsOf: Self.line(of: job))
        writeInput(of: process)
    }

    /// A job as a worker reads it: its payload and a newline.
    static func line(of job: ReservedJob) -> [UInt8] { Array(job.payload.utf8) + [UInt8(ascii: "\n")] }

    /// The name a worker's jobs are noted under (SOLO_WORKER_ID), so that a `solo push` it
    /// runs joins the group of the job it holds.
    func workerName(_ pool: Pool, _ worker: UInt64) -> String { "\(feeder.owner)/\(pool.name)/\(worker)" }

    /// Prefetch: the job written ahead to a worker, taken back out of its stdin if unread.
    func takeBackAhead(of process: WorkerProcess) {
        guard let ahead = process.pool.workers[process.id]?.ahead, pipes.takeBack(Self.line(of: ahead), from: process) else { return }
        perform(process.pool.handle(process.id, .aheadTakenBack, now: Moment.now(), using: &random), for: process.pool)
    }
}
