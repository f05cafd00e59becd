import Glibc
import SoloKit

/// Exit status when no supervisor runs for the config (as LSB's `status` does).
let exitNotRunning: Int32 = 3

/// A connection to the running supervisor's control socket.
private final class ControlConnection {
    let socket: FileDescriptor
    private var pending: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 65536)

    init(_ config: ControlTarget) throws(CommandFailure) {
        // A supervisor that refuses us closes the socket: read its reason instead of dying of SIGPIPE.
        try? Signals.ignore(SIGPIPE)
        let path = ControlSocket.path(config.global)
        do { socket = try UnixSocket.connect(to: path) } catch {
            if error == .noSuchFile || error.rawValue == ECONNREFUSED {
                throw CommandFailure(status: exitNotRunning, message: "solo: no supervisor runs for \(config.file) (nothing listens on \(path))")
            }
            throw CommandFailure(status: 1, message: "solo: cannot reach the supervisor at \(path): \(error)")
        }
    }

    deinit { socket.close() }

    /// Sends a request; a failed send is not the end, a refusal may be waiting to be read.
    func send(_ request: ControlRequest) -> Errno? {
        do { try socket.writeAll(request.json.text + "\n") } catch { return error }
        return nil
    }

    /// The next line from the supervisor, parsed; nil at end of file. Waits `seconds` at most
    /// (forever when nil).
    func next(seconds: Int32? = 10) throws(CommandFailure) -> JSON? {
        while !pending.contains(UInt8(ascii: "\n")) {
            guard Poll.wait(socket, milliseconds: seconds.map { $0 * 1000 } ?? -1).any else {
                throw CommandFailure(status: 1, message: "solo: the supervisor did not answer within \(seconds ?? 0)s")
            }
            guard case .bytes(let n)? = try? socket.read(into: &chunk) else { break }
            pending += chunk[0..<n]
        }
        guard let newline = pending.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let line = String(decoding: pending[..<newline], as: UTF8.self)
        pending.removeSubrange(...newline)
        guard let reply = try? JSON.parse(line) else {
            throw CommandFailure(status: 1, message: "solo: the supervisor's answer is not JSON: \(line.prefix(200))")
        }
        if reply["ok"]?.boolValue == false {
            let details = (reply["issues"]?.arrayValue ?? []).compactMap(\.stringValue)
            throw CommandFailure(status: 1, message: (details + ["solo: \(reply["error"]?.stringValue ?? "the supervisor refused")"]).joined(separator: "\n"))
        }
        return reply
    }
}

/// The config file a control command means, and its [global] section (all it needs).
struct ControlTarget {
    let file: String
    let global: GlobalConfig

    /// Loads only [global]: a broken pool section must not keep `solo reload` from the
    /// supervisor, which reports it and keeps its running config.
    static func load(_ path: String) -> ControlTarget? {
        do {
            let (file, global) = try ConfigLoader().loadGlobal(path)
            return ControlTarget(file: file, global: global)
        } catch {
            printError(error.description)
            return nil
        }
    }
}

/// Sends one request to the running supervisor and returns its answer.
private func ask(_ config: ControlTarget, _ request: ControlRequest) -> Result<JSON, CommandFailure> {
    do {
        let connection = try ControlConnection(config)
        let sendError = connection.send(request)
        guard let reply = try connection.next() else {
            return .failure(CommandFailure(status: 1, message: "solo: the supervisor closed the connection" + (sendError.map { ": \($0)" } ?? "")))
        }
        return .success(reply)
    } catch {
        return .failure(error)
    }
}

/// `solo logs POOL [-n N] [-f]`: the pool's recent output, and with -f what follows.
func logsCommand(_ rest: [String]) throws -> Int32 {
    let arguments = try Arguments.parse(rest, command: "logs", valued: ["config", "lines"], flags: ["follow"],
                                        short: ["n": "lines", "f": "follow"])
    guard arguments.operands.count == 1 else { throw UsageError("solo logs: name one pool (solo logs mailer -n 100 -f)") }
    guard let lines = Int(arguments.values["lines"] ?? "50"), lines >= 0 else { throw UsageError("solo logs: -n takes a number of lines") }
    guard let config = ControlTarget.load(try Arguments(values: arguments.values).configPath(command: "logs")) else {
        return CronCheck.exitConfig
    }
    let follow = arguments.flags.contains("follow")
    do {
        let connection = try ControlConnection(config)
        _ = connection.send(.logs(pool: arguments.operands[0], lines: lines, follow: follow))
        guard let first = try connection.next() else { return 1 }
        for line in first["lines"]?.arrayValue ?? [] { print(line.stringValue ?? "") }
        guard follow else { return 0 }
        while let next = try connection.next(seconds: nil) { print(next["line"]?.stringValue ?? "") }
        printError("solo: the supervisor stopped")
        return 0
    } catch {
        printError(error.message)
        return error.status
    }
}

struct CommandFailure: Error {
    let status: Int32
    let message: String
}

