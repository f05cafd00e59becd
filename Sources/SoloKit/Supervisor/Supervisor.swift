import CSoloSpawn
import Glibc

/// The supervisor: one thread, one epoll loop over the signalfd and the workers' pipes. It
/// owns all state, so there are no locks and nothing to race. Pools decide (pure); this class
/// performs what they decide (system calls) and feeds back what happened.
public final class Supervisor {
    enum Phase { case running, stopping, killing, done }

    /// What a dead worker left behind in its session: its process group, and processes that
    /// moved to groups of their own (re-parented to solo, the subreaper). They climb the pool's
    /// stop ladder, as systemd stops what is left in a unit's cgroup.
    struct LingeringSession {
        var pool: Pool
        var ladder: StopLadder
    }

    public struct Options {
        /// `solo check` passes the file its output goes to, so that SIGUSR1 can reopen it.
        public var ownLogFile: String?
        /// `solo check` learns "ready" (or what went wrong) here.
        public var notify: FileDescriptor?

        public init(ownLogFile: String? = nil, notify: FileDescriptor? = nil) {
            self.ownLogFile = ownLogFile
            self.notify = notify
        }
    }

    var config: SoloConfig
    let lock: PortLock
    var pools: [Pool]
    var plans: [String: LaunchPlan]
    var sinks: [String: LogSink]
    /// The open-file limit solo was started with, which workers get back.
    let inheritedOpenFiles: (soft: UInt64, hard: UInt64)
    let log = LogSink()
    let formatter = LogFormatter()
    private let epoll: Epoll
    var epollForControl: Epoll { epoll }
    private let signals: SignalDescriptor
    private let guardian = Guardian()
    private let inherited: [String]
    private let ownLogFile: String?
    let feeder: Feeder
    /// The Redis connections (queues, the fleet lock, heartbeats), all in this loop.
    let redis: RedisHub
    /// `cluster_lock`: only while it holds this lock do the pools run.
    var fleetLock: FleetLock?
    let heartbeat: ClusterHeartbeat
    var control: ControlServer?
    var metrics: MetricsServer?
    let started = Moment.now()
    /// The same moment by the wall clock, in seconds since the epoch (for the metrics).
    let startedWallClock = Moment.wallSeconds()
    /// systemd, when it started solo with Type=notify; the next watchdog ping and status line.
    let serviceManager: ServiceManager
    private var nextServiceUpdate: Moment?
    /// When queue-depth scaling looks at its pools next (while any pool scales).
    private var nextScaleCheck: Moment?
    /// Each pool's recent output (its workers' lines and solo's lines about it), for `solo logs`.
    var recentOutput: [String: LogRing] = [:]
    private var lastServiceStatus = ""

    var processes: [UInt64: WorkerProcess] = [:]
    private var byPid: [pid_t: UInt64] = [:]
    private var lingering: [pid_t: LingeringSession] = [:]
    private var strays: [pid_t: Moment] = [:]
    private var nextID: UInt64 = 1
    var random = SystemRandomNumberGenerator()
    var phase = Phase.running
    private var notify: FileDescriptor?
    private var startupProblems: [String] = []
    private var guardianStarted = Moment.now()
    /// Set while a guardian that died young waits to be started again.
    private var guardianRestartAt: Moment?
    private var watchingGuardianPipe = false
    private var readBuffer = [UInt8](repeating: 0, count: 65536)
    var eventBuffer = [solo_event](repeating: solo_event(), count: 64)

    static let signalToken: UInt64 = 0
    static let guardianToken: UInt64 = 3
    static let queueFilesToken: UInt64 = 4
    public static let handledSignals = [SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGALRM]

