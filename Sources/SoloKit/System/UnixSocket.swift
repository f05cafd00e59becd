import CSoloSpawn

/// Unix stream sockets: the control socket's listener, its connections, and the client end.
public enum UnixSocket {
    public static func listen(at path: String) throws(Errno) -> FileDescriptor {
        var fd: Int32 = -1
        try check(solo_unix_listen(path, &fd))
        return FileDescriptor(rawValue: fd)
    }

    /// A waiting connection, or nil when none is.
    public static func accept(_ listener: FileDescriptor) throws(Errno) -> FileDescriptor? {
        var fd: Int32 = -1
        let result = solo_unix_accept(listener.rawValue, &fd)
        if result == Errno.wouldBlock.rawValue || result == Errno.interrupted.rawValue { return nil }
        try check(result)
        return FileDescriptor(rawValue: fd)
    }

    public static func peer(_ connection: FileDescriptor) throws(Errno) -> (uid: UInt32, pid: Int32) {
        var uid: UInt32 = 0
        var pid: Int32 = 0
        try check(solo_peer_credentials(connection.rawValue, &uid, &pid))
        return (uid, pid)
    }

    public static func connect(to path: String) throws(Errno) -> FileDescriptor {
        var fd: Int32 = -1
        try check(solo_unix_connect(path, &fd))
        return FileDescriptor(rawValue: fd)
    }
}
