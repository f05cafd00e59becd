import Glibc

/// An error number from a system call, with a readable description (`strerror`).
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's `errno`.
    public static var current: Errno { Errno(errno) }

    public var description: String { String(cString: strerror(rawValue)) }

    public static let interrupted = Errno(EINTR)
    public static let wouldBlock = Errno(EAGAIN)
    public static let noSuchProcess = Errno(ESRCH)
    public static let noSuchFile = Errno(ENOENT)
    public static let addressInUse = Errno(EADDRINUSE)
    public static let noChild = Errno(ECHILD)
    public static let permissionDenied = Errno(EACCES)
    public static let invalidArgument = Errno(EINVAL)
}

/// Runs a system call that returns -1 and sets `errno` on failure, retrying on EINTR unless
/// told not to (`close` must not be retried: on Linux the descriptor is gone after EINTR).
@inline(__always)
func valueOrErrno<T: BinaryInteger>(retryOnInterrupt: Bool = true, _ call: () -> T) -> Result<T, Errno> {
    while true {
        let value = call()
        if value != -1 { return .success(value) }
        let error = Errno.current
        if retryOnInterrupt && error == .interrupted { continue }
        return .failure(error)
    }
}

/// For the C shim's convention: 0 on success, an errno value otherwise.
@inline(__always)
func check(_ result: Int32) throws(Errno) {
    if result != 0 { throw Errno(result) }
}
