import SoloKit

/// Exit status of `solo push` for a refused payload (EX_DATAERR), and of `solo wait` on timeout.
let exitBadPayload: Int32 = 65
let exitTimedOut: Int32 = 124

/// Reads a config for the queue commands; nil after printing its errors.
func queueConfig(_ arguments: Arguments, command: String) throws -> SoloConfig? {
    loadConfig(try arguments.configPath(command: command), showWarnings: false)?.config
}

/// The queues of `places` that exist (each SQLite file there is, each Redis server); nil
/// (after saying why) when one cannot be opened, or a file cannot even be looked for: a
/// queue this user may not see is an error, not an empty one.
private func openQueues(_ places: [QueueSetting], command: String = "solo") -> [any JobQueue]? {
    var queues: [any JobQueue] = []
    for place in places {
        if case .sqlite(let path) = place {
            do {
                guard try Files.isPresent(path) else { continue }
            } catch {
                printError("\(command): \(QueueError.unreachable(path, error))")
                return nil
            }
        }
        guard let queue = openQueue(place, create: false, command: command) else { return nil }
        queues.append(queue)
    }
    return queues
}

/// Runs `body` on each queue of `openQueues`; false (after saying why) when one cannot be
/// opened or used.
private func forEachQueue(_ places: [QueueSetting], _ body: (any JobQueue) throws -> Void) -> Bool {
    guard let queues = openQueues(places, command: "solo queue") else { return false }
    do {
        for queue in queues { try body(queue) }
    } catch {
        printError("solo queue: \(error)")
        return false
    }
    return true
}

/// The queue's file or server, or nil after saying why not (`command` and `consequence` frame
/// the message).
func openQueue(_ place: QueueSetting, create: Bool, durable: Bool = false, command: String = "solo",
                       consequence: String = "") -> (any JobQueue)? {
    do {
        return try place.open(create: create, durable: durable, clientName: "solo-\(command.split(separator: " ").last ?? "cli")")
    } catch {
        printError("\(command): \(error)\(consequence)")
        return nil
    }
}

func environment(_ name: String) -> String? {
    Host.variable(name).flatMap { $0.isEmpty ? nil : $0 }
}

// MARK: - solo queue

/// Which `solo queue` action takes which option: anything else is refused, never ignored.
let queueActions = ActionOptions(command: "queue", valued: ["config", "queue", "state", "limit", "id", "reason"], defaultAction: "stats", actions: [
    .init("stats", takes: ["config", "queue", "json"]),
    .init("list", takes: ["config", "queue", "json", "state", "limit"]),
    .init("dead", takes: ["config", "queue", "json", "limit"]),
    .init("retry", takes: ["config", "queue", "id", "all"], needsOneOf: ["id", "all"], exclusive: [("id", "all")]),
    .init("bury", takes: ["config", "queue", "id", "reason"], needsOneOf: ["id"]),
    .init("purge", takes: ["config", "queue", "state", "id", "yes"], exclusive: [("id", "state")]),
])

