/// A request on the control socket: one JSON object per line, `{"command": "status", ...}`.
public enum ControlRequest: Equatable, Sendable {
    /// What `solo stop|start|restart` do to the pools they name.
    public enum Steering: String, Equatable, Sendable {
        case stop, start, restart
    }

    /// The pools a request is for: those named, or `all` of them.
    public enum PoolChoice: Equatable, Sendable {
        case all
        case named([String])
    }

    case status(pool: String?)
    /// With `wait`, the answer comes once the pools are stopped, or running and ready (after a
    /// restart: every worker replaced, and the old ones gone).
    case steer(Steering, pools: PoolChoice, wait: Bool)
    /// `workers` alone: that many, fixed; with `maxWorkers`: scaling between the two.
    case scale(pool: String, workers: Int, maxWorkers: Int?)
    /// Read the config file again and apply what changed.
    case reload
    /// The pool's last `lines` lines of output; with `follow`, new lines as they come.
    case logs(pool: String, lines: Int, follow: Bool)
    /// Stop every pool gracefully, then exit (as SIGTERM does).
    case shutdown
    /// `solo schedule list`: the schedules, their next and last runs.
    case schedules
    /// `solo schedule run NAME`: push a run of the schedule now.
    case runSchedule(String)
    /// What an application may ask too (`solo call`, `solo wait`; see ClientRequest).
    case client(ClientRequest)

    /// The commands only the control socket serves.
    public static let commands = ["status", "reload", "stop", "start", "restart", "shutdown", "schedules", "schedule_run", "scale", "logs"]

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
        case "stop", "start", "restart":
            let wait = json["wait"]?.boolValue ?? false
            if json["all"]?.boolValue == true {
                self = .steer(Steering(rawValue: command)!, pools: .all, wait: wait)
            } else if let names = json["pools"]?.arrayValue {
                let pools = names.compactMap(\.stringValue).filter { !$0.isEmpty }
                guard !pools.isEmpty, pools.count == names.count else { throw Invalid(message: "\(command) needs pools, a list of pool names (or all: true)") }
                self = .steer(Steering(rawValue: command)!, pools: .named(pools), wait: wait)
            } else {
                self = .steer(Steering(rawValue: command)!, pools: .named([try pool()]), wait: wait)
            }
        case "shutdown": self = .shutdown
        case "schedules": self = .schedules
        case "schedule_run":
            guard let name = json["schedule"]?.stringValue, !name.isEmpty else { throw Invalid(message: "schedule_run needs a schedule") }
            self = .runSchedule(name)
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
        case _ where ClientRequest.commands.contains(command): self = .client(try ClientRequest(json: json))
        default: throw Invalid(message: "unknown command \(command)")
        }
    }

    public var json: JSON {
        switch self {
        case .status(let pool): return .object([("command", .string("status"))] + (pool.map { [("pool", .string($0))] } ?? []))
        case .reload: return .object([("command", .string("reload"))])
        case .steer(let steering, let pools, let wait):
            let choice: (String, JSON)
            switch pools {
            case .all: choice = ("all", .bool(true))
            case .named(let names): choice = ("pools", .array(names.map(JSON.string)))
            }
            return .object([("command", .string(steering.rawValue)), choice] + (wait ? [("wait", .bool(true))] : []))
        case .shutdown: return .object([("command", .string("shutdown"))])
        case .schedules: return .object([("command", .string("schedules"))])
        case .runSchedule(let name): return .object([("command", .string("schedule_run")), ("schedule", .string(name))])
        case .scale(let pool, let workers, let maximum):
            return .object([("command", .string("scale")), ("pool", .string(pool)), ("workers", .number(Int64(workers)))]
                           + (maximum.map { [("max_workers", .number(Int64($0)))] } ?? []))
        case .logs(let pool, let lines, let follow):
            return .object([("command", .string("logs")), ("pool", .string(pool)), ("lines", .number(Int64(lines))), ("follow", .bool(follow))])
        case .client(let request): return request.json
        }
    }

    /// `solo stop|start|restart POOL...|all`: the pools named once each, or every pool.
    public static func steering(_ steering: Steering, operands: [String], wait: Bool) throws(UsageError) -> ControlRequest {
        let command = "solo \(steering.rawValue)"
        guard !operands.isEmpty else { throw UsageError("\(command): name the pools, or all (\(command) mailer reports, \(command) all)") }
        guard operands.contains("all") else {
            var seen: Set<String> = []
            return .steer(steering, pools: .named(operands.filter { seen.insert($0).inserted }), wait: wait)
        }
        guard operands.count == 1 else { throw UsageError("\(command): all already means every pool; name no pool beside it") }
        return .steer(steering, pools: .all, wait: wait)
    }

    /// `solo scale POOL N` or `solo scale POOL MIN-MAX`.
    public static func scaling(operands: [String]) throws(UsageError) -> ControlRequest {
        let usage = "solo scale: name a pool and a number of workers, or a range to scale within (solo scale mailer 8, solo scale mailer 2-16)"
        guard operands.count == 2 else { throw UsageError(usage) }
        let range: ClosedRange<Int>
        do {
            range = try Values.range(operands[1]) { (text) throws(ValueError) in
                let count = try Values.integer(text, in: 0...Int.max, example: "8")
                guard count <= 4096 else { throw ValueError("\(count) workers is too many: a pool runs at most 4096") }
                return count
            }
        } catch {
            throw UsageError("solo scale: \(error.message)")
        }
        let scales = operands[1].contains("-")
        if scales && range.upperBound < 1 { throw UsageError(usage) }
        return .scale(pool: operands[0], workers: range.lowerBound, maxWorkers: scales ? range.upperBound : nil)
    }

    /// The answer to a request that failed: `{"ok": false, "error": "..."}`.
    public static func failure(_ message: String) -> JSON { .object([("ok", .bool(false)), ("error", .string(message))]) }
}

/// Where a config's supervisor listens: a socket in a 0700 directory under state_dir.
public enum ControlSocket {
    public static func path(_ config: SoloConfig) -> String { path(config.global) }
    public static func path(_ global: GlobalConfig) -> String { global.controlSocket }
}
