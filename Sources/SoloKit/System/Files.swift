import Glibc

/// Whole-file helpers over open/read/stat. Everything is opened close-on-exec.
public enum Files {
    /// The whole file, refusing files larger than `limit` bytes.
    public static func read(_ path: String, limit: Int = 16 << 20) throws(Errno) -> [UInt8] {
        let fd = try FileDescriptor.open(path, O_RDONLY)
        defer { fd.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            guard case .bytes(let n) = try fd.read(into: &chunk) else { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit { throw Errno(EFBIG) }
        }
        return bytes
    }

    public static func readText(_ path: String, limit: Int = 16 << 20) throws(Errno) -> String {
        String(decoding: try read(path, limit: limit), as: UTF8.self)
    }

    /// Writes a file atomically: `path.new`, then rename. The `.new` file is made anew, never
    /// opened through a link (symbolic or hard) that someone left in its place.
    public static func writeAtomically(_ path: String, _ text: String, mode: mode_t = 0o644) throws(Errno) {
        let temporary = path + ".new"
        unlink(temporary)
        let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        do { try fd.writeAll(text) } catch { fd.close(); throw error }
        fd.close()
        _ = try valueOrErrno { rename(temporary, path) }.get()
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Whether this process holds open the very file now at `path` (same device and inode,
    /// whatever name the descriptor shows: symlinks are resolved there, not in `path`).
    public static func isHeldOpen(_ path: String) -> Bool {
        var named = Glibc.stat()
        guard stat(path, &named) == 0 else { return false }
        for entry in ProcFS.listDirectory("/proc/self/fd") {
            guard let fd = Int32(entry) else { continue }
            var held = Glibc.stat()
            if fstat(fd, &held) == 0, held.st_dev == named.st_dev, held.st_ino == named.st_ino { return true }
        }
        return false
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    public static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        let length = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The absolute, symlink-free path of an existing file.
    public static func realPath(_ path: String) throws(Errno) -> String {
        guard let resolved = realpath(path, nil) else { throw Errno.current }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The running executable (/proc/self/exe): how solo starts itself without PATH.
    public static func executablePath() -> String? { readLink("/proc/self/exe") }

    /// Where a symbolic link points; nil when `path` is none (or cannot be read).
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Paths matching a shell pattern, sorted; none is not an error.
    public static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        var paths: [String] = []
        for i in 0..<Int(result.gl_pathc) {
            if let p = result.gl_pathv[i] { paths.append(String(cString: p)) }
        }
        return paths.sorted()
    }

    /// mkdir -p.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(Errno) {
        if isDirectory(path) { return }
        let parent = Path.directory(of: path)
        if parent != path && !isDirectory(parent) { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw Errno.current }
    }

    /// Points standard output and standard error at a file opened for appending (again and
    /// again on SIGUSR1: logrotate moves the old file away and the next open makes a new one).
    public static func redirectOutput(to file: FileDescriptor) throws(Errno) {
        _ = try valueOrErrno { dup2(file.rawValue, 1) }.get()
        _ = try valueOrErrno { dup2(file.rawValue, 2) }.get()
    }

    /// Opens a log file for appending (created 0640 when missing), never through a symbolic
    /// link (ELOOP) and never waiting for a FIFO's reader.
    public static func openForAppend(_ path: String) throws(Errno) -> FileDescriptor {
        try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK, mode: 0o640)
    }

    /// The status of `path` itself (a link is not followed: lstat).
    public static func linkStatus(_ path: String) throws(Errno) -> Status {
        var info = stat()
        _ = try valueOrErrno { lstat(path, &info) }.get()
        return Status(info)
    }

    /// The status of an open file (fstat).
    public static func status(of file: FileDescriptor) throws(Errno) -> Status {
        var info = stat()
        _ = try valueOrErrno { fstat(file.rawValue, &info) }.get()
        return Status(info)
    }

    /// What stat(2) tells of a file: its type, owner, group, mode bits and links.
    public struct Status: Equatable {
        public enum Kind: Equatable { case regular, directory, link, characterDevice, other }
        public var kind: Kind
        public var owner: UInt32
        public var group: UInt32
        /// Permission bits with set-id and sticky (07777).
        public var mode: UInt32
        public var links: UInt64 = 1
    }
}

extension Files.Status {
    init(_ info: stat) {
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .link
        case S_IFCHR: kind = .characterDevice
        default: kind = .other
        }
        owner = info.st_uid
        group = info.st_gid
        mode = UInt32(info.st_mode & 0o7777)
        links = UInt64(info.st_nlink)
    }
}
