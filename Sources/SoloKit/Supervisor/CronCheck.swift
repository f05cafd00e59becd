import Glibc

/// `solo check`: the cron entry. Silent when the supervisor holds its lock; otherwise starts
/// it in the background (own session, output to the log file) and waits until it holds the
/// lock and has started its workers.
public enum CronCheck {
    /// Exit statuses shared by `solo run` and `solo check`.
    public static let exitAlreadyRunning: Int32 = 98
    public static let exitConfig: Int32 = 78

    public struct Outcome {
        public var status: Int32
        /// What to print on standard error (nothing when all is well: cron mails any output).
        public var messages: [String]
        /// Whether this check started a supervisor (rather than finding one running).
        public var startedSupervisor = false
    }

    public static func run(config: SoloConfig, executable: String, timeout: Duration) -> Outcome {
        let global = config.global
        let address: UInt32
        if let given = global.lockAddress {
            address = given
        } else {
            do { address = try LockAddress.forUser(Accounts.ownUID) } catch { return Outcome(status: 2, messages: ["solo: \(error)"]) }
        }
        do {
            if try PortLock.isHeld(address: address, port: global.lockPort) {
                if case .foreign(let message) = whoHolds(address: address, config: config) { return Outcome(status: 1, messages: ["solo: " + message]) }
                return Outcome(status: 0, messages: [])
            }
        } catch {
            return Outcome(status: 1, messages: ["solo: cannot test the lock \(LockAddress.format(address)):\(global.lockPort): \(error)"])
        }

        let logPath = global.logFile
        let log: FileDescriptor
        let null: FileDescriptor
        let notify: (read: FileDescriptor, write: FileDescriptor)
        do {
            log = try LogSink.open(logPath, directoryMode: 0o750)
        } catch {
            return Outcome(status: 1, messages: ["solo: cannot open the log file \(logPath): \(error)"])
        }
        defer { log.close() }
        do {
            null = try FileDescriptor.open("/dev/null", O_RDWR)
            notify = try FileDescriptor.pipe()
        } catch {
            return Outcome(status: 1, messages: ["solo: cannot prepare the supervisor: \(error)"])
        }
        defer { null.close(); notify.read.close() }

        var request = SpawnRequest(path: executable, arguments: [executable, "run", "--notify-fd", "3", "--log-file", logPath, config.file],
                                   environment: Host.environment(), descriptors: [null, log, log, notify.write])
        request.newSession = true
        let pid: pid_t
        do { pid = try spawn(request) } catch {
            notify.write.close()
            return Outcome(status: 1, messages: ["solo: cannot start the supervisor: \(error)"])
        }
        notify.write.close()

        let (lines, timedOut) = readLines(notify.read, until: Moment.now() + timeout)
        let problems = lines.filter { $0.hasPrefix("problem: ") }.map { String($0.dropFirst("problem: ".count)) }
        let errors = lines.filter { $0.hasPrefix("error: ") }.map { String($0.dropFirst("error: ".count)) }

        if lines.contains("ready") {
            if problems.isEmpty { return Outcome(status: 0, messages: [], startedSupervisor: true) }
            return Outcome(status: 1, messages: ["solo: started the supervisor (pid \(pid)), but:"] + problems.map { "  " + $0 }
                           + ["  it keeps retrying; see \(logPath)"], startedSupervisor: true)
        }
        if timedOut {
            return Outcome(status: 1, messages: ["solo: the supervisor (pid \(pid)) did not report ready within \(Values.formatDuration(timeout)); see \(logPath)"])
        }
        let status = Processes.wait(for: pid)
        if lines.contains("busy") || status == .exited(exitAlreadyRunning) {
            return Outcome(status: 0, messages: [])  // another check started it first
        }
        var messages = errors.map { "solo: " + $0 }
        messages.append("solo: the supervisor exited (\(status?.description ?? "unknown status")) before it was ready; see \(logPath)")
        return Outcome(status: 1, messages: messages)
    }

    /// Who holds this config's port lock (which solo could not take): its own supervisor, or
    /// someone else. A supervisor that answers on this config's control socket holds the lock
    /// (it took the lock first), so the usual case costs one connect; only otherwise are the
    /// kernel's socket tables and the processes' descriptors searched, and a holder hidden there
    /// is ours only if the control socket answers within `startup`.
    public static func whoHolds(address: UInt32, config: SoloConfig, startup: Duration = .seconds(2)) -> LockHolder.Verdict {
        if controlAnswers(config) { return .ours }
        let port = config.global.lockPort
        // A listening or connected socket is in the kernel's tables, with its uid even where
        // its process cannot be inspected; one only bound (as a lock) is found in its process.
        var socket = LockHolder.holders(of: address, port: port, tables: ProcFS.tcpTables()).first
        var pid = socket.flatMap { ProcFS.pid(holdingSocket: $0.inode) }
        if socket == nil, let bound = ProcFS.boundSocket(matching: { LockHolder.holds(address: address, port: port, bound: $0, $1) }) {
            socket = LockHolder.Socket(address: bound.address, port: bound.port, uid: bound.uid, inode: bound.inode)
            pid = bound.pid
        }
        var process: LockHolder.Process? = nil
        if let pid, let identity = ProcFS.identity(of: pid) {
            let isSolo = LockHolder.isSameExecutable(identity.executable, Files.executablePath())
            process = LockHolder.Process(pid: pid, name: identity.name,
                                         isSoloSupervisor: isSolo && identity.arguments.dropFirst().first == "run")
        }
        let place = "port \(port) on \(LockAddress.format(address))"
        let verdict = LockHolder.judge(socket: socket, process: process, ourUID: Accounts.ownUID, place: place, configFile: config.file)
        guard verdict == .unknown else { return verdict }
        // A supervisor takes the lock before it opens its control socket (it reads its config,
        // opens its logs and queues in between): a moment on an idle machine, longer on a busy
        // one. Wait for the socket that long, polling, or until the holder lets go.
        let deadline = Moment.now() + startup
        while Moment.now() < deadline {
            Moment.sleep(for: .milliseconds(50))
            if controlAnswers(config) || (try? PortLock.isHeld(address: address, port: port)) == false { return .ours }
        }
        return .foreign(LockHolder.unidentified(place: place, configFile: config.file))
    }

    /// Whether this config's supervisor, of this user, answers on its control socket.
    static func controlAnswers(_ config: SoloConfig) -> Bool {
        guard let control = try? UnixSocket.connect(to: ControlSocket.path(config)) else { return false }
        defer { control.close() }
        return (try? UnixSocket.peer(control))?.uid == Accounts.ownUID
    }

    /// Lines from the notify pipe until EOF, "ready", "busy" or the deadline.
    static func readLines(_ fd: FileDescriptor, until deadline: Moment) -> (lines: [String], timedOut: Bool) {
        var buffer = LineBuffer(maximumLine: 4096, overflow: .truncate)
        var lines: [String] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let wait = deadline.millisecondsFrom(Moment.now())
            if wait == 0 || !Poll.wait(fd, milliseconds: wait).any { return (lines, true) }
            guard case .bytes(let n)? = try? fd.read(into: &chunk) else {
                for case .line(let bytes) in buffer.finish() { lines.append(String(decoding: bytes, as: UTF8.self)) }
                return (lines, false)
            }
            let pieces = chunk.withUnsafeBytes { buffer.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            for case .line(let bytes) in pieces { lines.append(String(decoding: bytes, as: UTF8.self)) }
            if lines.contains("ready") || lines.contains("busy") { return (lines, false) }
        }
    }
}
