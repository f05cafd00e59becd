/// A request on the control socket: one JSON object per line, `{"command": "status", ...}`.
public enum ControlRequest: Equatable, Sendable {
    case status(pool: String?)
    case stop(pool: String)
    case start(pool: String)
    case restart(pool: String)
    /// `workers` alone: that many, fixed; with `maxWorkers`: scaling between the two.
    case scale(pool: String, workers: Int, maxWorkers: Int?)
    /// Read the config file again and apply what changed.
    case reload
    /// The pool's last `lines` lines of output; with `follow`, new lines as they come.
    case logs(pool: String, lines: Int, follow: Bool)

    public struct Invalid: Error, Equatable { public let message: String }

    public init(json: JSON) throws(Invalid) {
        guard let command = json["command"]?.stringValue else { throw Invalid(message: "a request needs a command") }
        func pool() throws(Invalid) -> String {
            guard let name = json["pool"]?.stringValue, !name.isEmpty else { throw Invalid(message: "\(command) needs a pool") }
            return name
        }
        switch command {
        case "status": self = .status(pool: json["pool"]?.stringValue)
        case "reload": self = .reload
        case "stop": self = .stop(pool: try pool())
        case "start": self = .start(pool: try pool())
        case "restart": self = .restart(pool: try pool())
        case "scale":
            guard let workers = json["workers"]?.intValue, (0...4096).contains(workers) else {
                throw Invalid(message: "scale needs workers, a number from 0 to 4096")
            }
            let maximum = json["max_workers"]?.intValue
            if let maximum, !(max(workers, 1)...4096).contains(maximum) {
                throw Invalid(message: "scale needs max_workers from workers (and 1) to 4096")
            }
            self = .scale(pool: try pool(), workers: workers, maxWorkers: maximum)
        case "logs":
            let lines = json["lines"]?.intValue ?? 50
            guard lines >= 0 else { throw Invalid(message: "logs needs lines, a number of 0 or more") }
            self = .logs(pool: try pool(), lines: lines, follow: json["follow"]?.boolValue ?? false)
        default: throw Invalid(message: "unknown command \(command)")
        }
    }

    public var json: JSON {
        switch self {
        case .status(let pool): return .object([("command", .string("status"))] + (pool.map { [("pool", .string($0))] } ?? []))
        case .reload: return .object([("command", .string("reload"))])
        case .stop(let pool): return .object([("command", .string("stop")), ("pool", .string(pool))])
        case .start(let pool): return .object([("command", .string("start")), ("pool", .string(pool))])
        case .restart(let pool): return .object([("command", .string("restart")), ("pool", .string(pool))])
        case .scale(let pool, let workers, let maximum):
            return .object([("command", .string("scale")), ("pool", .string(pool)), ("workers", .number(Int64(workers)))]
                           + (maximum.map { [("max_workers", .number(Int64($0)))] } ?? []))
        case .logs(let pool, let lines, let follow):
            return .object([("command", .string("logs")), ("pool", .string(pool)), ("lines", .number(Int64(lines))), ("follow", .bool(follow))])
        }
    }

    /// The answer to a request that failed: `{"ok": false, "error": "..."}`.
    public static func failure(_ message: String) -> JSON { .object([("ok", .bool(false)), ("error", .string(message))]) }
}

/// Where a config's supervisor listens: a socket in a 0700 directory under state_dir.
public enum ControlSocket {
    public static func path(_ config: SoloConfig) -> String { path(config.global) }
    public static func path(_ global: GlobalConfig) -> String { global.stateDirectory + "/run/solo.sock" }
}