    /// Sets up everything that can fail before a worker starts. The caller has acquired the lock.
    public init(config: SoloConfig, lock: PortLock, options: Options = Options()) throws(StartupError) {
        self.config = config
        self.lock = lock
        notify = options.notify
        ownLogFile = options.ownLogFile
        inherited = Host.environment()
        serviceManager = ServiceManager(environment: inherited)
        do {
            signals = try SignalDescriptor(signals: Self.handledSignals)
            try Signals.ignore(SIGPIPE)
            epoll = try Epoll()
            try epoll.add(signals.descriptor, token: Self.signalToken)
            try Processes.becomeSubreaper()
        } catch {
            throw StartupError("cannot set up the event loop: \(error)")
        }
        let openFiles = Resources.raiseOpenFileLimit()
        inheritedOpenFiles = openFiles

        var plans: [String: LaunchPlan] = [:]
        var sinks: [String: LogSink] = [:]
        for pool in config.pools {
            plans[pool.name] = try LaunchPlan(pool: pool, inheritedOpenFiles: openFiles)
            if let path = pool.logFile, sinks[path] == nil {
                do { sinks[path] = try LogSink(path: path) } catch {
                    throw StartupError("pool \(pool.name): cannot open log_file \(path): \(error)")
                }
            }
        }
        self.plans = plans
        self.sinks = sinks
        pools = config.pools.map { Pool(config: $0) }
        let owner = "\(Self.nodeName(stateDirectory: config.global.stateDirectory))/\(LockAddress.format(lock.address)):\(lock.port)"
        let logger = LogSink()
        let formatter = self.formatter
        let say: (String) -> Void = { message in logger.write(formatter.line(message, prefix: "solo: ")) }
        redis = RedisHub(epoll: epoll, clientName: "solo:\(owner)",
                         requestTimeout: RedisHub.requestTimeout(lease: config.global.lease,
                                                                 lockTTL: config.global.clusterLock == nil ? nil : config.global.clusterLockTTL),
                         say: say)
        feeder = Feeder(pools: pools, owner: owner, lease: config.global.lease, hub: redis, say: say)
        heartbeat = ClusterHeartbeat(owner: owner)
        if let watch = feeder.descriptor { try? epoll.add(watch, token: Self.queueFilesToken) }
        do { try guardian.start() } catch { throw StartupError("cannot start the guardian process: \(error)") }
        if let name = config.global.clusterLock, let url = config.global.clusterRedis {
            fleetLock = FleetLock(name: name, ttl: config.global.clusterLockTTL, server: redis.server(url), owner: owner, say: say)
        }
        setUpCluster()
    }

    /// This machine as other supervisors see it: its host name and an id of its own, so that
    /// two hosts that share a name (cloned VMs, containers with a fixed host name) never share
    /// leases in a Redis queue. The id is the start of the machine-id (systemd's or D-Bus's),
    /// else a random one kept in state_dir/node-id (containers often have no machine-id, and
    /// the same lock address and port): the same at every start, so that a restarted
    /// supervisor knows its predecessor's jobs.
    static func nodeName(stateDirectory: String) -> String {
        for path in ["/etc/machine-id", "/var/lib/dbus/machine-id", stateDirectory + "/node-id"] {
            let id = ((try? Files.readText(path, limit: 64)) ?? "").prefix { $0.isHexDigit }
            if id.count >= 8 { return Host.name() + "/" + id.prefix(8) }
        }
        var random = SystemRandomNumberGenerator()
        let id = String(String(random.next() | 1 << 63, radix: 16).suffix(8))
        try? Files.writeAtomically(stateDirectory + "/node-id", id + "\n")
        return Host.name() + "/" + id
    }

    /// Runs until a stop completes; returns the exit status.
    public func run() -> Int32 {
        let address = LockAddress.format(lock.address)
        say("started (pid \(Processes.ownPID), lock \(address):\(lock.port), \(pools.count) pool\(pools.count == 1 ? "" : "s"), config \(config.file))")
        openControlSocket()
        openMetrics()
        reconcile()
        feed()
        reportReady()
        tellServiceManager(["READY=1"], now: Moment.now())
        while phase != .done {
            let now = Moment.now()
            let timeout = nextDeadline(now: now).map { $0.millisecondsFrom(now) } ?? -1
            let events: [Epoll.Event]
            do { events = try epoll.wait(timeoutMilliseconds: timeout, into: &eventBuffer) } catch {
                say("epoll_wait failed: \(error); stopping")
                return 1
            }
            for event in events { dispatch(event) }
            expire(Moment.now())
            dropRemovedPools()
            reconcile()
            feed()
            redis.flush()
            watchGuardianPipe()
            control?.settle()
            finishStopIfDone()
        }
        control?.close()
        metrics?.close()
        feeder.shutdown()
        fleetLock?.release()
        heartbeat.leave()
        drainRedis(within: .seconds(5))
        feeder.abandon()
        redis.closeAll()
        guardian.stop()
        sinks.values.forEach { $0.close() }
        say("stopped")
        return 0
    }

    // MARK: - events

