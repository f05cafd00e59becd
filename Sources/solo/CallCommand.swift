import SoloKit

/// Exit status of `solo call` when the timeout ran out first (the job stays queued).
let exitCallTimedOut: Int32 = 2

/// `solo call [--queue Q] [--timeout D] [--group G] [--json] PAYLOAD`: queues one job through
/// the running supervisor and prints its result once it is recorded (no polling): 0 done, 1
/// failed (dead), 2 still queued when the timeout ran out.
func callCommand(_ rest: [String]) throws -> Int32 {
    let arguments = try Arguments.parse(rest, command: "call", valued: ["config", "queue", "timeout", "group"], flags: ["json"])
    guard arguments.operands.count == 1 else { throw UsageError("solo call: give one job (solo call --queue images '{\"id\":42}')") }
    var push = ClientRequest.Push(queue: arguments.values["queue"] ?? environment("SOLO_QUEUE"), payloads: arguments.operands)
    push.group = arguments.values["group"]
    var timeout = ClientRequest.defaultTimeout
    if let text = arguments.values["timeout"] {
        do { timeout = try Values.duration(text, in: .zero...ClientRequest.longestTimeout, usual: "30s") } catch {
            throw UsageError("solo call: --timeout \(error.message)")
        }
    }
    guard let config = ControlTarget.load(try Arguments(values: arguments.values.filter { $0.key == "config" }).configPath(command: "call")) else {
        return CronCheck.exitConfig
    }
    switch ask(config, .client(.call(push, timeout: timeout)), within: timeout + .seconds(10), refusals: true) {
    case .failure(let failure):
        printError(failure.message)
        return failure.status
    case .success(let reply):
        if arguments.flags.contains("json") { print(reply.text) }
        if reply["ok"]?.boolValue == true {
            if !arguments.flags.contains("json") { print(reply["result"]?.stringValue ?? "") }
            return 0
        }
        printError("solo call: \(reply["error"]?.stringValue ?? "the supervisor refused")")
        return reply["timeout"]?.boolValue == true ? exitCallTimedOut : 1
    }
}
