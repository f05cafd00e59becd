import Glibc

/// poll(2), for the short-lived commands that wait on a socket or a pipe or two (the
/// supervisor's loop uses epoll).
public enum Poll {
    public struct Readiness: Equatable, Sendable {
        public var readable = false
        public var writable = false
        public var hangup = false
        public var any: Bool { readable || writable || hangup }
    }

    /// Waits up to `milliseconds` (-1: no limit) for one descriptor to be readable (or, with
    /// `writable`, writable); nothing ready when the time is up.
    public static func wait(_ fd: FileDescriptor, writable: Bool = false, milliseconds: Int32) -> Readiness {
        wait([(fd, writable)], milliseconds: milliseconds)[0]
    }

    /// Waits on several descriptors at once (readable, and writable where asked); one readiness
    /// per descriptor, in order. EINTR waits again for what is left of the time.
    public static func wait(_ watched: [(fd: FileDescriptor, writable: Bool)], milliseconds: Int32) -> [Readiness] {
        var entries = watched.map { pollfd(fd: $0.fd.rawValue, events: Int16(POLLIN | ($0.writable ? POLLOUT : 0)), revents: 0) }
        let deadline = milliseconds < 0 ? nil : Moment.now() + .milliseconds(Int64(milliseconds))
        var ready: Int32
        repeat {
            let wait = deadline.map { $0.millisecondsFrom(.now()) } ?? -1
            ready = entries.withUnsafeMutableBufferPointer { Glibc.poll($0.baseAddress, nfds_t($0.count), wait) }
        } while ready < 0 && errno == EINTR
        return entries.map { entry in
            guard ready > 0 else { return Readiness() }
            let events = Int32(entry.revents)
            return Readiness(readable: events & Int32(POLLIN) != 0, writable: events & Int32(POLLOUT) != 0,
                             hangup: events & Int32(POLLHUP | POLLERR) != 0)
        }
    }
}
