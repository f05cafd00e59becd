import CSoloSpawn
import Glibc

/// The supervisor: one thread, one epoll loop over the signalfd and the workers' pipes. It
/// owns all state, so there are no locks and nothing to race. Pools decide (pure); this class
/// performs what they decide (system calls) and feeds back what happened.
public final class Supervisor {
    enum Phase { case running, stopping, killing, done }

    /// A process group left behind by a worker that exited: signalled, then SIGKILLed.
    struct LingeringGroup {
        var deadline: Moment
        var killed: Bool
    }

    let config: SoloConfig
    let lock: PortLock
    let pools: [Pool]
    private let plans: [String: LaunchPlan]
    private let sinks: [String: LogSink]
    private let log = LogSink()
    private let formatter = LogFormatter()
    private let epoll: Epoll
    private let signals: SignalDescriptor
    private let guardian = Guardian()
    private let inherited: [String]

    private var processes: [UInt64: WorkerProcess] = [:]
    private var byPid: [pid_t: UInt64] = [:]
    private var lingering: [pid_t: LingeringGroup] = [:]
    private var strays: [pid_t: Moment] = [:]
    private var nextID: UInt64 = 1
    private var random = SystemRandomNumberGenerator()
    private var phase = Phase.running
    private var notify: FileDescriptor?
    private var startupProblems: [String] = []
    private var guardianStarted = Moment.now()
    /// Set while a guardian that died young waits to be started again.
    private var guardianRestartAt: Moment?
    private var readBuffer = [UInt8](repeating: 0, count: 65536)
    private var eventBuffer = [solo_event](repeating: solo_event(), count: 64)

    static let signalToken: UInt64 = 0
    public static let handledSignals = [SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGALRM]

    /// Sets up everything that can fail before a worker starts. The caller has acquired the
    /// lock; `notify`, if given, learns "ready" (or what went wrong) for `solo check`.
    public init(config: SoloConfig, lock: PortLock, notify: FileDescriptor?) throws(StartupError) {
        self.config = config
        self.lock = lock
        self.notify = notify
        inherited = Self.currentEnvironment()
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
        do { try guardian.start() } catch { throw StartupError("cannot start the guardian process: \(error)") }
    }

    /// Runs until a stop completes; returns the exit status.
    public func run() -> Int32 {
        let address = LockAddress.format(lock.address)
        say("started (pid \(getpid()), lock \(address):\(lock.port), \(pools.count) pool\(pools.count == 1 ? "" : "s"), config \(config.file))")
        reconcile()
        reportReady()
        while phase != .done {
            let now = Moment.now()
            let timeout = nextDeadline().map { $0.millisecondsFrom(now) } ?? -1
            let events: [Epoll.Event]
            do { events = try epoll.wait(timeoutMilliseconds: timeout, into: &eventBuffer) } catch {
                say("epoll_wait failed: \(error); stopping")
                return 1
            }
            for event in events { dispatch(event) }
            expire(Moment.now())
            reconcile()
            finishStopIfDone()
        }
        guardian.stop()
        sinks.values.forEach { $0.close() }
        say("stopped")
        return 0
    }

    // MARK: - events

