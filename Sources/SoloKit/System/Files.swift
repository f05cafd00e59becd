import CSoloSpawn
import Glibc
import Synchronization

/// Why a whole file could not be read.
public enum ReadError: Error, Equatable, CustomStringConvertible {
    case system(Errno)
    /// A FIFO, device, socket or directory: reading one could wait for ever or never end.
    case notRegularFile(kind: String)
    case tooLarge(limit: Int)

    public var description: String {
        switch self {
        case .system(let error): return "\(error)"
        case .notRegularFile(let kind): return "not a regular file but \(kind)"
        case .tooLarge(let limit): return "too large, over \(Values.formatSize(UInt64(limit)))"
        }
    }
}

/// A directory that a pattern passes through and that cannot be read: it might hold matches.
public struct UnreadableDirectory: Error, Equatable {
    public let path: String
    public let error: Errno
}

/// Whole-file helpers over open/read/stat. Everything is opened close-on-exec.
public enum Files {
    /// The whole of a regular file, refusing one larger than `limit` bytes.
    public static func read(_ path: String, limit: Int = 16 << 20) throws(ReadError) -> [UInt8] {
        // Non-blocking: opening a FIFO would otherwise wait for a writer, for ever.
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK) } catch { throw .system(error) }
        defer { fd.close() }
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else { throw .system(.current) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile(kind: kind(of: info.st_mode)) }
        guard info.st_size <= limit else { throw .tooLarge(limit: limit) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let result: FileDescriptor.ReadResult
            do { result = try fd.read(into: &chunk) } catch { throw .system(error) }
            guard case .bytes(let n) = result else { break }
            bytes.append(contentsOf: chunk[0..<n])
            // It may have grown since fstat.
            if bytes.count > limit { throw .tooLarge(limit: limit) }
        }
        return bytes
    }

    public static func readText(_ path: String, limit: Int = 16 << 20) throws(ReadError) -> String {
        String(decoding: try read(path, limit: limit), as: UTF8.self)
    }

    static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a FIFO"
        case S_IFDIR: return "a directory"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFSOCK: return "a socket"
        default: return "mode \(String(mode, radix: 8))"
        }
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

    /// Whether `path` exists, where not being allowed to look is an error, not an absence
    /// (EACCES on a directory of the path): a queue file nobody may see is not a missing one.
    public static func isPresent(_ path: String) throws(Errno) -> Bool {
        guard access(path, F_OK) != 0 else { return true }
        let error = Errno.current
        if error == .noSuchFile || error.rawValue == ENOTDIR { return false }
        throw error
    }

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

    /// Paths matching a shell pattern, sorted. None is not an error, nor is a directory that does
    /// not exist; one that exists but cannot be read is, as it might hold matches.
    public static func glob(_ pattern: String) throws(UnreadableDirectory) -> [String] {
        try globLock.withLock { _ throws(UnreadableDirectory) -> [String] in
            globFailure = nil
            var result = glob_t()
            defer { globfree(&result) }
            let status = Glibc.glob(pattern, 0, { path, error in
                guard error != ENOENT, let path else { return 0 }
                Files.globFailure = UnreadableDirectory(path: String(cString: path), error: Errno(error))
                return 1
            }, &result)
            if status == GLOB_ABORTED, let failure = globFailure { throw failure }
            guard status == 0 else { return [] }
            var paths: [String] = []
            for i in 0..<Int(result.gl_pathc) {
                if let p = result.gl_pathv[i] { paths.append(String(cString: p)) }
            }
            return paths.sorted()
        }
    }

    /// glob(3) tells of a directory it cannot read only to a callback without context, so the
    /// callback leaves it here, and the lock lets one glob at a time use it.
    private nonisolated(unsafe) static var globFailure: UnreadableDirectory?
    private static let globLock = Mutex(())

    /// mkdir -p.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(Errno) {
        if isDirectory(path) { return }
        let parent = Path.directory(of: path)
        if parent != path && !isDirectory(parent) { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw Errno.current }
    }

    /// Sets the permission bits of `path`: makeDirectories leaves a directory that was already
    /// there as it was, and a private one must be tightened all the same.
    public static func setMode(_ path: String, _ mode: mode_t) throws(Errno) {
        _ = try valueOrErrno { chmod(path, mode) }.get()
    }

    /// Removes the name `path` (a file, a socket, a link); a name already gone is no error.
    public static func remove(_ path: String) throws(Errno) {
        if unlink(path) != 0 && errno != ENOENT { throw Errno.current }
    }

    /// Points standard output and standard error at a file opened for appending (again and
    /// again on SIGUSR1: logrotate moves the old file away and the next open makes a new one).
    public static func redirectOutput(to file: FileDescriptor) throws(Errno) {
        _ = try valueOrErrno { dup2(file.rawValue, 1) }.get()
        _ = try valueOrErrno { dup2(file.rawValue, 2) }.get()
    }

    /// Opens a log file for appending (created 0640 when missing), never through a symbolic
    /// link (ELOOP) and never waiting for a FIFO's reader. `directory`: `path` is a name in it
    /// (openat), not in the current directory.
    public static func openForAppend(_ path: String, in directory: FileDescriptor? = nil) throws(Errno) -> FileDescriptor {
        let flags = O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
        return FileDescriptor(rawValue: try valueOrErrno { openat(directory?.rawValue ?? AT_FDCWD, path, flags, 0o640) }.get())
    }

    /// Opens the directory `name` in `parent` (or an absolute path when `parent` is nil) to
    /// walk on from and fstat, never through a symbolic link (ELOOP or ENOTDIR): what the
    /// descriptor holds stays that directory whatever is renamed meanwhile. O_PATH: only the
    /// right to pass through it is needed.
    public static func openDirectory(_ name: String, in parent: FileDescriptor?) throws(Errno) -> FileDescriptor {
        var fd: Int32 = -1
        try check(solo_open_directory(parent?.rawValue ?? AT_FDCWD, name, &fd))
        return FileDescriptor(rawValue: fd)
    }

    /// Makes the directory `name` in `parent`; one already there is no error.
    public static func makeDirectory(_ name: String, in parent: FileDescriptor, mode: mode_t) throws(Errno) {
        if mkdirat(parent.rawValue, name, mode) != 0 && errno != EEXIST { throw Errno.current }
    }

    /// The status of `name` in `parent` itself (a link is not followed).
    public static func linkStatus(_ name: String, in parent: FileDescriptor) throws(Errno) -> Status {
        var info = stat()
        _ = try valueOrErrno { fstatat(parent.rawValue, name, &info, AT_SYMLINK_NOFOLLOW) }.get()
        return Status(info)
    }

    /// The status of `path` itself (a link is not followed: lstat).
    public static func linkStatus(_ path: String) throws(Errno) -> Status {
        var info = stat()
        _ = try valueOrErrno { lstat(path, &info) }.get()
        return Status(info)
    }

    /// Gives `path` (not followed if a link) the owner and group of `reference`: a file root
    /// writes for a supervisor that runs as another user.
    public static func takeOwner(_ path: String, from reference: String) throws(Errno) {
        let owner = try linkStatus(reference)
        _ = try valueOrErrno { lchown(path, owner.owner, owner.group) }.get()
    }

    /// Gives `path` (not followed if a link) to `group`, keeping its owner.
    public static func setGroup(_ path: String, _ group: UInt32) throws(Errno) {
        _ = try valueOrErrno { lchown(path, UInt32.max, group) }.get()
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
