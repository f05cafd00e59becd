import Glibc

/// poll(2) on one descriptor, for the short-lived commands that wait on a single socket or
/// pipe (the supervisor's loop uses epoll).
public enum Poll {
    public struct Readiness: Equatable, Sendable {
        public var readable = false
        public var writable = false
        public var hangup = false
        public var any: Bool { readable || writable || hangup }
    }

    /// Waits up to `milliseconds` (-1: no limit); EINTR returns nothing ready.
    public static func wait(_ fd: FileDescriptor, readable: Bool = true, writable: Bool = false, milliseconds: Int32) -> Readiness {
        var entry = pollfd(fd: fd.rawValue, events: Int16((readable ? POLLIN : 0) | (writable ? POLLOUT : 0)), revents: 0)
        guard Glibc.poll(&entry, 1, milliseconds) > 0 else { return Readiness() }
        let events = Int32(entry.revents)
        return Readiness(readable: events & Int32(POLLIN) != 0, writable: events & Int32(POLLOUT) != 0,
                         hangup: events & Int32(POLLHUP | POLLERR) != 0)
    }

    /// Waits on several descriptors at once; one readiness per descriptor, in order.
    public static func wait(_ watched: [(fd: FileDescriptor, writable: Bool)], milliseconds: Int32) -> [Readiness] {
        var entries = watched.map { pollfd(fd: $0.fd.rawValue, events: Int16(POLLIN | ($0.writable ? POLLOUT : 0)), revents: 0) }
        let ready = entries.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), milliseconds) }
        return entries.map { entry in
            guard ready > 0 else { return Readiness() }
            let events = Int32(entry.revents)
            return Readiness(readable: events & Int32(POLLIN) != 0, writable: events & Int32(POLLOUT) != 0,
                             hangup: events & Int32(POLLHUP | POLLERR) != 0)
        }
    }
}