    private func dispatch(_ event: Epoll.Event) {
        if event.token == Self.signalToken { return handleSignals() }
        guard let process = processes[event.token >> 2] else { return }
        switch event.token & 3 {
        case 1: readOutput(of: process, untilDrained: false)
        case 2: readControl(of: process, untilDrained: false)
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
            case SIGHUP:
                say("SIGHUP: this version does not reload its config; restart solo to apply changes")
            default:
                break
            }
        }
    }

    private func reapChildren() {
        let now = Moment.now()
        while let (pid, status) = Processes.reapAny() {
            if pid == guardian.pid {
                say("the guardian process (pid \(pid)) died: \(status)")
                guardianLost(now: now)
            } else if let id = byPid[pid] {
                workerExited(id, status: status, now: now)
            } else {
                strays[pid] = nil
            }
        }
        lingering = lingering.filter { group, _ in
            if Processes.groupExists(group) { return true }
            guardian.unregister(group)
            return false
        }
    }

    private func workerExited(_ id: UInt64, status: ExitStatus, now: Moment) {
        guard let process = processes[id] else { return }
        // Its last words may still be in the pipes: a final `ok` counts before the exit does.
        readControl(of: process, untilDrained: true)
        readOutput(of: process, untilDrained: true)
        flushPartialLines(of: process)
        [process.output, process.control].compactMap { $0 }.forEach { epoll.remove($0) }
        process.closeAll()
        processes[id] = nil
        byPid[process.pid] = nil
        perform(process.pool.handle(id, .exited(status), now: now, using: &random), for: process.pool)

        // Whatever the worker left in its process group goes too, as systemd does for a unit.
        if Processes.groupExists(process.pid) {
            let signal = process.pool.config.stopSignal
            Processes.signalGroup(process.pid, signal)
            lingering[process.pid] = LingeringGroup(deadline: now + process.pool.config.stopTimeout, killed: false)
            say("pool \(process.pool.name): worker pid \(process.pid) left processes in its group; sent SIG\(Signals.name(of: signal)), SIGKILL in \(Values.formatDuration(process.pool.config.stopTimeout))")
        } else {
            guardian.unregister(process.pid)
        }
    }

    // MARK: - pipes

    private func readOutput(of process: WorkerProcess, untilDrained: Bool) {
        guard let fd = process.output else { return }
        repeat {
            let result = readBuffer.withUnsafeMutableBytes { raw in Result { () throws(Errno) in try fd.read(into: raw) } }
            switch result {
            case .success(.bytes(let n)):
                var text: [UInt8] = []
                readBuffer.withUnsafeBytes { raw in
                    for piece in process.outputLines.append(UnsafeRawBufferPointer(rebasing: raw[0..<n])) {
                        appendLogLine(piece, process: process, to: &text)
                    }
                }
                if !text.isEmpty { sink(for: process.pool).write(text) }
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
        if !text.isEmpty { sink(for: process.pool).write(text) }
    }

    private func readControl(of process: WorkerProcess, untilDrained: Bool) {
        guard let fd = process.control else { return }
        repeat {
            let result = readBuffer.withUnsafeMutableBytes { raw in Result { () throws(Errno) in try fd.read(into: raw) } }
            switch result {
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
                return
            }
        } while untilDrained
    }

    private func deliver(_ pieces: [LineBuffer.Piece], from process: WorkerProcess) {
        let now = Moment.now()
        for piece in pieces {
            let message: WorkerMessage
            switch piece {
            case .line(let bytes): message = WorkerMessage.parse(bytes)
            case .partial, .truncated: message = .invalid("a line longer than \(process.controlLines.maximumLine / 1024)K")
            }
            perform(process.pool.handle(process.id, .message(message), now: now, using: &random), for: process.pool)
        }
    }

    private func sink(for pool: Pool) -> LogSink {
        pool.config.logFile.flatMap { sinks[$0] } ?? log
    }

    private func reopenLogs() {
        for sink in sinks.values {
            do { try sink.reopen() } catch { say("cannot reopen \(sink.path ?? "?"): \(error); still writing to the old file") }
        }
        say("SIGUSR1: log files reopened")
    }

    // MARK: - acting on what pools decide

    private func perform(_ commands: [PoolCommand], for pool: Pool) {
        for command in commands {
            switch command {
            case .spawn(let order):
                spawnWorker(pool, order)
            case .signal(let worker, let pid, let signal):
                // Only while the worker is unreaped: then its pid is still its process group.
                if processes[worker] != nil { Processes.signalGroup(pid, signal) }
            case .closeInput(let worker):
                processes[worker]?.input?.close()
                processes[worker]?.input = nil
            case .log(let message):
                say("pool \(pool.name): \(message)")
            }
        }
    }

    private func spawnWorker(_ pool: Pool, _ order: SpawnOrder) {
        let now = Moment.now()
        guard let plan = plans[pool.name] else { return }
        let stdin: (read: FileDescriptor, write: FileDescriptor)
        let output: (read: FileDescriptor, write: FileDescriptor)
        let control: (read: FileDescriptor, write: FileDescriptor)
        do {
            stdin = try FileDescriptor.pipe()
            do { output = try FileDescriptor.pipe() } catch { stdin.read.close(); stdin.write.close(); throw error }
            do { control = try FileDescriptor.pipe() } catch {
                [stdin.read, stdin.write, output.read, output.write].forEach { $0.close() }
                throw error
            }
        } catch {
            return spawnFailed(pool, order, "cannot create pipes: \(error)", now: now)
        }
        let pid: pid_t
        do {
            let request = try plan.request(for: order, descriptors: [stdin.read, output.write, output.write, control.write],
                                           inherited: inherited)
            pid = try spawn(request)
        } catch {
            [stdin.read, stdin.write, output.read, output.write, control.read, control.write].forEach { $0.close() }
            return spawnFailed(pool, order, error.description, now: now)
        }
        [stdin.read, output.write, control.write].forEach { $0.close() }
        if !guardian.register(pid) { guardianLost(now: now) }

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
            try epoll.add(output.read, token: id << 2 | 1)
            try epoll.add(control.read, token: id << 2 | 2)
        } catch {
            say("pool \(pool.name): cannot watch the pipes of worker pid \(pid): \(error); stopping it")
            perform(pool.handle(id, .kill, now: now, using: &random), for: pool)
        }
        let limit = order.jobLimit.map { "job limit \($0)" } ?? "no job limit"
        let lifetime = order.lifetime.map { ", lifetime \(Values.formatElapsed($0))" } ?? ""
        say("pool \(pool.name): started worker \(order.slot) (pid \(pid), \(limit)\(lifetime))")
    }

    private func spawnFailed(_ pool: Pool, _ order: SpawnOrder, _ error: String, now: Moment) {
        if phase == .running && notify != nil { startupProblems.append("pool \(pool.name): worker \(order.slot) cannot start: \(error)") }
        perform(pool.spawnFailed(order, error: error, now: now, using: &random), for: pool)
    }

    /// Starts a new guardian, at most once a second, and tells it every live group.
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
        for pid in byPid.keys { guardian.register(pid) }
        for group in lingering.keys { guardian.register(group) }
    }

    // MARK: - time

    private func expire(_ now: Moment) {
        var orphans: [pid_t: [pid_t]]? = nil
        for pool in pools {
            let commands = pool.expire(now: now) { worker in
                if orphans == nil { orphans = orphanedBySession() }
                return treeResidentBytes(of: worker, orphans: orphans ?? [:])
            }
            perform(commands, for: pool)
        }
        if let restart = guardianRestartAt, restart <= now { restartGuardian(now: now) }
        for (group, state) in lingering where state.deadline <= now {
            if !Processes.groupExists(group) {
                lingering[group] = nil
                guardian.unregister(group)
            } else if !state.killed {
                Processes.signalGroup(group, SIGKILL)
                lingering[group] = LingeringGroup(deadline: now + .seconds(1), killed: true)
            } else {
                lingering[group] = LingeringGroup(deadline: now + .seconds(5), killed: true)
            }
        }
    }

    private func nextDeadline() -> Moment? {
        var deadlines = pools.compactMap(\.nextDeadline) + lingering.values.map(\.deadline)
        if let restart = guardianRestartAt { deadlines.append(restart) }
        // While stopping, look for leftovers (children outside any worker group) regularly.
        if phase != .running { deadlines.append(Moment.now() + .milliseconds(200)) }
        return deadlines.min()
    }

    private func reconcile() {
        guard phase == .running else { return }
        let now = Moment.now()
        for pool in pools { perform(pool.reconcile(now: now, using: &random), for: pool) }
    }

    // MARK: - memory

    /// The resident memory of a worker and every descendant, including descendants that were
    /// re-parented to solo (the subreaper) but still belong to the worker's session.
    private func treeResidentBytes(of worker: Worker, orphans: [pid_t: [pid_t]]) -> UInt64? {
        guard let process = processes[worker.id] else { return nil }
        guard let root = process.memory?.residentBytes() ?? ProcFS.residentBytes(of: worker.pid) else { return nil }
        var total = root
        var roots = ProcFS.children(of: worker.pid)
        roots += orphans[worker.pid] ?? []
        for child in roots {
            for pid in ProcFS.tree(of: child) { total += ProcFS.residentBytes(of: pid) ?? 0 }
        }
        return total
    }

    /// solo's own children that are not workers, by the session they belong to.
    private func orphanedBySession() -> [pid_t: [pid_t]] {
        var result: [pid_t: [pid_t]] = [:]
        for child in ProcFS.children(of: getpid()) where byPid[child] == nil && child != guardian.pid {
            if let stat = ProcFS.stat(of: child) { result[stat.session, default: []].append(child) }
        }
        return result
    }

    // MARK: - stopping

    private func beginStop() {
        phase = .stopping
        let now = Moment.now()
        for pool in pools { perform(pool.stop(now: now), for: pool) }
    }

    private func beginKill() {
        phase = .killing
        let now = Moment.now()
        for pool in pools { perform(pool.kill(now: now), for: pool) }
        for group in lingering.keys { Processes.signalGroup(group, SIGKILL) }
        for pid in strays.keys { Processes.signal(pid, SIGKILL) }
    }

    /// Done once no worker, no lingering group and no other child remains.
    private func finishStopIfDone() {
        guard phase == .stopping || phase == .killing else { return }
        guard pools.allSatisfy(\.isIdle), lingering.isEmpty else { return }
        let now = Moment.now()
        let children = ProcFS.children(of: getpid()).filter { $0 != guardian.pid }
        if children.isEmpty {
            phase = .done
            return
        }
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

    private func say(_ message: String) {
        log.write(formatter.line(message, prefix: "solo: "))
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

    public static func currentEnvironment() -> [String] {
        var result: [String] = []
        var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = environ
        while let entry = pointer.pointee {
            result.append(String(cString: entry))
            pointer = pointer.advanced(by: 1)
        }
        return result
    }
}
