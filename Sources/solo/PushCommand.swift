import Glibc
import SoloKit

/// `solo push [--queue NAME] [--delay D] [--priority N] [--max-attempts N] [--group G] [--strict] [PAYLOAD...]`:
/// queues the payloads, or one job per line of standard input, all in one transaction.
func pushCommand(_ rest: [String]) throws -> Int32 {
    let arguments = try Arguments.parse(rest, command: "push",
                                        valued: ["config", "queue", "delay", "priority", "max-attempts", "group"], flags: ["strict"])
    guard let config = try queueConfig(Arguments(values: arguments.values.filter { $0.key == "config" }), command: "push") else {
        return CronCheck.exitConfig
    }
    let target = try QueueTarget.resolve(config, queue: arguments.values["queue"] ?? environment("SOLO_QUEUE"))
    var template = NewJob(payload: [])
    if let text = arguments.values["delay"] {
        do { template.runAt = JobStore.now() + (try Values.duration(text)).nanoseconds / 1_000_000 } catch {
            throw UsageError("solo push: --delay \(error.message)")
        }
    }
    if let text = arguments.values["priority"] {
        guard let priority = Int(text) else { throw UsageError("solo push: --priority \(text) is not a whole number") }
        guard abs(priority) <= 1_000_000 else { throw UsageError("solo push: --priority \(text) is out of range (-1000000 to 1000000)") }
        template.priority = priority
    }
    if let text = arguments.values["max-attempts"] {
        guard let attempts = Int(text), attempts >= 1 else { throw UsageError("solo push: --max-attempts \(text) is not a number of 1 or more") }
        template.maxAttempts = attempts
    }

    let maximum = config.global.maxPayload
    // Standard input is read to its end first: the write lock is taken only for the inserts,
    // not for as long as a slow producer keeps the pipe open.
    var input: [UInt8] = []
    if arguments.operands.isEmpty {
        guard let all = readAllStandardInput() else {
            printError("solo push: cannot read standard input; nothing was queued")
            return 1
        }
        input = all
    }
    let operands = arguments.operands.map { Array($0.utf8) }
    // Every payload is checked before any is sent: a refused one queues nothing, whatever the
    // queue (a Redis push of over 10,000 jobs is sent in several transactions).
    var refusal: String? = nil
    func check(_ payload: UnsafeRawBufferPointer, _ place: String) -> Bool {
        guard let problem = Payloads.problem(in: payload, maximum: maximum) else { return true }
        refusal = "solo push: \(place) \(problem); nothing was queued"
        return false
    }
    if operands.isEmpty {
        guard let lines = input.withUnsafeBytes({ eachLine(of: $0, each: check) }) else {
            printError(refusal ?? "solo push: nothing was queued")
            return exitBadPayload
        }
        // An empty input is an empty batch (a script's query found nothing), not a mistake.
        if lines == 0 {
            printError("solo push: nothing to queue (no payload given, and standard input is empty)")
            return 0
        }
    } else {
        for (index, payload) in operands.enumerated() where !payload.withUnsafeBytes({ check($0, "argument \(index + 1)") }) {
            printError(refusal ?? "solo push: nothing was queued")
            return exitBadPayload
        }
    }
    // A queue no pool takes from is most likely a typo; the jobs would wait for ever. Said on
    // standard error always (scripts log it); --strict refuses the push.
    if target.pools.isEmpty {
        let names = Array(Set(config.pools.filter { $0.queue.feedsJobs }.map(\.queueName))).sorted()
        let hint = Values.suggestion(for: target.queue, among: names).map { " (did you mean \($0)?)" } ?? ""
        let unused = "no pool of \(config.file) takes jobs from queue \(target.queue)\(hint)"
        if arguments.flags.contains("strict") {
            printError("solo push: \(unused); nothing was queued (--strict)")
            return 1
        }
        printError("solo push: warning: \(unused); the jobs wait until one does")
    }

    guard let store = openQueue(target.place, create: true, durable: true, command: "solo push", consequence: "; nothing was queued") else {
        return 1
    }
    // A job pushed by a worker joins the group of the job that worker is running.
    template.group = arguments.values["group"] ?? environment("SOLO_GROUP")
    if template.group == nil, let worker = environment("SOLO_WORKER_ID") {
        template.group = try? store.groupOfJob(heldBy: worker, queue: environment("SOLO_QUEUE") ?? target.queue)
    }

    let writer: any JobWriting
    do { writer = try store.makeWriter(queue: target.queue, template: template) } catch {
        printError("solo push: \(error); nothing was queued")
        return 1
    }
    // What was queued when a Redis push of more than one transaction fails halfway.
    func queued() -> String {
        let count = writer.committedBeforeFailure
        return count == 0 ? "nothing was queued" : "\(count) job\(count == 1 ? " was" : "s were") queued before it failed, the rest were not"
    }
    var failure: String? = nil
    func add(_ payload: UnsafeRawBufferPointer, _ place: String) -> Bool {
        do { try writer.add(payload) } catch {
            failure = "solo push: \(error); \(queued())"
            return false
        }
        return true
    }
    let added = operands.isEmpty
        ? input.withUnsafeBytes({ eachLine(of: $0, each: add) }) != nil
        : operands.allSatisfy { $0.withUnsafeBytes { add($0, "") } }
    guard added else {
        writer.rollback()
        printError(failure ?? "solo push: nothing was queued")
        return 1
    }
    do {
        let count = try writer.commit()
        if FileDescriptor.standardError.isTerminal {
            let group = template.group.map { " in group \($0)" } ?? ""
            printError("queued \(count) job\(count == 1 ? "" : "s") on \(target.queue)\(group)")
        }
        return 0
    } catch {
        printError("solo push: \(error); \(queued())")
        return 1
    }
}

private func readAllStandardInput() -> [UInt8]? {
    var all: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        switch Result(catching: { () throws(Errno) in try FileDescriptor.standardInput.read(into: &chunk) }) {
        case .success(.bytes(let n)): all += chunk[0..<n]
        case .success(.endOfFile), .success(.wouldBlock): return all
        case .failure: return nil
        }
    }
}

/// Feeds each line of `input` to `each` (with its place, "line N", and without its line end);
/// returns the number of lines, or nil as soon as `each` refuses one.
private func eachLine(of input: UnsafeRawBufferPointer, each: (UnsafeRawBufferPointer, String) -> Bool) -> Int? {
    var number = 0
    var start = 0
    while start < input.count {
        var end = start
        while end < input.count && input[end] != UInt8(ascii: "\n") { end += 1 }
        number += 1
        var line = UnsafeRawBufferPointer(rebasing: input[start..<end])
        if line.last == UInt8(ascii: "\r") { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        if !each(line, "line \(number)") { return nil }
        start = end + 1
    }
    return number
}