    private func dispatch(_ event: Epoll.Event) {
        switch event.token {
        case Self.signalToken: return handleSignals()
        case Self.guardianToken: return tellGuardian(guardian.flush())
        case Self.queueFilesToken: return feeder.filesChanged()
        case _ where RedisHub.owns(event.token): return redis.event(event)
        case _ where ControlServer.owns(event.token): control?.event(event); return
        case _ where MetricsServer.owns(event.token): metrics?.event(event); return
        default: break
        }
        guard let process = processes[event.token >> 2] else { return }
        switch event.token & 3 {
        case 1: readOutput(of: process, untilDrained: false)
        case 2: readControl(of: process, untilDrained: false)
        case 3: writeInput(of: process)
        default: break
        }
    }

    /// After the loop, while the last Redis replies are awaited: other events are consumed
    /// without acting on them (signals read, queue file events drained).
    func discard(_ event: Epoll.Event) {
        switch event.token {
        case Self.signalToken: _ = signals.drain()
        case Self.queueFilesToken: feeder.filesChanged()
        case Self.guardianToken: _ = guardian.flush()
        default: break
        }
    }

    private func handleSignals() {
        for (signal, sender) in signals.drain() {
            switch signal {
            case SIGCHLD:
                reapChildren()
            case SIGTERM, SIGINT, SIGQUIT:
                let name = "SIG" + Signals.name(of: signal) + (sender > 0 ? " from pid \(sender)" : "")
                if phase == .running {
                    say("\(name): stopping every pool gracefully (send it again to kill the workers at once)")
                    beginStop()
                } else if phase == .stopping {
                    say("\(name) again: killing every worker now")
                    beginKill()
                }
            case SIGUSR1:
                reopenLogs()
            case SIGHUP where phase == .running:
                say("SIGHUP: reloading \(config.file)")
                _ = reload()
            case SIGTTIN where phase == .running, SIGTTOU where phase == .running:
                let step = signal == SIGTTIN ? 1 : -1
                let why = "SIG\(Signals.name(of: signal))"
                for pool in pools {
                    // A scaling pool gets one more (or one less) at most: its range's top moves.
                    if let range = pool.autoscaler?.range {
                        let maximum = min(max(range.upperBound + step, 1), 4096)
                        say("pool \(pool.name): scaling between \(min(range.lowerBound, maximum)) and \(maximum) workers (\(why))")
                        scale(pool, to: pool.setScaling(min(range.lowerBound, maximum), upTo: maximum), why: why)
                    } else {
                        scale(pool, to: pool.desiredWorkers + step, why: why)
                    }
                }
            default:
                break
            }
        }
    }

    private func reapChildren() {
        let now = Moment.now()
        var ended: [WorkerProcess] = []
        while let (pid, status) = Processes.reapAny() {
            if pid == guardian.pid {
                say("the guardian process (pid \(pid)) died: \(status)")
                guardianLost(now: now)
            } else if let id = byPid[pid], let process = workerExited(id, status: status, now: now) {
                ended.append(process)
            } else {
                strays[pid] = nil
            }
        }
        // Only now, with every dead child reaped: a worker's unreaped children (zombies a
        // shell left when it exec'd) come to solo when the worker dies, and are not processes
        // left behind.
        for process in ended { sweepSession(of: process, now: now) }
        // A reaped orphan may have been the last of a dead worker's session.
        guard !lingering.isEmpty else { return }
        let orphans = orphansBySession()
        for session in lingering.keys where !sessionHasMembers(session, orphans: orphans) { forget(session) }
    }

    /// Whatever a dead worker left in its session goes too, as systemd does for a unit.
    private func sweepSession(of process: WorkerProcess, now: Moment) {
        let session = process.pid
        if sessionHasMembers(session, orphans: orphansBySession()) {
            var ladder = StopLadder(process.pool.policy.signalLadder)
            if let step = ladder.climb(now: now), case .signal(let signal) = step.action {
                signalSession(session, signal)
                let pool = process.pool
                say("pool \(pool.name): worker pid \(session) left processes behind; sent SIG\(Signals.name(of: signal)), SIGKILL in \(Values.formatDuration(pool.config.stopTimeout)) if they stay")
            }
            lingering[session] = LingeringSession(pool: process.pool, ladder: ladder)
        } else {
            tellGuardian(guardian.unregister(session))
        }
    }

