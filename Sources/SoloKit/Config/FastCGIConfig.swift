/// Where a pool's PHP-FPM listens (`fastcgi = ADDRESS`): an IP literal and a port, or a unix
/// socket. Literals only: the supervisor's loop never waits for a resolver.
public enum FastCGIAddress: Equatable, Sendable, CustomStringConvertible {
    /// An IPv4 or IPv6 literal (without brackets).
    case tcp(host: String, port: UInt16)
    case unix(path: String)

    static let example = "127.0.0.1:9000, [::1]:9000 or unix:/run/php/php8.2-fpm.sock"

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:" + path
        }
    }

    /// `HOST:PORT` with an IPv4 literal, `[IPv6]:PORT`, or `unix:/absolute/path`.
    public static func parse(_ text: String) throws(ValueError) -> FastCGIAddress {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") else { throw ValueError("\(quoted(text)): the socket's path must be absolute (write \(example))") }
            guard path.utf8.count < 108 else { throw ValueError("\(quoted(text)): the socket's path is longer than 107 bytes (move the socket)") }
            return .unix(path: path)
        }
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
            throw ValueError("\(quoted(text)) has no port from 1 to 65535 (write \(example))")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw ValueError("\(quoted(text)): \(quoted(host)) is not an IPv6 address (write \(example))")
            }
        } else if LockAddress.parse(host) == nil {
            throw ValueError("\(quoted(text)): \(quoted(host)) is not an IPv4 address; host names are not looked up (write \(example))")
        }
        return .tcp(host: host, port: port)
    }
}

extension PoolConfig {
    /// The keys that only a pool of workers reads: PHP-FPM runs a fastcgi pool's script, and its
    /// own pool file says how (pm.max_requests, request_terminate_timeout, the user, limits).
    static let workerOnlyKeys = ["directory", "user", "group", "umask", "environment", "clear_env", "pass_env", "stop_signal",
                                 "start_grace", "spare", "prefetch", "max_jobs", "memory_limit", "memory_kill", "memory_interval",
                                 "max_lifetime", "backoff_min", "backoff_max", "backoff_reset"]

    /// Whether only a pool of workers reads the key (`solo config check` leaves it out of a
    /// fastcgi pool).
    static func isWorkerKey(_ name: String) -> Bool {
        name == "command" || workerOnlyKeys.contains(name) || name.hasPrefix("rlimit_")
    }
}

extension SectionIssues {
    /// A fastcgi pool: `fastcgi` and `script` together, no `command`, a queue to feed from, a
    /// fixed number of requests at once; the keys of worker processes are warned of.
    mutating func checkFastCGI(_ pool: PoolConfig, set: Set<String>) {
        let fix = "a pool either runs command, or hands its jobs to PHP-FPM with fastcgi = ADDRESS and script = /path/job.php"
        switch (pool.fastcgi, pool.script) {
        case (nil, nil): return
        case (nil, _): return add("script", "needs fastcgi = ADDRESS, the PHP-FPM to run it (\(fix))")
        case (_, nil): return add("fastcgi", "needs script = /path/job.php, the script PHP-FPM runs for each job (\(fix))")
        default: break
        }
        if set.contains("command") { add("command", "is not run by a fastcgi pool (\(fix): remove one or the other)") }
        if !pool.queue.feedsJobs { add("queue", "none gives a fastcgi pool no jobs to send (remove queue = none, or name a queue)") }
        if pool.maxWorkers != nil {
            add("workers", "a fastcgi pool sends a fixed number of requests at once (write one number, like 4; PHP-FPM scales its own children)")
        }
        for key in set.sorted() where key != "command" && PoolConfig.isWorkerKey(key) {
            add(key, "has no effect on a fastcgi pool, which starts no process (set it in PHP-FPM's pool file)", .warning)
        }
    }
}
