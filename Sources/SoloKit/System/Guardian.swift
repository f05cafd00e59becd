import CSoloSpawn
import Glibc

/// The guardian process (see guardian.c): told of every worker's process group, it SIGKILLs
/// them all when the supervisor dies, so no worker or grandchild outlives a `kill -9` of solo.
public final class Guardian {
    public private(set) var pid: pid_t = 0
    private var pipe: FileDescriptor?

    public init() {}

    public func start() throws(Errno) {
        var fd: Int32 = -1
        var child: pid_t = 0
        try check(solo_guardian_start(&fd, &child))
        pipe = FileDescriptor(rawValue: fd)
        pid = child
    }

    public var isRunning: Bool { pipe != nil }

    /// Returns false when the guardian is gone (the caller restarts it and registers again).
    @discardableResult
    public func register(_ group: pid_t) -> Bool { send(Int32(group)) }

    @discardableResult
    public func unregister(_ group: pid_t) -> Bool { send(-Int32(group)) }

    /// Called when the guardian's pid was reaped: it is gone, its pipe is useless.
    public func lost() {
        pipe?.close()
        pipe = nil
        pid = 0
    }

    /// A clean stop: with no group registered the guardian exits on EOF, killing nothing.
    public func stop() {
        pipe?.close()
        pipe = nil
    }

    private func send(_ record: Int32) -> Bool {
        guard let pipe else { return false }
        var value = record
        do {
            try withUnsafeBytes(of: &value) { raw in Result { () throws(Errno) in try pipe.writeAll(raw) } }.get()
            return true
        } catch {
            lost()
            return false
        }
    }
}