    /// The worker's end: its last output read, its pipes closed, its pool told.
    private func workerExited(_ id: UInt64, status: ExitStatus, now: Moment) -> WorkerProcess? {
        guard let process = processes.removeValue(forKey: id) else { return nil }
        byPid[process.pid] = nil
        // Its last words may still be in the pipes: a final `ok` counts, but starts nothing,
        // and nothing is signalled: the pid is reaped and no longer names the process.
        process.reaped = true
        readControl(of: process, untilDrained: true)
        readOutput(of: process, untilDrained: true)
        flushPartialLines(of: process)
        [process.output, process.control, process.inputWatched ? process.input : nil].compactMap { $0 }.forEach { epoll.remove($0) }
        process.closeAll()
        perform(process.pool.handle(id, .exited(status), now: now, using: &random), for: process.pool)
        return process
    }

    // MARK: - pipes

    private func readOutput(of process: WorkerProcess, untilDrained: Bool) {
        guard let fd = process.output else { return }
        repeat {
            switch Result(catching: { () throws(Errno) in try fd.read(into: &readBuffer) }) {
            case .success(.bytes(let n)):
                var text: [UInt8] = []
                var printedOutcomes: [String] = []
                readBuffer.withUnsafeBytes { raw in
                    for piece in process.outputLines.append(UnsafeRawBufferPointer(rebasing: raw[0..<n])) {
                        appendLogLine(piece, process: process, to: &text)
                        if case .line(let bytes) = piece, let word = WorkerMessage.outcomeWord(printed: bytes) { printedOutcomes.append(word) }
                    }
                }
                if !text.isEmpty { sink(for: process.pool).write(text); remember(text, pool: process.pool) }
                for word in printedOutcomes {
                    perform(process.pool.handle(process.id, .printedOutcome(word), now: Moment.now(), using: &random), for: process.pool)
                }
            case .success(.wouldBlock):
                return
            case .success(.endOfFile), .failure:
                flushPartialLines(of: process)
                epoll.remove(fd)
                fd.close()
                process.output = nil
                return
            }
        } while untilDrained
    }

    private func appendLogLine(_ piece: LineBuffer.Piece, process: WorkerProcess, to text: inout [UInt8]) {
        switch piece {
        case .line(let bytes), .partial(let bytes), .truncated(let bytes):
            bytes.withUnsafeBytes { formatter.append($0, prefix: process.prefix, to: &text) }
        }
    }

    private func flushPartialLines(of process: WorkerProcess) {
        var text: [UInt8] = []
        for piece in process.outputLines.finish() { appendLogLine(piece, process: process, to: &text) }
        if !text.isEmpty { sink(for: process.pool).write(text); remember(text, pool: process.pool) }
    }

