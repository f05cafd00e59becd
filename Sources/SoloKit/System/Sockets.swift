import CSoloSpawn
import Glibc

/// Listening sockets and their connections: the control socket (unix) and the metrics
/// endpoint (TCP). Every descriptor is non-blocking and close-on-exec.
public enum Sockets {
    /// A waiting connection, or nil when none is.
    public static func accept(_ listener: FileDescriptor) throws(Errno) -> FileDescriptor? {
        var fd: Int32 = -1
        let result = solo_accept(listener.rawValue, &fd)
        if result == Errno.wouldBlock.rawValue || result == Errno.interrupted.rawValue { return nil }
        try check(result)
        return FileDescriptor(rawValue: fd)
    }

    /// A TCP listener on `address:port` (IPv4, host byte order); port 0 picks a free one.
    public static func listenTCP(address: UInt32, port: UInt16) throws(Errno) -> FileDescriptor {
        try opened { solo_tcp_listen(address, port, $0) }
    }

    /// The descriptor a C helper opens into its out-parameter, or its error.
    static func opened(_ open: (UnsafeMutablePointer<Int32>) -> Int32) throws(Errno) -> FileDescriptor {
        var fd: Int32 = -1
        try check(open(&fd))
        return FileDescriptor(rawValue: fd)
    }

    /// The address and port a socket is bound to.
    public static func localAddress(_ socket: FileDescriptor) throws(Errno) -> (address: UInt32, port: UInt16) {
        var address: UInt32 = 0
        var port: UInt16 = 0
        try check(solo_socket_address(socket.rawValue, &address, &port))
        return (address, port)
    }
}

/// Unix stream sockets: the control socket's listener, its peers, and the client end.
public enum UnixSocket {
    /// Listens at `path`, removing a stale socket there first; never anything else (see `why`).
    public static func listen(at path: String) throws(Errno) -> FileDescriptor {
        try Sockets.opened { solo_unix_listen(path, $0) }
    }

    /// Why `listen(at:)` failed, in words.
    public static func why(_ error: Errno) -> String {
        switch error.rawValue {
        case EEXIST: "something other than a socket is there, and solo removes only a stale socket (move it away, or choose another path)"
        case EADDRINUSE: "another program listens on it (a PHP-FPM, another solo?); solo does not take a live socket over (choose another path)"
        default: "\(error)"
        }
    }

    /// Who is at the other end (SO_PEERCRED): its user, primary group and process, as they
    /// were when it connected.
    public static func peer(_ connection: FileDescriptor) throws(Errno) -> (uid: UInt32, gid: UInt32, pid: Int32) {
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        var pid: Int32 = 0
        try check(solo_peer_credentials(connection.rawValue, &uid, &gid, &pid))
        return (uid, gid, pid)
    }

    public static func connect(to path: String) throws(Errno) -> FileDescriptor {
        try Sockets.opened { solo_unix_connect(path, $0) }
    }

    /// Starts connecting without blocking (to PHP-FPM): as `TCPClient.connect`.
    public static func startConnecting(to path: String) throws(Errno) -> FileDescriptor {
        try Sockets.opened { solo_unix_connect_start(path, $0) }
    }
}

/// TCP client connections (to Redis): non-blocking, close-on-exec, no Nagle delay.
public enum TCPClient {
    /// Starts connecting; the descriptor turns writable when the attempt is over, and
    /// `connectionError` then tells how it went.
    public static func connect(address: UInt32, port: UInt16) throws(Errno) -> FileDescriptor {
        try Sockets.opened { solo_tcp_connect(address, port, $0) }
    }

    /// The same to an IPv4 or IPv6 literal (to PHP-FPM; EINVAL for anything else).
    public static func connect(literal: String, port: UInt16) throws(Errno) -> FileDescriptor {
        try Sockets.opened { solo_inet_connect(literal, port, $0) }
    }

    /// nil once a connection attempt has succeeded; its error otherwise.
    public static func connectionError(_ socket: FileDescriptor) -> Errno? {
        var error: Int32 = 0
        let result = solo_socket_error(socket.rawValue, &error)
        if result != 0 { return Errno(result) }
        return error == 0 ? nil : Errno(error)
    }

    /// The IPv4 address of a host name or a dotted literal; nil when it has none. A name asks
    /// the resolver, which may take seconds: never from the supervisor's loop (see below).
    public static func resolve(_ host: String) -> UInt32? {
        var address: UInt32 = 0
        return solo_resolve_ipv4(host, &address) == 0 ? address : nil
    }

    /// An IPv4 literal at once, without a resolver.
    public static func literal(_ host: String) -> UInt32? {
        LockAddress.parse(host)
    }

    /// Starts resolving a host name on a thread of its own; the descriptor turns readable
    /// when the answer is there (`resolved(from:)` reads it and closes it).
    public static func resolveInBackground(_ host: String) throws(Errno) -> FileDescriptor {
        let ends = try FileDescriptor.pipe()
        var result = (try? ends.read.setNonBlocking()) == nil ? EINVAL : 0
        if result == 0 { result = solo_resolve_ipv4_async(host, ends.write.rawValue) }
        if result != 0 {
            ends.read.close()
            ends.write.close()
            throw Errno(result)
        }
        return ends.read
    }

    /// The answer of `resolveInBackground`, or nil when the name has no address; closes the
    /// descriptor.
    public static func resolved(from fd: FileDescriptor) -> UInt32? {
        defer { fd.close() }
        var answer: (Int32, Int32) = (-1, 0)
        let n = withUnsafeMutableBytes(of: &answer) { Glibc.read(fd.rawValue, $0.baseAddress, $0.count) }
        guard n == 8, answer.0 == 0 else { return nil }
        return UInt32(bitPattern: answer.1)
    }
}

extension FileDescriptor {
    /// Sends what a socket takes now (non-blocking), without SIGPIPE when the peer has gone
    /// (MSG_NOSIGNAL: the commands that talk to Redis do not ignore SIGPIPE); the count sent.
    public func sendSome(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        switch valueOrErrno({ Glibc.send(rawValue, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }) {
        case .success(let n): return n
        case .failure(let error) where error == .wouldBlock: return 0
        case .failure(let error): throw error
        }
    }
}