/// `solo queue [stats|list|dead|retry|bury|purge] [--queue NAME] [--json] ...`
func queueCommand(_ rest: [String]) throws -> Int32 {
    let (chosen, arguments) = try queueActions.parse(rest)
    let action = chosen.name
    guard let config = try queueConfig(Arguments(values: arguments.values.filter { $0.key == "config" }), command: "queue") else {
        return CronCheck.exitConfig
    }
    let json = arguments.flags.contains("json")
    let queue = arguments.values["queue"]
    var limit = 100
    if let text = arguments.values["limit"] {
        guard let number = Int(text), number >= 1 else { throw UsageError("solo queue \(action): --limit \(text) is not a number of 1 or more") }
        limit = number
    }
    let places = queue == nil ? QueueTarget.places(config) : [try QueueTarget.resolve(config, queue: queue).place]
    guard !places.isEmpty else { throw UsageError("solo queue: no pool of \(config.file) has a queue") }
    var ids: [Int64]? = nil
    if let text = arguments.values["id"] {
        let words = text.split(separator: ",", omittingEmptySubsequences: false)
        let numbers = words.compactMap { Int64($0) }.filter { $0 > 0 }
        guard numbers.count == words.count else {
            throw UsageError("solo queue \(action): --id \(text) is not a list of job ids (like 12 or 12,13)")
        }
        if places.count > 1 {
            throw UsageError("solo queue \(action): job ids are per queue file or server and the config has \(places.count); say which with --queue")
        }
        // Each id once, in the order given: `--id 5,5` is one job, not a second change of it.
        var seen = Set<Int64>()
        ids = numbers.filter { seen.insert($0).inserted }
    }

    switch action {
    case "stats":
        var rows: [(String, QueueCounts)] = []
        guard forEachQueue(places, { store in
            for counts in try store.counts() where queue == nil || counts.queue == queue { rows.append((store.location, counts)) }
        }) else { return 1 }
        if json {
            print(JSON.array(rows.map { path, c in
                .object([("file", .string(path)), ("queue", .string(c.queue)), ("ready", .number(Int64(c.ready))),
                         ("delayed", .number(Int64(c.delayed))), ("reserved", .number(Int64(c.reserved))),
                         ("done", .number(Int64(c.done))), ("dead", .number(Int64(c.dead)))])
            }).text)
        } else {
            print(StatusView.columns([["QUEUE", "READY", "DELAYED", "RESERVED", "DONE", "DEAD"]]
                        + rows.map { [$0.1.queue, "\($0.1.ready)", "\($0.1.delayed)", "\($0.1.reserved)", "\($0.1.done)", "\($0.1.dead)"] }))
        }
        return 0

    case "list", "dead":
        let states = action == "dead" ? ["dead"] : (arguments.values["state"] ?? "ready,delayed,reserved").split(separator: ",").map(String.init)
        let known = ["ready", "delayed", "reserved", "done", "dead"]
        if let bad = states.first(where: { !known.contains($0) }) {
            throw UsageError("solo queue: --state \(bad) is not a state (\(known.joined(separator: ", ")))")
        }
        var records: [JobRecord] = []
        guard forEachQueue(places, { records += try $0.jobs(queue: queue, states: states, group: nil, after: 0, limit: limit) }) else { return 1 }
        if json {
            print(JSON.array(records.map(\.json)).text)
        } else if action == "dead" {
            print(StatusView.columns([["ID", "QUEUE", "ATTEMPTS", "ERROR", "PAYLOAD"]]
                        + records.map { ["\($0.id)", $0.queue, "\($0.attempts)", clip($0.error ?? ""), clip($0.payload)] }))
        } else {
            print(StatusView.columns([["ID", "QUEUE", "STATE", "PRIORITY", "ATTEMPTS", "GROUP", "UNIQUE", "PAYLOAD"]]
                        + records.map { ["\($0.id)", $0.queue, $0.state, "\($0.priority)", "\($0.attempts)", $0.group ?? "",
                                         clip($0.uniqueKey ?? "", 24), clip($0.payload)] }))
        }
        return 0

    case "retry":
        if let ids { return try changeJobs(.retry, ids: ids, places: places, queue: queue) }
        var count = 0
        guard forEachQueue(places, { count += try $0.retryDead(queue: queue) }) else { return 1 }
        print("\(count) dead job\(count == 1 ? "" : "s") back in the queue")
        return 0

    case "bury":
        return try changeJobs(.bury(reason: arguments.values["reason"] ?? "buried by operator"), ids: ids ?? [], places: places, queue: queue)

    default:
        let states = (arguments.values["state"] ?? "done,dead").split(separator: ",").map(String.init)
        if let bad = states.first(where: { !JobChange.delete.from.contains($0) }) {
            throw UsageError("solo queue purge: --state \(bad) cannot be purged (\(JobChange.delete.from.joined(separator: ", ")))")
        }
        let what = ids.map { "job\($0.count == 1 ? "" : "s") \($0.map(String.init).joined(separator: ", "))" }
            ?? "\(states.joined(separator: " and ")) jobs of \(queue.map { "queue \($0)" } ?? "every queue")"
        if !arguments.flags.contains("yes") {
            guard FileDescriptor.standardInput.isTerminal else {
                throw UsageError("solo queue purge: add --yes to delete the \(what) without a question")
            }
            try? FileDescriptor.standardError.writeAll("delete the \(what)? type yes: ")
            var answer = [UInt8](repeating: 0, count: 64)
            guard case .bytes(let n)? = try? FileDescriptor.standardInput.read(into: &answer),
                  String(decoding: answer[0..<n], as: UTF8.self).trimmingSpacesAndNewlines() == "yes" else {
                printError("nothing deleted")
                return 1
            }
        }
        if let ids { return try changeJobs(.delete, ids: ids, places: places, queue: queue) }
        var count = 0
        guard forEachQueue(places, { count += try $0.purge(queue: queue, states: states) }) else { return 1 }
        print("deleted \(count) job\(count == 1 ? "" : "s")")
        return 0
    }
}

