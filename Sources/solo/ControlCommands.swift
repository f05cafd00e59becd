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

    /// The supervisor's pid, as this process sees it (the kernel's, not the supervisor's word).
    var supervisorPid: pid_t? { (try? UnixSocket.peer(socket)).map(\.pid).flatMap { $0 > 0 ? $0 : nil } }

    /// The next line from the supervisor, parsed; nil at end of file. Waits `timeout` at most
    /// (for ever when nil), then throws `late`. A refusal (`ok: false`) throws, unless `refusals`
    /// are answers too.
    func next(within timeout: Duration? = .seconds(10), late: CommandFailure? = nil, refusals: Bool = false) throws(CommandFailure) -> JSON? {
        let deadline = timeout.map { Moment.now() + $0 }
        while !pending.contains(UInt8(ascii: "\n")) {
            guard Poll.wait(socket, milliseconds: deadline.map { $0.millisecondsFrom(.now()) } ?? -1).any else {
                throw late ?? CommandFailure(status: 1, message: "solo: the supervisor did not answer within \(Values.formatDuration(timeout ?? .zero))")
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
        if reply["ok"]?.boolValue == false && !refusals {
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

/// Sends one request to the running supervisor and returns its answer, waiting `timeout` at
/// most for it (then failing with `late`).
func ask(_ config: ControlTarget, _ request: ControlRequest, within timeout: Duration? = .seconds(10),
                 late: CommandFailure? = nil, refusals: Bool = false) -> Result<JSON, CommandFailure> {
    do {
        let connection = try ControlConnection(config)
        let sendError = connection.send(request)
        guard let reply = try connection.next(within: timeout, late: late, refusals: refusals) else {
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
        for line in first["lines"]?.arrayValue ?? [] { print(Printable.escape(line.stringValue ?? "")) }
        guard follow else { return 0 }
        while let next = try connection.next(within: nil) { print(Printable.escape(next["line"]?.stringValue ?? "")) }
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

/// `--timeout D` of the commands that wait: 90s unless given (a stop with the default
/// stop_timeout takes up to a minute); 0 waits for as long as it takes (nil).
private func waitTimeout(_ text: String?, command: String) throws -> Duration? {
    guard let text else { return .seconds(90) }
    do {
        let timeout = try Values.duration(text)
        return timeout == .zero ? nil : timeout
    } catch {
        throw UsageError("solo \(command): --timeout \(error.message)")
    }
}

/// `solo status [POOL] [--json] [--watch]`, `solo stop|start|restart POOL...|all [--wait]`,
/// `solo scale POOL N`, `solo reload`.
func controlCommand(_ command: String, _ rest: [String]) throws -> Int32 {
    let steering = ControlRequest.Steering(rawValue: command)
    let flags = command == "status" ? ["json", "watch", "cluster"] : command == "reload" ? ["json"] : steering != nil ? ["wait"] : []
    let arguments = try Arguments.parse(rest, command: command, valued: steering != nil ? ["config", "timeout"] : ["config"], flags: flags)
    let path = try Arguments(values: arguments.values).configPath(command: command)
    let wait = arguments.flags.contains("wait")
    if arguments.values["timeout"] != nil && !wait { throw UsageError("solo \(command): --timeout goes with --wait") }
    let timeout = wait ? try waitTimeout(arguments.values["timeout"], command: command) : .seconds(10)
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
        request = try ControlRequest.scaling(operands: operands)
    default:
        request = try ControlRequest.steering(steering!, operands: operands, wait: wait)
    }
    let watch = arguments.flags.contains("watch")
    let late = wait ? CommandFailure(status: exitTimedOut, message: "solo \(command): not done within \(Values.formatDuration(timeout ?? .zero)); the supervisor goes on (solo status shows where the pools are)") : nil
    repeat {
        switch ask(config, request, within: timeout, late: late) {
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
            for note in (reply["notes"]?.arrayValue ?? []).compactMap(\.stringValue) { printError("solo: \(note)") }
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
        if watch { Moment.sleep(for: .seconds(1)) }
    } while watch
    return 0
}

/// `solo shutdown [FILE] [--timeout D]`: stops the supervisor as SIGTERM does, and returns
/// once it has exited; 124 when it still runs after the timeout (it goes on stopping).
func shutdownCommand(_ rest: [String]) throws -> Int32 {
    let arguments = try Arguments.parse(rest, command: "shutdown", valued: ["config", "timeout"], flags: [])
    let timeout = try waitTimeout(arguments.values["timeout"], command: "shutdown")
    guard let config = ControlTarget.load(try arguments.configPath(command: "shutdown")) else { return CronCheck.exitConfig }
    let deadline = timeout.map { Moment.now() + $0 }
    let exited: FileDescriptor
    let pid: pid_t
    do throws(CommandFailure) {
        let connection = try ControlConnection(config)
        guard let supervisor = connection.supervisorPid else { throw CommandFailure(status: 1, message: "solo shutdown: cannot tell the supervisor's pid") }
        pid = supervisor
        // Watched before it is asked to stop, so that its exit cannot be missed.
        do { exited = try Processes.exitDescriptor(of: pid) } catch {
            throw CommandFailure(status: 1, message: "solo shutdown: cannot watch the supervisor (pid \(pid)): \(error)")
        }
        let sendError = connection.send(.shutdown)
        guard try connection.next() != nil else {
            throw CommandFailure(status: 1, message: "solo: the supervisor closed the connection" + (sendError.map { ": \($0)" } ?? ""))
        }
    } catch {
        printError(error.message)
        return error.status
    }
    defer { exited.close() }
    guard Poll.wait(exited, milliseconds: deadline.map { $0.millisecondsFrom(.now()) } ?? -1).any else {
        printError("solo shutdown: the supervisor (pid \(pid)) still runs after \(Values.formatDuration(timeout ?? .zero)): its workers have not all stopped yet; it goes on (kill -TERM \(pid) kills them at once)")
        return exitTimedOut
    }
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
        let reports: [JSON]
        do { reports = try ClusterReports.read(servers, clientName: "solo-status") } catch {
            printError("solo status --cluster: \(error)")
            return 1
        }
        if json {
            print(JSON.array(reports).text)
        } else {
            let text = reports.isEmpty ? "no live supervisor in \(servers.map(\.description).joined(separator: ", "))" : StatusView.renderCluster(reports)
            print((watch && FileDescriptor.standardOutput.isTerminal ? "\u{1B}[H\u{1B}[2J" : "") + text + (watch ? "\n" : ""))
        }
        if watch { Moment.sleep(for: .seconds(1)) }
    } while watch
    return 0
}
