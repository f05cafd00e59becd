import CSoloSpawn
import Glibc

/// Signal names and numbers (Linux), as users write them in configs and on command lines.
public enum Signals {
    static let table: [(String, Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("ILL", SIGILL), ("TRAP", SIGTRAP),
        ("ABRT", SIGABRT), ("BUS", SIGBUS), ("FPE", SIGFPE), ("KILL", SIGKILL), ("USR1", SIGUSR1),
        ("SEGV", SIGSEGV), ("USR2", SIGUSR2), ("PIPE", SIGPIPE), ("ALRM", SIGALRM), ("TERM", SIGTERM),
        ("CHLD", SIGCHLD), ("CONT", SIGCONT), ("STOP", SIGSTOP), ("TSTP", SIGTSTP), ("TTIN", SIGTTIN),
        ("TTOU", SIGTTOU), ("URG", SIGURG), ("XCPU", SIGXCPU), ("XFSZ", SIGXFSZ), ("VTALRM", SIGVTALRM),
        ("PROF", SIGPROF), ("WINCH", SIGWINCH), ("IO", SIGIO), ("PWR", SIGPWR), ("SYS", SIGSYS),
    ]

    /// `TERM`, `SIGTERM`, `sigterm` or `15`.
    public static func number(named text: String) -> Int32? {
        if let n = Int32(text), n > 0, n < 65 { return n }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return table.first { $0.0 == name }?.1
    }

    /// `TERM` for 15; the number when it has no name.
    public static func name(of number: Int32) -> String {
        table.first { $0.1 == number }?.0 ?? String(number)
    }

    /// Blocks signals for the calling thread; call before any other thread exists so that
    /// every thread inherits the mask and the signals reach only the signalfd.
    public static func block(_ signals: [Int32]) throws(Errno) {
        try check(signals.withUnsafeBufferPointer { solo_block_signals($0.baseAddress!, Int32($0.count)) })
    }

    public static func ignore(_ signal: Int32) throws(Errno) { try check(solo_ignore_signal(signal)) }

    public static func unblockAll() { _ = solo_reset_signal_mask() }

    /// Ends this process with SIGALRM after `seconds`, as alarm(2) does: SIGALRM goes back to
    /// its default action first, and the alarm survives exec, so it ends the command too.
    public static func alarm(after seconds: UInt32) {
        signal(SIGALRM, SIG_DFL)
        Glibc.alarm(seconds)
    }
}

/// A signalfd over a set of blocked signals: signals become readable events in the loop.
public struct SignalDescriptor {
    public let descriptor: FileDescriptor

    public init(signals: [Int32]) throws(Errno) {
        try Signals.block(signals)
        var fd: Int32 = -1
        try check(signals.withUnsafeBufferPointer { solo_signalfd($0.baseAddress!, Int32($0.count), &fd) })
        descriptor = FileDescriptor(rawValue: fd)
    }

    /// Every pending signal, with the pid that sent it.
    public func drain() -> [(signal: Int32, sender: pid_t)] {
        var received: [(Int32, pid_t)] = []
        var signo: Int32 = 0
        var sender: pid_t = 0
        while solo_signalfd_read(descriptor.rawValue, &signo, &sender) == 1 {
            received.append((signo, sender))
        }
        return received
    }
}
