import CSoloSpawn

/// An epoll instance, level-triggered. Each registration carries a 64-bit token that the
/// caller uses to find the owner of a ready descriptor.
public struct Epoll {
    public let descriptor: FileDescriptor

    public struct Event {
        public let token: UInt64
        public let readable: Bool
        public let writable: Bool
        public let hangup: Bool
    }

    public init() throws(Errno) {
        var fd: Int32 = -1
        try check(solo_epoll_create(&fd))
        descriptor = FileDescriptor(rawValue: fd)
    }

    public func add(_ fd: FileDescriptor, token: UInt64, readable: Bool = true, writable: Bool = false) throws(Errno) {
        try check(solo_epoll_add(descriptor.rawValue, fd.rawValue, mask(readable: readable, writable: writable), token))
    }

    public func modify(_ fd: FileDescriptor, token: UInt64, readable: Bool = true, writable: Bool) throws(Errno) {
        try check(solo_epoll_modify(descriptor.rawValue, fd.rawValue, mask(readable: readable, writable: writable), token))
    }

    public func remove(_ fd: FileDescriptor) {
        _ = solo_epoll_remove(descriptor.rawValue, fd.rawValue)
    }

    private func mask(readable: Bool, writable: Bool) -> UInt32 {
        (readable ? UInt32(SOLO_EPOLLIN) : 0) | (writable ? UInt32(SOLO_EPOLLOUT) : 0)
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever). EINTR returns no events.
    public func wait(timeoutMilliseconds: Int32, into buffer: inout [solo_event]) throws(Errno) -> [Event] {
        let n = buffer.withUnsafeMutableBufferPointer {
            solo_epoll_wait(descriptor.rawValue, $0.baseAddress!, Int32($0.count), timeoutMilliseconds)
        }
        if n < 0 {
            if -n == Errno.interrupted.rawValue { return [] }
            throw Errno(-n)
        }
        return (0..<Int(n)).map { i in
            let raw = buffer[i]
            return Event(token: raw.token,
                         readable: raw.events & UInt32(SOLO_EPOLLIN) != 0,
                         writable: raw.events & UInt32(SOLO_EPOLLOUT) != 0,
                         hangup: raw.events & UInt32(SOLO_EPOLLHUP | SOLO_EPOLLERR) != 0)
        }
    }
}
