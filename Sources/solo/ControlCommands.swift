import Glibc
import SoloKit

/// Exit status when no supervisor runs for the config (as LSB's `status` does).
let exitNotRunning: Int32 = 3

/// Sends one request to the running supervisor and returns its answer.
private func ask(_ config: SoloConfig, _ request: ControlRequest) -> Result<JSON, CommandFailure> {
    // A supervisor that refuses us closes the socket: read its reason instead of dying of SIGPIPE.
    try? Signals.ignore(SIGPIPE)
    let path = ControlSocket.path(config)
    let socket: FileDescriptor
    do { socket = try UnixSocket.connect(to: path) } catch {
        if error == .noSuchFile || error.rawValue == ECONNREFUSED {
            return .failure(CommandFailure(status: exitNotRunning, message: "solo: no supervisor runs for \(config.file) (nothing listens on \(path))"))
        }
        return .failure(CommandFailure(status: 1, message: "solo: cannot reach the supervisor at \(path): \(error)"))
    }
    defer { socket.close() }
    // A failed send is not the end: a refusal may be waiting to be read.
    let sent = Result { () throws(Errno) in try socket.writeAll(request.json.text + "\n") }
    var answer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    let deadline = Moment.now() + .seconds(10)
    while !answer.contains(UInt8(ascii: "\n")) {
        var poller = pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)
        let wait = deadline.millisecondsFrom(Moment.now())
        guard wait > 0, poll(&poller, 1, wait) > 0 else {
            return .failure(CommandFailure(status: 1, message: "solo: the supervisor did not answer within 10s"))
        }
        guard case .bytes(let n)? = try? socket.read(into: &chunk) else { break }
        answer += chunk[0..<n]
    }
    let line = String(decoding: answer.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    if line.isEmpty, case .failure(let error) = sent {
        return .failure(CommandFailure(status: 1, message: "solo: cannot send to the supervisor: \(error)"))
    }
    guard let reply = try? JSON.parse(line) else {
        return .failure(CommandFailure(status: 1, message: "solo: the supervisor's answer is not JSON: \(line.prefix(200))"))
    }
    if reply["ok"]?.boolValue != true {
        return .failure(CommandFailure(status: 1, message: "solo: \(reply["error"]?.stringValue ?? "the supervisor refused")"))
    }
    return .success(reply)
}

struct CommandFailure: Error {
    let status: Int32
    let message: String
}

/// `solo status [POOL] [--json] [--watch]`, `solo stop|start|restart POOL`, `solo scale POOL N`.
func controlCommand(_ command: String, _ rest: [String]) throws -> Int32 {
    let flags = command == "status" ? ["json", "watch"] : []
    let arguments = try Arguments.parse(rest, command: command, valued: ["config"], flags: flags)
    let path = try Arguments(values: arguments.values).configPath(command: command)
    guard let config = loadConfig(path, showWarnings: false)?.config else { return CronCheck.exitConfig }
    let operands = arguments.operands
    let request: ControlRequest
    switch command {
    case "status":
        guard operands.count <= 1 else { throw UsageError("solo status: at most one pool") }
        request = .status(pool: operands.first)
    case "scale":
        guard operands.count == 2, let workers = Int(operands[1]), workers >= 0 else {
            throw UsageError("solo scale: name a pool and a number of workers (solo scale mailer 8)")
        }
        request = .scale(pool: operands[0], workers: workers)
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