/// `solo status [POOL] [--json] [--watch]`, `solo stop|start|restart POOL`, `solo scale POOL N`.
func controlCommand(_ command: String, _ rest: [String]) throws -> Int32 {
    let flags = command == "status" ? ["json", "watch", "cluster"] : command == "reload" ? ["json"] : []
    let arguments = try Arguments.parse(rest, command: command, valued: ["config"], flags: flags)
    let path = try Arguments(values: arguments.values).configPath(command: command)
    if arguments.flags.contains("cluster") {
        guard arguments.operands.isEmpty else { throw UsageError("solo status --cluster: no pool (it lists every supervisor)") }
        return clusterStatus(path, json: arguments.flags.contains("json"), watch: arguments.flags.contains("watch"))
    }
    guard let config = ControlTarget.load(path) else { return CronCheck.exitConfig }
    let operands = arguments.operands
    let request: ControlRequest
    switch command {
    case "status":
        guard operands.count <= 1 else { throw UsageError("solo status: at most one pool") }
        request = .status(pool: operands.first)
    case "reload":
        guard operands.isEmpty else { throw UsageError("solo reload: no operand (it reloads the whole config)") }
        request = .reload
    case "scale":
        let usage = "solo scale: name a pool and a number of workers, or a range to scale within (solo scale mailer 8, solo scale mailer 2-16)"
        guard operands.count == 2, let range = try? Values.range(operands[1], { (text) throws(ValueError) in
            try Values.integer(text, in: 0...4096, example: "8")
        }) else { throw UsageError(usage) }
        if operands[1].contains("-") && range.upperBound < 1 { throw UsageError(usage) }
        request = .scale(pool: operands[0], workers: range.lowerBound, maxWorkers: operands[1].contains("-") ? range.upperBound : nil)
    default:
        guard operands.count == 1 else { throw UsageError("solo \(command): name one pool (solo \(command) mailer)") }
        switch command {
        case "stop": request = .stop(pool: operands[0])
        case "start": request = .start(pool: operands[0])
        default: request = .restart(pool: operands[0])
        }
    }
    let watch = arguments.flags.contains("watch")
    repeat {
        switch ask(config, request) {
        case .failure(let failure):
            printError(failure.message)
            return failure.status
        case .success(let reply):
            if case .reload = request {
                if arguments.flags.contains("json") { print(reply.text); return 0 }
                let changes = reply["changes"]
                for (key, label) in [("added", "started"), ("changed", "rolled"), ("removed", "stopping"), ("unchanged", "left alone")] {
                    let names = (changes?[key]?.arrayValue ?? []).compactMap(\.stringValue)
                    if !names.isEmpty { print("\(label): \(names.joined(separator: ", "))") }
                }
                for key in (changes?["needs_restart"]?.arrayValue ?? []).compactMap(\.stringValue) {
                    printError("solo: \(key) changed; restart solo to apply it")
                }
                return 0
            }
            guard case .status = request else { return 0 }
            if arguments.flags.contains("json") {
                print(reply.text)
            } else if watch && FileDescriptor.standardOutput.isTerminal {
                // Redrawn in place, like top.
                print("\u{1B}[H\u{1B}[2J" + StatusView.render(reply))
            } else {
                print(StatusView.render(reply) + (watch ? "\n" : ""))
            }
        }
        if watch { usleep(1_000_000) }
    } while watch
    return 0
}

/// `solo status --cluster [--json] [--watch]`: every live supervisor that shares a Redis
/// server with this config, from the heartbeats they keep there (no supervisor need run here).
private func clusterStatus(_ path: String, json: Bool, watch: Bool) -> Int32 {
    guard let config = loadConfig(path, showWarnings: false)?.config else { return CronCheck.exitConfig }
    let servers = config.global.redisServers(config.pools)
    guard !servers.isEmpty else {
        printError("solo status --cluster: \(config.file) uses no Redis server (no queue = redis://..., no cluster_lock)")
        return 1
    }
    repeat {
        var reports: [JSON] = []
        var owners: Set<String> = []
        for server in servers {
            do {
                let client = try RedisClient(url: server, name: "solo-status")
                let names = (try client.call(RedisCommand("ZRANGE", RedisScripts.nodesKey, "0", "-1")).elements ?? []).compactMap(\.string)
                guard !names.isEmpty else { continue }
                let values = try client.call(RedisCommand(["MGET"] + names.map(RedisScripts.nodeKey))).elements ?? []
                for value in values {
                    guard let text = value.string, let report = try? JSON.parse(text),
                          let owner = report["owner"]?.stringValue, owners.insert(owner).inserted else { continue }
                    reports.append(report)
                }
            } catch {
                printError("solo status --cluster: \(error)")
                return 1
            }
        }
        reports.sort { ($0["owner"]?.stringValue ?? "") < ($1["owner"]?.stringValue ?? "") }
        if json {
            print(JSON.array(reports).text)
        } else {
            let text = reports.isEmpty ? "no live supervisor in \(servers.map(\.description).joined(separator: ", "))" : StatusView.renderCluster(reports)
            print((watch && FileDescriptor.standardOutput.isTerminal ? "\u{1B}[H\u{1B}[2J" : "") + text + (watch ? "\n" : ""))
        }
        if watch { usleep(1_000_000) }
    } while watch
    return 0
}
