import CSoloSpawn
import Glibc

/// Readers for /proc: process status, children, and resident memory.
public enum ProcFS {
    public static let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))

    public struct ProcessStat: Equatable {
        public var pid: pid_t
        public var state: Character
        public var parent: pid_t
        public var group: pid_t
        public var session: pid_t
        /// Clock ticks after boot (field 22): with the pid, it names a process for good.
        public var startTime: UInt64
    }

    /// Parses /proc/PID/stat text (with the C parser the guardian uses).
    public static func parseStat(_ text: String) -> ProcessStat? {
        var raw = solo_stat()
        guard solo_parse_stat(text, &raw) == 0 else { return nil }
        return ProcessStat(pid: raw.pid, state: Character(UnicodeScalar(UInt8(bitPattern: raw.state))), parent: raw.parent,
                           group: raw.group, session: raw.session, startTime: raw.start_time)
    }

    public static func stat(of pid: pid_t) -> ProcessStat? {
        guard let text = readSmall("/proc/\(pid)/stat") else { return nil }
        return parseStat(text)
    }

    /// The supplementary groups of a process (the `Groups:` line of /proc/PID/status); nil
    /// when it is gone or cannot be read.
    public static func supplementaryGroups(of pid: pid_t) -> [UInt32]? {
        readSmall("/proc/\(pid)/status").flatMap(parseGroups)
    }

    static func parseGroups(_ status: String) -> [UInt32]? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") }) else { return nil }
        return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { UInt32($0) }
    }

    /// The direct children of a process, from every thread's `children` list.
    public static func children(of pid: pid_t) -> [pid_t] {
        let tasks = listDirectory("/proc/\(pid)/task")
        var result: [pid_t] = []
        for task in tasks {
            guard let text = readSmall("/proc/\(pid)/task/\(task)/children", limit: 1 << 20) else { continue }
            for field in text.split(separator: " ") {
                if let child = pid_t(field.trimmingSpaces()) { result.append(child) }
            }
        }
        return result
    }

    /// The process and all its descendants (depth-first, each once).
    public static func tree(of root: pid_t) -> [pid_t] {
        var seen: Set<pid_t> = [root]
        var order: [pid_t] = [root]
        var next = 0
        while next < order.count && order.count < 100_000 {
            for child in children(of: order[next]) where seen.insert(child).inserted {
                order.append(child)
            }
            next += 1
        }
        return order
    }

    /// Whether the process is blocked in read(2) on its standard input, from /proc/PID/syscall
    /// (the number of the system call it sleeps in, then its arguments). False when that cannot
    /// be seen (another user's process, a kernel without it).
    public static func isReadingStandardInput(_ pid: pid_t) -> Bool {
        guard let text = readSmall("/proc/\(pid)/syscall", limit: 256) else { return false }
        return parseSyscall(text).map { $0.number == Int(solo_read_syscall_number()) && $0.firstArgument == 0 } ?? false
    }

    static func parseSyscall(_ text: String) -> (number: Int, firstArgument: UInt64)? {
        let fields = text.split(separator: " ")
        guard fields.count > 1, let number = Int(fields[0]), fields[1].hasPrefix("0x"),
              let argument = UInt64(fields[1].dropFirst(2), radix: 16) else { return nil }
        return (number, argument)
    }

    /// Resident set size from /proc/PID/statm (field 2, in pages).
    public static func residentBytes(of pid: pid_t) -> UInt64? {
        guard let text = readSmall("/proc/\(pid)/statm") else { return nil }
        return parseStatm(text)
    }

    static func parseStatm(_ text: String) -> UInt64? {
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return nil }
        return pages * pageSize
    }

    /// The kernel's TCP socket tables, IPv4 and IPv6 (for LockHolder.holders).
    public static func tcpTables() -> [String] {
        ["/proc/net/tcp", "/proc/net/tcp6"].compactMap { readSmall($0, limit: 64 << 20) }
    }

    /// The process that has the socket with this inode open, found through /proc/*/fd (only
    /// processes this user may inspect: all of them for root).
    public static func pid(holdingSocket inode: UInt64) -> pid_t? {
        let target = "socket:[\(inode)]"
        return firstSocket { link, _, _ in link == target }?.pid
    }

    /// The first socket in any process this user may inspect (root: all) whose bound IPv4 address
    /// (0: a wildcard) and port satisfy `matches`, with its pid. For sockets bound and never
    /// listening, which /proc/net/tcp does not list: each is read through a copy of its
    /// descriptor (pidfd_getfd).
    public static func boundSocket(matching matches: (_ address: UInt32, _ port: UInt16) -> Bool)
        -> (pid: pid_t, address: UInt32, port: UInt16, uid: UInt32, inode: UInt64)? {
        var found: (address: UInt32, port: UInt16, uid: UInt32)? = nil
        guard let hit = firstSocket(where: { link, pid, fd in
            var address: UInt32 = 0, port: UInt16 = 0, uid: UInt32 = 0
            guard solo_process_socket_address(pid, fd, &address, &port, &uid) == 0, matches(address, port) else { return false }
            found = (address, port, uid)
            return true
        }), let found else { return nil }
        return (hit.pid, found.address, found.port, found.uid, hit.inode)
    }

    /// The first socket descriptor (`socket:[INODE]`) of any process that `accept` takes.
    private static func firstSocket(where accept: (_ link: String, _ pid: pid_t, _ fd: Int32) -> Bool) -> (pid: pid_t, inode: UInt64)? {
        for entry in listDirectory("/proc") {
            guard let pid = pid_t(entry) else { continue }
            for name in listDirectory("/proc/\(pid)/fd") {
                guard let fd = Int32(name), let link = Files.readLink("/proc/\(pid)/fd/\(name)"), link.hasPrefix("socket:["),
                      accept(link, pid, fd) else { continue }
                return (pid, UInt64(link.dropFirst(8).dropLast()) ?? 0)
            }
        }
        return nil
    }

    /// A process's name (comm), executable and arguments; nil once it is gone.
    public static func identity(of pid: pid_t) -> (name: String, executable: String?, arguments: [String])? {
        guard let comm = readSmall("/proc/\(pid)/comm") else { return nil }
        let arguments = (readSmall("/proc/\(pid)/cmdline", limit: 1 << 16) ?? "").split(separator: "\0").map(String.init)
        return (String(comm[...].trimmingSpaces()), Files.readLink("/proc/\(pid)/exe"), arguments)
    }

    /// Entry names of a directory (without . and ..).
    public static func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func readSmall(_ path: String, limit: Int = 8192) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: min(limit, 8192))
        var bytes: [UInt8] = []
        while bytes.count < limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        if bytes.isEmpty { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The resident memory of one process, from a /proc/PID/statm descriptor kept open: cheap
/// (about 1 µs) and safe, since the read fails with ESRCH once that process is gone, so a
/// reused pid is never misread.
public final class ResidentMemoryReader {
    private let descriptor: FileDescriptor?
    private var buffer = [UInt8](repeating: 0, count: 256)

    public init(pid: pid_t) {
        descriptor = try? FileDescriptor.open("/proc/\(pid)/statm", O_RDONLY)
    }

    deinit { descriptor?.close() }

    /// nil once the process is gone.
    public func residentBytes() -> UInt64? {
        guard let descriptor else { return nil }
        let count = buffer.withUnsafeMutableBytes { raw in (try? descriptor.pread(into: raw, at: 0)) ?? 0 }
        guard count > 0 else { return nil }
        return ProcFS.parseStatm(String(decoding: buffer[0..<count], as: UTF8.self))
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\n" || c == "\t" || c == "\r" { s.removeLast() }
        return s
    }
}
