import CSoloSpawn
import Glibc

/// How a process ended.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public init(waitStatus: Int32) {
        var value: Int32 = 0
        switch solo_decode_wait_status(waitStatus, &value) {
        case 1: self = .exited(value)
        case 2: self = .signaled(value)
        default: self = .exited(-1)
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signaled(let signal): return "signal \(Signals.name(of: signal))"
        }
    }

    public var succeeded: Bool { self == .exited(0) }
}

/// Signals and reaping, by pid only: solo never kills a process it did not start.
public enum Processes {
    public static var ownPID: pid_t { getpid() }

    /// Reaps one child that has exited, if any (never blocks).
    public static func reapAny() -> (pid: pid_t, status: ExitStatus)? {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 { return (pid, ExitStatus(waitStatus: status)) }
            if pid < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Waits for one child to exit.
    public static func wait(for pid: pid_t) -> ExitStatus? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, 0)
            if r == pid { return ExitStatus(waitStatus: status) }
            if r < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Sends a signal to one process. ESRCH (already gone) is not an error.
    public static func signal(_ pid: pid_t, _ signal: Int32) {
        precondition(pid > 0, "refusing to signal pid \(pid)")
        _ = kill(pid, signal)
    }

    /// Sends a signal to a whole process group. ESRCH (group empty) is not an error.
    public static func signalGroup(_ pgid: pid_t, _ signal: Int32) {
        precondition(pgid > 1, "refusing to signal process group \(pgid)")
        _ = kill(-pgid, signal)
    }

    /// Whether any process is left in the group.
    public static func groupExists(_ pgid: pid_t) -> Bool {
        pgid > 1 && (kill(-pgid, 0) == 0 || errno == EPERM)
    }

    public static func exists(_ pid: pid_t) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }

    /// A descriptor that polls readable once `pid` has exited, for any process (not only a
    /// child): ESRCH when it is gone already.
    public static func exitDescriptor(of pid: pid_t) throws(Errno) -> FileDescriptor {
        precondition(pid > 0, "refusing to watch pid \(pid)")
        var fd: Int32 = -1
        try check(solo_pidfd_open(pid, &fd))
        return FileDescriptor(rawValue: fd)
    }

    /// Marks this process a child subreaper: orphaned descendants are re-parented to it,
    /// so it can reap them and see them in its children list.
    /// Becomes `path` with `arguments` in this process (execv: the environment, descriptors
    /// and pid stay); returns only when that failed, with why.
    public static func become(_ path: String, arguments: [String]) -> Errno {
        let argv = arguments.map { strdup($0) } + [nil]
        execv(path, argv)
        let error = Errno.current
        for argument in argv { free(argument) }
        return error
    }

    public static func becomeSubreaper() throws(Errno) { try check(solo_set_child_subreaper()) }
}
