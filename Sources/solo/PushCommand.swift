import Glibc
import SoloKit

/// Exit statuses of `solo push` when unique keys refused jobs (solo(1), EXIT STATUS): some of
/// them (the others were queued), or every one (nothing was queued).
let exitSomeDuplicates: Int32 = 10
let exitAllDuplicates: Int32 = 11

/// `solo push [--queue NAME] [--delay D] [--priority N] [--max-attempts N] [--group G] [--key K]
/// [--strict] [--unique KEY | --unique-payload] [--unique-for D] [--json] [PAYLOAD...]`: queues the
/// payloads, or one job per line of standard input, all in one transaction; a job whose unique
/// key another job holds is left out and named, and the others are queued.
func pushCommand(_ rest: [String]) throws -> Int32 {
    let arguments = try Arguments.parse(rest, command: "push",
                                        valued: ["config", "queue", "delay", "priority", "max-attempts", "group", "key", "unique", "unique-for"],
                                        flags: ["strict", "unique-payload", "json"])
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
    if let key = arguments.values["key"] {
        // The key the pool's key_concurrency and key_rate_limit count the jobs under.
        if let problem = UniqueKey.problem(key) { throw UsageError("solo push: --key \(key) \(problem); give a printable key, like customer:42") }
        template.limitKey = key
    }
    let uniqueKey = try uniqueKeying(arguments, &template)

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
    // The unique key of each job added, and where it came from, to name the duplicates.
    var places: [(place: String, key: String)] = []
    func add(_ payload: UnsafeRawBufferPointer, _ place: String) -> Bool {
        let key = uniqueKey?(payload)
        if let key { places.append((place, key)) }
        do { try writer.add(payload, uniqueKey: key) } catch {
            failure = "solo push: \(error); \(queued())"
            return false
        }
        return true
    }
    let added = operands.isEmpty
        ? input.withUnsafeBytes({ eachLine(of: $0, each: add) }) != nil
        : operands.enumerated().allSatisfy { index, payload in payload.withUnsafeBytes { add($0, "argument \(index + 1)") } }
    guard added else {
        writer.rollback()
        printError(failure ?? "solo push: nothing was queued")
        return 1
    }
    let pushed: Pushed
    do { pushed = try writer.commit() } catch {
        printError("solo push: \(error); \(queued())")
        return 1
    }
    return report(pushed, places: places, queue: target.queue, group: template.group, json: arguments.flags.contains("json"))
}

/// The unique key each payload is pushed with (`--unique KEY`: that key; `--unique-payload`: the
/// payload's own), or nil without either; sets how long a key outlives its job (`--unique-for`).
private func uniqueKeying(_ arguments: Arguments, _ template: inout NewJob) throws -> ((UnsafeRawBufferPointer) -> String)? {
    let byPayload = arguments.flags.contains("unique-payload")
    if let text = arguments.values["unique-for"] {
        guard arguments.values["unique"] != nil || byPayload else {
            throw UsageError("solo push: --unique-for needs a unique key: add --unique KEY or --unique-payload")
        }
        do { template.uniqueFor = try Values.duration(text) } catch { throw UsageError("solo push: --unique-for \(error.message)") }
    }
    if let key = arguments.values["unique"] {
        guard !byPayload else { throw UsageError("solo push: --unique and --unique-payload are two ways to key a job; give one") }
        if let problem = UniqueKey.problem(key) { throw UsageError("solo push: --unique \(key) \(problem); give a printable key") }
        return { _ in key }
    }
    guard byPayload else { return nil }
    return { UniqueKey.of(payload: $0) }
}

/// Says what a push did: each duplicate (on standard error, or with `--json` in the JSON on
/// standard output), and the count on a terminal; returns the exit status.
private func report(_ pushed: Pushed, places: [(place: String, key: String)], queue: String, group: String?, json: Bool) -> Int32 {
    if json {
        print(JSON.object([("queue", .string(queue)), ("queued", .number(Int64(pushed.queued))),
                           ("duplicates", .array(pushed.duplicates.map { duplicate in
                               .object([("line", .number(Int64(duplicate.index + 1))), ("unique_key", .string(places[duplicate.index].key)),
                                        ("job", .number(duplicate.existing))])
                           }))]).text)
    } else {
        for duplicate in pushed.duplicates {
            let (place, key) = places[duplicate.index]
            printError("solo push: \(place): a duplicate of job \(duplicate.existing), which holds unique key \(key); not queued")
        }
    }
    if FileDescriptor.standardError.isTerminal || !pushed.duplicates.isEmpty {
        let inGroup = group.map { " in group \($0)" } ?? ""
        let refused = pushed.duplicates.isEmpty ? "" : " (\(pushed.duplicates.count) duplicate\(pushed.duplicates.count == 1 ? "" : "s") not queued)"
        printError("queued \(pushed.queued) job\(pushed.queued == 1 ? "" : "s") on \(queue)\(inGroup)\(refused)")
    }
    if pushed.duplicates.isEmpty { return 0 }
    return pushed.queued == 0 ? exitAllDuplicates : exitSomeDuplicates
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
