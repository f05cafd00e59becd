/// Who holds a port lock that solo could not take. Any local user may bind a loopback port, so
/// "the port is taken" means "a supervisor runs" only when the holder is solo's own supervisor
/// of this config; anyone else keeps it from starting, and that must be said, not taken for
/// "already running" (cron would never notice the outage).
public enum LockHolder {
    /// A TCP socket from /proc/net/tcp or /proc/net/tcp6.
    public struct Socket: Equatable {
        /// The local IPv4 address (host order); 0 for a wildcard (0.0.0.0 or ::), which holds
        /// the port on every address. IPv4-mapped IPv6 addresses are given as IPv4.
        public var address: UInt32
        public var port: UInt16
        public var uid: UInt32
        public var inode: UInt64
    }

    /// One line of /proc/net/tcp{,6}: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode …`.
    /// Addresses are hex words of the kernel's in-memory (network order) bytes read in host
    /// order, as the kernel prints them on this machine. nil for the header, for IPv6
    /// addresses that are neither a wildcard nor IPv4-mapped (they never hold an IPv4 lock),
    /// and for anything malformed.
    public static func parse(_ line: Substring) -> Socket? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 10 else { return nil }
        let local = fields[1].split(separator: ":")
        guard local.count == 2, let port = UInt16(local[1], radix: 16),
              let uid = UInt32(fields[7]), let inode = UInt64(fields[9]) else { return nil }
        let hex = local[0]
        guard hex.count == 8 || hex.count == 32, hex.allSatisfy(\.isHexDigit) else { return nil }
        var words: [UInt32] = []
        var rest = hex[...]
        while !rest.isEmpty {
            guard let word = UInt32(rest.prefix(8), radix: 16) else { return nil }
            words.append(UInt32(bigEndian: word))
            rest = rest.dropFirst(8)
        }
        let address: UInt32
        if words.count == 1 {
            address = words[0]
        } else if words[0] == 0, words[1] == 0, words[2] == 0xFFFF || words[2] == 0 && words[3] == 0 {
            address = words[3]  // ::ffff:a.b.c.d, or :: (0)
        } else {
            return nil
        }
        return Socket(address: address, port: port, uid: uid, inode: inode)
    }

    /// The sockets in these tables that hold `address`:`port`.
    public static func holders(of address: UInt32, port: UInt16, tables: [String]) -> [Socket] {
        tables.flatMap { $0.split(separator: "\n").compactMap(parse) }
            .filter { holds(address: address, port: port, bound: $0.address, $0.port) }
    }

    /// Whether a socket bound to `boundAddress`:`boundPort` holds `address`:`port`: the same
    /// port, on that address or on a wildcard (0).
    public static func holds(address: UInt32, port: UInt16, bound boundAddress: UInt32, _ boundPort: UInt16) -> Bool {
        boundPort == port && (boundAddress == address || boundAddress == 0)
    }

    /// A process that holds the lock's socket, as far as /proc tells.
    public struct Process: Equatable {
        public var pid: Int32
        /// Its name (/proc/PID/comm).
        public var name: String
        /// Whether it runs solo's own executable as `solo run`.
        public var isSoloSupervisor: Bool
    }

    /// Whether a process's /proc/PID/exe names the same program as ours. A package upgrade
    /// replaces the file under a running supervisor, and the kernel then shows its executable
    /// as `path (deleted)`: still solo, the one installed at that path before.
    public static func isSameExecutable(_ theirs: String?, _ ours: String?) -> Bool {
        let suffix = " (deleted)"
        func installed(_ path: String) -> Substring { path.hasSuffix(suffix) ? path.dropLast(suffix.count) : path[...] }
        guard let theirs, let ours else { return false }
        return installed(theirs) == installed(ours)
    }

    public enum Verdict: Equatable {
        /// This config's supervisor (still starting, if its control socket does not answer yet),
        /// or no one any more (the holder let go): "already running".
        case ours
        /// Someone else: what to say.
        case foreign(String)
        /// Someone solo cannot see (its socket or its process hidden from this user, as Yama's
        /// ptrace_scope hides a cron-started supervisor's descriptors): ours only if this
        /// config's control socket answers soon (see `unidentified`).
        case unknown
    }

    /// Judges the holder of a lock whose supervisor does not answer on its control socket.
    /// `ourUID`: the uid this config's supervisor runs as (whoever runs the check).
    public static func judge(socket: Socket?, process: Process?, ourUID: UInt32, place: String, configFile: String) -> Verdict {
        // A bound-only socket is in no table: found only in its process, which may be hidden.
        guard let socket else { return .unknown }
        // The name is the holder's to choose: no control characters reach a terminal or a mail.
        let name = String(String.UnicodeScalarView((process?.name ?? "").unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
        let who = "uid \(socket.uid)" + (process.map { " (pid \($0.pid), \(name))" } ?? "")
        guard socket.uid == ourUID else { return .foreign(held(place, by: who, "not by a solo supervisor of this config", configFile)) }
        // Gone since, or in a process this user may not inspect.
        guard let process else { return .unknown }
        // A supervisor still starting (its control socket comes later) or stopping.
        guard process.isSoloSupervisor else { return .foreign(held(place, by: who, "not a solo supervisor", configFile)) }
        return .ours
    }

    /// What to say of a holder solo cannot see, once this config's control socket has not
    /// answered for as long as a starting supervisor takes to open it.
    public static func unidentified(place: String, configFile: String) -> String {
        held(place, by: "a process solo cannot identify (not this config's supervisor: its control socket does not answer)", nil, configFile)
    }

    private static func held(_ place: String, by who: String, _ what: String?, _ configFile: String) -> String {
        """
        \(place) is held by \(who)\(what.map { ", " + $0 } ?? ""), so the supervisor of \(configFile) cannot run; \
        stop that process, or give solo a lock of its own: a privileged lock_port (below 1024, \
        which only root may bind) for a root supervisor, or another lock_port or lock_addr
        """
    }
}