/// `solo queue retry|bury|purge --id`: changes the jobs named, says which were not changed
/// (no such job, or in a state the change does not take) and exits 1 if any was not.
private func changeJobs(_ change: JobChange, ids: [Int64], places: [QueueSetting], queue: String?) throws -> Int32 {
    let action = change == .delete ? "purge" : change.name
    var before: [Int64: String] = [:]
    guard forEachQueue(places, { before.merge(try $0.change(change, ids: ids, queue: queue)) { first, _ in first } }) else { return 1 }
    let place = (queue.map { "queue \($0) in " } ?? "") + places.map(\.location).joined(separator: ", ")
    var changed = 0
    for id in ids {
        guard let state = before[id] else {
            printError("solo queue \(action): no job \(id) in \(place)")
            continue
        }
        guard change.from.contains(state) else {
            let running = state == "reserved" ? "; a worker may be running it" : ""
            printError("solo queue \(action): job \(id) is \(state), left as it is (\(action) takes \(change.from.joined(separator: " or ")) jobs\(running))")
            continue
        }
        changed += 1
    }
    let jobs = "job\(changed == 1 ? "" : "s")"
    switch change {
    case .retry: print("\(changed) dead \(jobs) back in the queue")
    case .bury: print("buried \(changed) \(jobs)")
    case .delete: print("deleted \(changed) \(jobs)")
    }
    return changed == ids.count ? 0 : 1
}

/// A payload, result or error for a table or a message: on one line, its control characters
/// escaped, cut at `width`.
func clip(_ text: String, _ width: Int = 60) -> String {
    let flat = Printable.escape(text.replacingNewlines())
    return flat.count > width ? String(flat.prefix(width - 3)) + "..." : flat
}

extension String {
    func replacingNewlines() -> String { String(map { $0.isNewline ? " " : $0 }) }

    func trimmingSpacesAndNewlines() -> String {
        var text = Substring(self)
        while let c = text.first, c.isWhitespace { text.removeFirst() }
        while let c = text.last, c.isWhitespace { text.removeLast() }
        return String(text)
    }
}

// MARK: - solo wait

