import Glibc

extension Files {
    /// What stat says of a file that changes when someone writes, replaces, truncates or
    /// chmods it: tells another's change from the events a process's own open and close raise.
    public struct Stamp: Equatable, Sendable {
        public let inode: UInt64
        public let size: Int64
        public let modified: Int64
        public let changed: Int64
    }

    /// The file's stamp, or nil when it cannot be stat'ed (missing).
    public static func stamp(of path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Stamp(inode: UInt64(info.st_ino), size: Int64(info.st_size),
                     modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                     changed: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec))
    }

    /// Bytes an unprivileged process may still write on the file system that holds `path`
    /// (nil when it cannot be told).
    public static func freeBytes(on path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }
}
