import CSoloSpawn
import Glibc

/// The guardian process (see guardian.c): told of every worker's session, it SIGKILLs them all
/// when the supervisor dies, so no worker or grandchild outlives a `kill -9` of solo.
///
/// The pipe to it is non-blocking: a stopped guardian (SIGSTOP, a debugger) must not hang the
/// supervisor's loop. What the pipe does not take waits in `pending` until it is writable.
/// Closing the pipe of a guardian that still holds live sessions would make it kill them, so
/// the pipe is closed only when the guardian is known dead or nothing is registered.
public final class Guardian {
    /// Every worker's environment holds `SOLO_SUPERVISOR=<solo's pid>`; the guardian kills the
    /// processes that still carry it, so a descendant that daemonized (a session of its own,
    /// re-parented to init) goes too. The name is fixed in guardian.c.
    public static let markVariable = "SOLO_SUPERVISOR"

    public private(set) var pid: pid_t = 0
    public private(set) var pipe: FileDescriptor?
    private var pending: [UInt8] = []

    public init() {}

    public func start() throws(Errno) {
        var fd: Int32 = -1
        var child: pid_t = 0
        try check(solo_guardian_start(&fd, &child))
        let descriptor = FileDescriptor(rawValue: fd)
        try descriptor.setNonBlocking()
        pipe = descriptor
        pid = child
        pending = []
    }

    public var isRunning: Bool { pipe != nil }

    /// The pipe a new worker may register itself on before it execs: only while nothing waits
    /// in `pending`, so that records keep their order.
    public var pipeForChildren: FileDescriptor? { pending.isEmpty ? pipe : nil }
    public var hasPending: Bool { !pending.isEmpty }

    /// Returns false when the guardian is gone (the caller starts another and registers again).
    public func register(_ session: pid_t) -> Bool { send(Int32(session)) }

    public func unregister(_ session: pid_t) -> Bool { send(-Int32(session)) }

    /// Writes what the pipe did not take before; false when the guardian is gone.
    public func flush() -> Bool {
        guard let pipe else { return false }
        while !pending.isEmpty {
            let written: Int
            do {
                written = try pending.withUnsafeBytes { raw in Result { () throws(Errno) in try pipe.writeSome(raw) } }.get()
            } catch {
                return false
            }
            if written == 0 { return true }  // full: the loop waits for it to be writable
            pending.removeFirst(written)
        }
        return true
    }

    /// The guardian died (reaped, or its pipe broke): forget it.
    public func lost() {
        pipe?.close()
        pipe = nil
        pid = 0
        pending = []
    }

    /// A clean stop: the guardian sees EOF, kills what is left (nothing, after a clean stop:
    /// every worker and stray has been stopped) and exits.
    public func stop() {
        _ = flush()
        pipe?.close()
        pipe = nil
    }

    private func send(_ record: Int32) -> Bool {
        guard pipe != nil else { return false }
        withUnsafeBytes(of: record) { pending.append(contentsOf: $0) }
        return flush()
    }
}
