import CSoloSpawn

/// The port lock: a TCP socket bound to a loopback address, never listening. Holding it
/// proves "I am the one running"; the kernel frees it the instant the holder dies.
public struct PortLock {
    public let descriptor: FileDescriptor
    public let address: UInt32
    public let port: UInt16

    /// Binds the lock. `inheritable`: left open across exec (classic `solo -port`, where the
    /// command itself must hold the lock); otherwise close-on-exec, so workers never hold it.
    public static func acquire(address: UInt32, port: UInt16, inheritable: Bool) throws(Errno) -> PortLock {
        var fd: Int32 = -1
        try check(solo_bind_lock(address, port, inheritable ? 0 : 1, &fd))
        return PortLock(descriptor: FileDescriptor(rawValue: fd), address: address, port: port)
    }

    /// Whether someone holds the lock now (binds and lets go at once).
    public static func isHeld(address: UInt32, port: UInt16) throws(Errno) -> Bool {
        do {
            let lock = try acquire(address: address, port: port, inheritable: false)
            lock.release()
            return false
        } catch Errno.addressInUse {
            return true
        }
    }

    public func release() { descriptor.close() }

    /// The port the kernel chose when `acquire` was given port 0.
    public func boundPort() throws(Errno) -> UInt16 {
        try Sockets.localAddress(descriptor).port
    }
}