    private func readControl(of process: WorkerProcess, untilDrained: Bool) {
        guard let fd = process.control else { return }
        repeat {
            switch Result(catching: { () throws(Errno) in try fd.read(into: &readBuffer) }) {
            case .success(.bytes(let n)):
                let pieces = readBuffer.withUnsafeBytes { raw in process.controlLines.append(UnsafeRawBufferPointer(rebasing: raw[0..<n])) }
                deliver(pieces, from: process)
            case .success(.wouldBlock):
                return
            case .success(.endOfFile), .failure:
                deliver(process.controlLines.finish(), from: process)
                epoll.remove(fd)
                fd.close()
                process.control = nil
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
            // Memory is checked after every outcome, before the worker can take another job.
            if case .message(let message) = event, message.isOutcome, let own = process.memory?.residentBytes() {
                perform(process.pool.handle(process.id, .ownMemory(own), now: now, using: &random), for: process.pool)
            }
        }
    }

    private func sink(for pool: Pool) -> LogSink {
        pool.config.logFile.flatMap { sinks[$0] } ?? log
    }

    private func reopenLogs() {
        var failed = 0
        for sink in sinks.values {
            do { try sink.reopen() } catch {
                failed += 1
                say("cannot reopen \(sink.path ?? "?"): \(error); still writing to the old file")
            }
        }
        if let path = ownLogFile {
            do {
                let file = try LogSink.open(path, directoryMode: 0o750)
                defer { file.close() }
                try Files.redirectOutput(to: file)
            } catch {
                failed += 1
                say("cannot reopen \(path): \(error); still writing to the old file")
            }
        }
        say(failed == 0 ? "SIGUSR1: log files reopened" : "SIGUSR1: \(failed) log file(s) could not be reopened (see above)")
    }

    // MARK: - acting on what pools decide

    func perform(_ commands: [PoolCommand], for pool: Pool) {
        for command in commands {
            switch command {
            case .spawn(let order):
                spawnWorker(pool, order)
            case .signal(let worker, let pid, let signal):
                // Only while the worker is unreaped: then its pid is still its process group.
                if processes[worker] != nil { Processes.signalGroup(pid, signal) }
            case .closeInput(let worker):
                if let process = processes[worker] { closeInput(of: process) }
            case .probeInput(let worker, let pid):
                // Only while the worker is unreaped, so that its pid still names it.
                if let process = processes[worker], !process.reaped, ProcFS.isReadingStandardInput(pid) {
                    perform(pool.handle(worker, .waitingForInput, now: Moment.now(), using: &random), for: pool)
                }
            case .finish(let job, let outcome):
                feeder.record(job, outcome, of: pool, now: Moment.now())
            case .log(let message):
                say("pool \(pool.name): \(message)", alsoTo: pool)
            }
        }
    }

    private func spawnWorker(_ pool: Pool, _ order: SpawnOrder) {
        let now = Moment.now()
        guard let plan = plans[pool.name] else { return }
        var opened: [FileDescriptor] = []
        func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor) {
            let ends = try FileDescriptor.pipe()
            opened += [ends.read, ends.write]
            return ends
        }
        let pid: pid_t
        let stdin: (read: FileDescriptor, write: FileDescriptor)
        let output: (read: FileDescriptor, write: FileDescriptor)
        let control: (read: FileDescriptor, write: FileDescriptor)
        do {
            stdin = try pipe()
            output = try pipe()
            control = try pipe()
            var request = try plan.request(for: order, descriptors: [stdin.read, output.write, output.write, control.write],
                                           inherited: inherited, extra: workerVariables(pool, id: nextID))
            request.guardian = guardian.pipeForChildren
            pid = try spawn(request)
        } catch {
            opened.forEach { $0.close() }
            let reason = (error as? SpawnError)?.description ?? "cannot create pipes: \(error)"
            return spawnFailed(pool, order, reason, now: now)
        }
        [stdin.read, output.write, control.write].forEach { $0.close() }
        tellGuardian(guardian.register(pid))

        let id = nextID
        nextID += 1
        let process = WorkerProcess(id: id, pid: pid, pool: pool, slot: order.slot,
                                    input: stdin.write, output: output.read, control: control.read)
        processes[id] = process
        byPid[pid] = id
        pool.spawned(order, id: id, pid: pid, now: now)
        do {
            try output.read.setNonBlocking()
            try control.read.setNonBlocking()
            try stdin.write.setNonBlocking()
            try epoll.add(output.read, token: id << 2 | 1)
            try epoll.add(control.read, token: id << 2 | 2)
        } catch {
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
        return mark + [("SOLO_QUEUE", pool.config.queueName), ("SOLO_WORKER_ID", "\(feeder.owner)/\(pool.name)/\(id)"),
                       ("SOLO_CONFIG", config.file)]
    }

    private func spawnFailed(_ pool: Pool, _ order: SpawnOrder, _ error: String, now: Moment) {
        if phase == .running && notify != nil { startupProblems.append("pool \(pool.name): worker \(order.slot) cannot start: \(error)") }
        perform(pool.spawnFailed(order, error: error, now: now, using: &random), for: pool)
    }

    // MARK: - feeding jobs

    /// Gives every idle worker of a feed pool a job, if the queue has one, and commits the
    /// outcomes that are due.
    private func feed() {
        let now = Moment.now()
        if phase == .running && fleetLock?.mayAct(now: now) ?? true {
            for pool in pools where pool.config.queue.feedsJobs {
                // Only workers with a process to write to: a job taken is a job given.
                let idle = pool.idleWorkers.compactMap { worker in processes[worker].map { (worker, $0) } }
                guard !idle.isEmpty else { continue }
                let jobs = feeder.take(for: pool, count: idle.count, now: now)
                for ((worker, process), job) in zip(idle, jobs) {
                    perform(pool.handle(worker, .assigned(job), now: now, using: &random), for: pool)
                    if job.group != nil { feeder.assign(job, of: pool, to: "\(feeder.owner)/\(pool.name)/\(worker)") }
                    process.inputPending.append(contentsOf: job.payload.utf8)
                    process.inputPending.append(UInt8(ascii: "\n"))
                    writeInput(of: process)
                }
            }
        }
        feeder.flush(now: now)
    }

    /// Writes what the worker's stdin takes now; the rest when it is writable again.
    private func writeInput(of process: WorkerProcess) {
        guard let input = process.input else { return }
        while !process.inputPending.isEmpty {
            let written: Int
            do {
                written = try process.inputPending.withUnsafeBytes { raw in Result { () throws(Errno) in try input.writeSome(raw) } }.get()
            } catch {
                // The worker closed its stdin (or died): it cannot take jobs. Its exit retries
                // the job it held; if it stays, it is stopped.
                process.inputPending.removeAll()
                if !process.reaped {
                    say("pool \(process.pool.name): worker pid \(process.pid) closed its stdin while holding a job; stopping it", alsoTo: process.pool)
                    perform(process.pool.handle(process.id, .retire(.restart), now: Moment.now(), using: &random), for: process.pool)
                }
                break
            }
            if written == 0 { break }
            process.inputPending.removeFirst(written)
        }
        let wantsWritable = !process.inputPending.isEmpty
        if wantsWritable && !process.inputWatched {
            process.inputWatched = (try? epoll.add(input, token: process.id << 2 | 3, readable: false, writable: true)) != nil
        } else if !wantsWritable && process.inputWatched {
            epoll.remove(input)
            process.inputWatched = false
        }
        if !wantsWritable && process.closeInputWhenWritten { closeInput(of: process) }
    }

    /// EOF on the worker's stdin ("finish and exit"), once what it was sent is written.
    private func closeInput(of process: WorkerProcess) {
        guard let input = process.input else { return }
        if !process.inputPending.isEmpty {
            process.closeInputWhenWritten = true
            return
        }
        if process.inputWatched { epoll.remove(input) }
        process.inputWatched = false
        input.close()
        process.input = nil
    }

    // MARK: - the guardian

    /// Acts on what the guardian's pipe said: false means the guardian is gone.
    private func tellGuardian(_ alive: Bool) {
        if !alive { guardianLost(now: Moment.now()) }
    }

    /// Starts a new guardian, at most once a second, and tells it every live session.
    private func guardianLost(now: Moment) {
        guardian.lost()
        guard guardianRestartAt == nil else { return }
        let earliest = guardianStarted + .seconds(1)
        if now < earliest {
            guardianRestartAt = earliest
            say("starting a new guardian in \(Values.formatElapsed(earliest - now))")
        } else {
            restartGuardian(now: now)
        }
    }

    private func restartGuardian(now: Moment) {
        guardianRestartAt = nil
        guardianStarted = now
        do { try guardian.start() } catch {
            guardianRestartAt = now + .seconds(1)
            say("cannot start a new guardian: \(error); retrying in 1s (until then a crash of solo may leave workers' children behind)")
            return
        }
        for session in Array(byPid.keys) + Array(lingering.keys) where !guardian.register(session) {
            return guardianLost(now: now)
        }
    }

    /// Waits for the guardian's pipe to take what it could not take at once (rare: the
    /// guardian reads as fast as it is written to, unless it is stopped).
    private func watchGuardianPipe() {
        guard let pipe = guardian.pipe else {
            watchingGuardianPipe = false
            return
        }
        if guardian.hasPending && !watchingGuardianPipe {
            watchingGuardianPipe = (try? epoll.add(pipe, token: Self.guardianToken, readable: false, writable: true)) != nil
        } else if !guardian.hasPending && watchingGuardianPipe {
            epoll.remove(pipe)
            watchingGuardianPipe = false
        }
    }

    // MARK: - time

    private func expire(_ now: Moment) {
        var orphans: [pid_t: [ProcFS.ProcessStat]]? = nil
        for pool in pools {
            guard let due = pool.nextDeadline, due <= now else { continue }
            let commands = pool.expire(now: now, using: &random) { worker in
                if orphans == nil { orphans = orphansBySession() }
                return residentBytes(of: worker, orphans: orphans ?? [:])
            }
            perform(commands, for: pool)
        }
        if let restart = guardianRestartAt, restart <= now { restartGuardian(now: now) }
        if let update = nextServiceUpdate, update <= now { tellServiceManager(serviceManager.watchdogInterval == nil ? [] : ["WATCHDOG=1"], now: now) }
        feeder.expire(now: now)
        redis.expire(now: now)
        fleetLock?.expire(now: now)
        heartbeat.expire(now: now)
        control?.expire(now: now)
        metrics?.expire(now: now)
        if phase == .running && pools.contains(where: { $0.autoscaler != nil }) {
            if nextScaleCheck.map({ $0 <= now }) ?? true {
                autoscale(now: now)
                nextScaleCheck = now + Autoscaler.growthInterval
            }
        } else {
            nextScaleCheck = nil
        }
        for (session, state) in lingering {
            guard let deadline = state.ladder.deadline, deadline <= now else { continue }
            if orphans == nil { orphans = orphansBySession() }
            guard sessionHasMembers(session, orphans: orphans ?? [:]) else {
                forget(session)
                continue
            }
            var ladder = state.ladder
            if let step = ladder.climb(now: now), case .signal(let signal) = step.action {
                signalSession(session, signal)
            } else {
                // SIGKILL was sent and something is still there: send it to any newcomer, and wait.
                signalSession(session, SIGKILL)
                ladder = StopLadder([StopStep(action: .signal(SIGKILL), state: .stopping, wait: .seconds(5))])
                _ = ladder.climb(now: now)
            }
            lingering[session]?.ladder = ladder
        }
    }

    /// Queue-depth scaling: each scaling pool weighs its busy workers and waiting jobs.
    private func autoscale(now: Moment) {
        for pool in pools where pool.autoscaler != nil {
            guard let waiting = feeder.waiting(of: pool, atMost: pool.autoscaler?.range.upperBound ?? 0),
                  let verdict = pool.autoscale(waiting: waiting, now: now) else { continue }
            scale(pool, to: verdict.workers, why: verdict.why)
        }
    }

    private func nextDeadline(now: Moment) -> Moment? {
        var earliest = earlier(earlier(earlier(feeder.nextDeadline, guardianRestartAt), nextServiceUpdate), nextScaleCheck)
        earliest = earlier(earliest, earlier(control?.nextDeadline, metrics?.nextDeadline))
        earliest = earlier(earliest, earlier(redis.nextDeadline, earlier(fleetLock?.nextDeadline, heartbeat.nextDeadline)))
        if feeder.purging { earliest = now }
        for pool in pools { earliest = earlier(earliest, pool.nextDeadline) }
        for session in lingering.values { earliest = earlier(earliest, session.ladder.deadline) }
        for deadline in strays.values { earliest = earlier(earliest, deadline) }
        // Stopping, with no worker left but leftovers that are not solo's children yet (they
        // are re-parented to solo only when their parent dies, which no signal reports): look again.
        if phase != .running && !lingering.isEmpty && pools.allSatisfy(\.isIdle) {
            earliest = earlier(earliest, now + .milliseconds(200))
        }
        return earliest
    }

    private func reconcile() {
        guard phase == .running else { return }
        let now = Moment.now()
        // Belt and braces: the pools stand by while the fleet lock is not this supervisor's.
        if let fleetLock, !fleetLock.mayAct(now: now) { return }
        for pool in pools { perform(pool.reconcile(now: now, using: &random), for: pool) }
    }

    // MARK: - sessions and memory

    /// solo's own children that are not workers (nor the guardian), by the session they belong to.
    func orphansBySession() -> [pid_t: [ProcFS.ProcessStat]] {
        var result: [pid_t: [ProcFS.ProcessStat]] = [:]
        for child in ProcFS.children(of: Processes.ownPID) where byPid[child] == nil && child != guardian.pid {
            if let stat = ProcFS.stat(of: child), stat.state != "Z" { result[stat.session, default: []].append(stat) }
        }
        return result
    }

    /// Whether a session has a live process: one in the worker's own group, or an orphan that
    /// left it. Any other member descends from one of those, as solo is the only ancestor of a
    /// worker outside its session.
    private func sessionHasMembers(_ session: pid_t, orphans: [pid_t: [ProcFS.ProcessStat]]) -> Bool {
        Processes.groupExists(session) || !(orphans[session] ?? []).isEmpty
    }

    /// Signals every process group of a dead worker's session that solo can see.
    private func signalSession(_ session: pid_t, _ signal: Int32) {
        Processes.signalGroup(session, signal)
        for orphan in orphansBySession()[session] ?? [] where orphan.group != session && orphan.group > 1 {
            Processes.signalGroup(orphan.group, signal)
        }
    }

    private func forget(_ session: pid_t) {
        lingering[session] = nil
        tellGuardian(guardian.unregister(session))
    }

    /// The resident memory of a worker and every descendant, including descendants that were
    /// re-parented to solo (the subreaper) but still belong to the worker's session.
    func treeResidentBytes(of worker: Worker, orphans: [pid_t: [ProcFS.ProcessStat]]) -> UInt64? {
        residentBytes(of: worker, orphans: orphans)?.tree
    }

    /// The tree's resident memory, and the worker's own part of it.
    func residentBytes(of worker: Worker, orphans: [pid_t: [ProcFS.ProcessStat]]) -> (tree: UInt64, own: UInt64)? {
        guard let process = processes[worker.id] else { return nil }
        guard let root = process.memory?.residentBytes() ?? ProcFS.residentBytes(of: worker.pid) else { return nil }
        var total = root
        let roots = ProcFS.children(of: worker.pid) + (orphans[worker.pid] ?? []).map(\.pid)
        for child in roots {
            for pid in ProcFS.tree(of: child) { total += ProcFS.residentBytes(of: pid) ?? 0 }
        }
        return (total, root)
    }

    // MARK: - stopping

    func beginStop() {
        phase = .stopping
        tellServiceManager(["STOPPING=1"], now: Moment.now())
        let now = Moment.now()
        for pool in pools { perform(pool.stop(now: now, using: &random), for: pool) }
    }

    private func beginKill() {
        phase = .killing
        let now = Moment.now()
        for pool in pools { perform(pool.kill(now: now, using: &random), for: pool) }
        killLeftovers()
    }

    /// SIGKILL to whatever dead workers left behind, and to other children of solo's.
    func killLeftovers() {
        for session in lingering.keys { signalSession(session, SIGKILL) }
        for pid in strays.keys { Processes.signal(pid, SIGKILL) }
    }

    /// Done once no worker, no leftover and no other child remains.
    private func finishStopIfDone() {
        guard phase == .stopping || phase == .killing else { return }
        guard pools.allSatisfy(\.isIdle), lingering.isEmpty else { return }
        let now = Moment.now()
        let children = ProcFS.children(of: Processes.ownPID).filter { $0 != guardian.pid }
        if children.isEmpty {
            phase = .done
            return
        }
        // Children outside every worker's session (they started sessions of their own).
        for child in children {
            if let deadline = strays[child] {
                if deadline <= now { Processes.signal(child, SIGKILL) }
            } else {
                Processes.signal(child, phase == .killing ? SIGKILL : SIGTERM)
                strays[child] = now + .seconds(5)
            }
        }
    }

    // MARK: - reporting

    /// Tells systemd (when it is listening) what it asked for, with a one-line STATUS when that
    /// changed, and when to come back: every half watchdog interval, or every 5 s for STATUS.
    private func tellServiceManager(_ lines: [String], now: Moment) {
        guard serviceManager.isActive else { return }
        let running = pools.reduce(0) { $0 + $1.servingWorkers.count }
        let wanted = pools.reduce(0) { $0 + ($1.paused ? 0 : $1.desiredWorkers) }
        var rate = 0.0
        for pool in pools { rate += pool.jobRate.perSecond(now: now) }
        let summary = phase == .running
            ? "\(running)/\(wanted) workers in \(pools.count) pool\(pools.count == 1 ? "" : "s"), \(Progress.formatRate(rate)) jobs/s"
            : "stopping: \(pools.reduce(0) { $0 + $1.workers.count }) workers left"
        var message = lines
        if summary != lastServiceStatus {
            message.append("STATUS=" + summary)
            lastServiceStatus = summary
        }
        if !message.isEmpty, let error = serviceManager.notify(message) {
            say("cannot notify systemd at \(serviceManager.socket ?? "?"): \(error)")
        }
        nextServiceUpdate = now + (serviceManager.watchdogInterval.map { min($0, .seconds(5)) } ?? .seconds(5))
    }

    /// A line in solo's own log, and in the pool's log file when it has one of its own, so
    /// that whoever reads a pool's log sees its recycles and restarts among its output.
    func say(_ message: String, alsoTo pool: Pool? = nil) {
        let line = formatter.line(message, prefix: "solo: ")
        log.write(line)
        if let pool, let path = pool.config.logFile, let sink = sinks[path] { sink.write(line) }
        if let pool { remember(line, pool: pool) }
    }

    /// Keeps formatted log lines for `solo logs` and sends them to its followers.
    private func remember(_ text: [UInt8], pool: Pool) {
        var ring = recentOutput[pool.name] ?? LogRing(capacity: 256 * 1024)
        let following = control?.hasFollowers == true
        for line in text.split(separator: UInt8(ascii: "\n")) {
            let string = String(decoding: line, as: UTF8.self)
            ring.append(string)
            if following { control?.publish(string, pool: pool.name) }
        }
        recentOutput[pool.name] = ring
    }

    /// Tells `solo check` that the supervisor is up, with any worker that could not start.
    private func reportReady() {
        guard let notify else { return }
        var text = ""
        for problem in startupProblems { text += "problem: \(problem)\n" }
        text += "ready\n"
        try? notify.writeAll(text)
        notify.close()
        self.notify = nil
        startupProblems = []
    }
}