/// `solo wait GROUP [--timeout T] [--results]`: blocks until every job of the group is done or
/// dead; exits 1 when any is dead, 124 on timeout.
func waitCommand(_ rest: [String]) throws -> Int32 {
    let arguments = try Arguments.parse(rest, command: "wait", valued: ["config", "queue", "timeout"], flags: ["results", "json"])
    guard let group = arguments.operands.first, arguments.operands.count == 1 else {
        throw UsageError("solo wait: name one group (solo wait GROUP)")
    }
    if arguments.flags.contains("json") && !arguments.flags.contains("results") {
        throw UsageError("solo wait: --json applies to --results only (add --results)")
    }
    var deadline: Moment? = nil
    if let text = arguments.values["timeout"] {
        do { deadline = Moment.now() + (try Values.duration(text)) } catch { throw UsageError("solo wait: --timeout \(error.message)") }
    }
    guard let config = try queueConfig(Arguments(values: arguments.values.filter { $0.key == "config" }), command: "wait") else {
        return CronCheck.exitConfig
    }
    let places = arguments.values["queue"] == nil ? QueueTarget.places(config) : [try QueueTarget.resolve(config, queue: arguments.values["queue"]).place]
    guard let stores = openQueues(places, command: "solo wait") else { return 1 }
    guard !stores.isEmpty else {
        printError("solo wait: no queue file yet (\(places.map(\.location).joined(separator: ", ")))")
        return 1
    }
    // A commit to a queue file wakes the wait at once; Redis is asked again five times a second.
    let watch = try? DirectoryWatch()
    var pollMilliseconds: Int32 = 1000
    for place in places {
        switch place {
        case .sqlite(let path): try? watch?.watch(Path.directory(of: path))
        case .redis: pollMilliseconds = 200
        case .none: break
        }
    }
    let live = FileDescriptor.standardError.isTerminal
    let started = Moment.now()
    var counts = QueueCounts(queue: group)
    var waited = false
    while true {
        counts = QueueCounts(queue: group)
        for store in stores { counts.add(try store.groupCounts(group)) }
        if live { try? FileDescriptor.standardError.writeAll("\r" + Progress.line(counts, elapsed: Moment.now() - started) + "\u{1B}[K") }
        if counts.total == 0 {
            if live { try? FileDescriptor.standardError.writeAll("\n") }
            printError("solo wait: group \(group) has no job")
            return 1
        }
        if counts.pending == 0 { break }
        if let deadline, Moment.now() >= deadline {
            if live { try? FileDescriptor.standardError.writeAll("\n") }
            printError("solo wait: timed out: group \(group) has \(counts.pending) job\(counts.pending == 1 ? "" : "s") left of \(counts.total)")
            return exitTimedOut
        }
        waited = true
        let wait = max(1, min(pollMilliseconds, deadline.map { $0.millisecondsFrom(Moment.now()) } ?? pollMilliseconds))
        if let watch {
            _ = Poll.wait(watch.descriptor, milliseconds: wait)
            _ = watch.drain()
        } else {
            Moment.sleep(for: .milliseconds(wait))
        }
    }
    if live { try? FileDescriptor.standardError.writeAll("\r" + Progress.line(counts, elapsed: Moment.now() - started) + "\u{1B}[K\n") }
    // The group's own time, from its first job queued to its last finished: not this wait's,
    // which is nothing for a group that had finished before it began.
    var span: GroupSpan? = nil
    for store in stores { if let own = try store.groupSpan(group) { span = own.merged(span) } }
    let took = span.map { "in " + Values.formatElapsed(.milliseconds($0.last - $0.first)) } ?? (waited ? "in " + Values.formatElapsed(Moment.now() - started) : "already finished")
    printError("group \(group): \(counts.total) job\(counts.total == 1 ? "" : "s"), \(counts.done) done, \(counts.dead) dead, \(took)")

    if arguments.flags.contains("results") {
        // Page by page: a large group's results are never all in memory at once.
        var first = true
        if arguments.flags.contains("json") { print("[", terminator: "") }
        for store in stores {
            var after: Int64 = 0
            while true {
                let page = try store.jobs(queue: nil, states: ["done"], group: group, after: after, limit: 1000)
                for job in page {
                    if arguments.flags.contains("json") {
                        print((first ? "" : ",") + job.json.text, terminator: "")
                    } else {
                        print(Printable.escape(job.result ?? ""))
                    }
                    first = false
                }
                guard let last = page.last, page.count == 1000 else { break }
                after = last.id
            }
        }
        if arguments.flags.contains("json") { print("]") }
    }
    var shown = 0
    for store in stores where shown < 10 {
        for job in try store.jobs(queue: nil, states: ["dead"], group: group, after: 0, limit: 10 - shown) {
            printError("dead job \(job.id): \(Printable.escape(job.error ?? "?")) (payload \(clip(job.payload, 40)))")
            shown += 1
        }
    }
    if counts.dead > shown { printError("... and \(counts.dead - shown) more dead (solo queue dead)") }
    return counts.dead == 0 ? 0 : 1
}
