/// A queue's figures as every queue script returns them: ready (the inbox counted in),
/// delayed, reserved and dead jobs, and when the next delayed job is due.
public struct RedisSummary: Equatable, Sendable {
    public var counts: QueueCounts
    /// From the server's clock: how long until the next delayed job is due (nil: none waits).
    public var nextDelayedIn: Duration?

    /// Whether the summary looked for the oldest waiting job (only the `summary` script does:
    /// those sent with every reserve and commit leave it out, for their cost).
    public var lookedForOldest = false

    static let fieldCount = 8

    /// ready, delayed, reserved, dead, ms to the next delayed job (-1: none), held back by
    /// key_concurrency, by key_rate_limit, age of the oldest waiting job in ms (-1: none, -2:
    /// not looked for).
    public static func parse(_ items: ArraySlice<RESPValue>, queue: String) -> RedisSummary? {
        guard items.count >= fieldCount else { return nil }
        let numbers = items.prefix(fieldCount).map(\.integer)
        guard numbers.allSatisfy({ $0 != nil }) else { return nil }
        var counts = QueueCounts(queue: queue)
        counts.ready = Int(numbers[0]!)
        counts.delayed = Int(numbers[1]!)
        counts.reserved = Int(numbers[2]!)
        counts.dead = Int(numbers[3]!)
        let wait = numbers[4]!
        counts.heldByKeyConcurrency = Int(numbers[5]!)
        counts.heldByKeyRate = Int(numbers[6]!)
        let oldest = numbers[7]!
        counts.oldestWaitingMs = oldest >= 0 ? oldest : nil
        return RedisSummary(counts: counts, nextDelayedIn: wait < 0 ? nil : .milliseconds(wait), lookedForOldest: oldest != -2)
    }
}

/// Reads what the queue scripts return (see RedisScripts).
public enum RedisReplies {
    /// What the reserve script took: the summary, the queue's own limit that cut it short and
    /// when its rate_limit lets the next job go, and the jobs leased.
    public struct Reserved {
        public var summary: RedisSummary
        public var limitedBy: LimitName?
        public var nextTurnIn: Duration?
        public var jobs: [ReservedJob]
    }

    /// The reserve script's reply: the summary, the limit ('' for none) and ms to the next turn
    /// (-1: none), then 7 fields a job (see RedisScripts.reserve).
    public static func reserved(_ value: RESPValue, queue: String) -> Reserved? {
        guard let items = value.elements, let summary = RedisSummary.parse(items[...], queue: queue),
              items.count >= RedisSummary.fieldCount + 2, let turn = items[RedisSummary.fieldCount + 1].integer else { return nil }
        let limit = items[RedisSummary.fieldCount].string ?? ""
        let fields = items.dropFirst(RedisSummary.fieldCount + 2)
        guard fields.count % 7 == 0 else { return nil }
        var jobs: [ReservedJob] = []
        var index = fields.startIndex
        while index < fields.endIndex {
            guard let id = fields[index].integer, case .bulk(let payload?) = fields[index + 1],
                  let priority = fields[index + 2].integer, let attempts = fields[index + 3].integer,
                  let waited = fields[index + 6].integer else { return nil }
            let maxAttempts = fields[index + 4].integer.map(Int.init)
            let group = fields[index + 5].string.flatMap { $0.isEmpty ? nil : $0 }
            jobs.append(ReservedJob(id: id, payload: String(decoding: payload, as: UTF8.self), priority: Int(priority),
                                    attempts: Int(attempts), maxAttempts: maxAttempts, group: group,
                                    payloadProblem: Payloads.problem(in: payload, maximum: Int.max), waited: .milliseconds(max(0, waited))))
            index += 7
        }
        return Reserved(summary: summary, limitedBy: LimitName(rawValue: limit), nextTurnIn: turn < 0 ? nil : .milliseconds(turn), jobs: jobs)
    }

    /// The command that reads a group's counters in a queue, and its reply read.
    public static func groupCounts(of group: String, queue: String) -> RedisCommand {
        RedisCommand("HMGET", "\(RedisScripts.prefix(queue)):group:\(group)", "ready", "delayed", "reserved", "done", "dead")
    }

    public static func groupCounts(_ value: RESPValue, group: String) -> QueueCounts? {
        let numbers = (value.elements ?? []).map { Int($0.integer ?? 0) }
        guard numbers.count == 5 else { return nil }
        var counts = QueueCounts(queue: group)
        (counts.ready, counts.delayed, counts.reserved, counts.done, counts.dead) = (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4])
        return counts
    }

    /// The list script's reply: job records.
    public static func records(_ value: RESPValue, queue: String) -> [JobRecord]? {
        guard let items = value.elements else { return nil }
        let width = RedisScripts.recordFields.count + 1
        guard items.count % width == 0 else { return nil }
        var records: [JobRecord] = []
        for start in stride(from: 0, to: items.count, by: width) {
            func text(_ offset: Int) -> String? { items[start + offset].string.flatMap { $0.isEmpty ? nil : $0 } }
            func number(_ offset: Int) -> Int64? { text(offset).flatMap { Int64($0) } }
            guard let id = items[start].integer else { return nil }
            records.append(JobRecord(id: id, queue: queue, state: text(1) ?? "", payload: items[start + 2].string ?? "",
                                     priority: Int(number(3) ?? 0), attempts: Int(number(4) ?? 0), maxAttempts: number(5).map(Int.init),
                                     group: text(6), runAt: number(7) ?? 0, createdAt: number(8) ?? 0, finishedAt: number(9),
                                     result: text(10), error: text(11), uniqueKey: text(12)))
        }
        return records
    }
}

/// What the fleet lock's take script (RedisScripts.lockAcquire) answered.
public enum LockTake: Equatable, Sendable {
    /// The token holds the lock, with this fencing number.
    case held(fence: Int64)
    /// Another token holds it; `left` is its time to live (nil: no expiry, set by hand).
    case heldBy(String, left: Duration?)

    public init?(_ value: RESPValue) {
        guard let parts = value.elements, let first = parts.first?.integer else { return nil }
        if first == 1 {
            guard parts.count >= 2, let fence = parts[1].integer else { return nil }
            self = .held(fence: fence)
        } else {
            let left = parts.count > 2 ? parts[2].integer ?? -1 : -1
            self = .heldBy(parts.count > 1 ? parts[1].string ?? "" : "", left: left >= 0 ? .milliseconds(left) : nil)
        }
    }

    /// How the holder is said in messages: `HOST/... (pid N)` from its token `OWNER PID RANDOM`.
    public static func describe(_ token: String) -> String {
        let parts = token.split(separator: " ")
        return parts.isEmpty ? "another host" : parts.count >= 2 ? "\(parts[0]) (pid \(parts[1]))" : token
    }
}

extension QueueError {
    init(_ error: RedisError) { self.init(.unavailable, error.message) }
}

/// A Redis server's queues, for the commands (the supervisor has its own, non-blocking side:
/// RedisFeedStore). One connection, each call waiting for its reply within 10 s.
public final class RedisQueue: JobQueue {
    public let url: RedisURL
    let client: RedisClient

    public init(url: RedisURL, clientName: String = "solo", timeout: Duration = .seconds(10)) throws(QueueError) {
        self.url = url
        do { client = try RedisClient(url: url, name: clientName, timeout: timeout) } catch { throw QueueError(error) }
    }

    deinit { client.close() }

    public var location: String { url.description }

    private func run<T>(_ body: () throws(RedisError) -> T) throws(QueueError) -> T {
        do { return try body() } catch { throw QueueError(error) }
    }

    private func evaluate(_ script: RedisScript, queue: String, _ arguments: [String]) throws(QueueError) -> RESPValue {
        try run { () throws(RedisError) in try client.evaluate(script, keys: [RedisScripts.prefix(queue)], arguments: arguments) }
    }

    /// The queues that have had a job on this server and database, by name.
    public func queueNames() throws(QueueError) -> [String] {
        let reply = try run { () throws(RedisError) in try client.call(RedisCommand("SMEMBERS", RedisScripts.queuesKey)) }
        return (reply.elements ?? []).compactMap(\.string).sorted()
    }

    private func queues(_ queue: String?) throws(QueueError) -> [String] {
        if let queue { return [queue] }
        return try queueNames()
    }

    public func counts() throws(QueueError) -> [QueueCounts] {
        var result: [QueueCounts] = []
        for name in try queueNames() { result.append(try counts(of: name)) }
        return result
    }

    /// One queue's counts, done jobs included (the scripts' summary leaves them out).
    public func counts(of queue: String) throws(QueueError) -> QueueCounts {
        let prefix = RedisScripts.prefix(queue)
        let replies = try run { () throws(RedisError) in
            try client.pipeline(["ready", "delayed", "reserved", "done", "dead"].map { RedisCommand("ZCARD", "\(prefix):\($0)") }
                                + [RedisCommand("LLEN", "\(prefix):inbox"), RedisCommand("LLEN", "\(prefix):inbox:unique")])
        }
        let numbers = replies.map { Int($0.integer ?? 0) }
        var counts = QueueCounts(queue: queue)
        counts.ready = numbers[0] + numbers[5] + numbers[6]
        counts.delayed = numbers[1]
        counts.reserved = numbers[2]
        counts.done = numbers[3]
        counts.dead = numbers[4]
        return counts
    }

    public func jobs(queue: String?, states: [String], group: String?, after: Int64, limit: Int) throws(QueueError) -> [JobRecord] {
        var records: [JobRecord] = []
        for name in try queues(queue) where records.count < limit {
            let reply = try evaluate(RedisScripts.list, queue: name, [states.joined(separator: ","), String(limit - records.count),
                                                                     group ?? "", String(after), name])
            guard let found = RedisReplies.records(reply, queue: name) else { throw QueueError(.unavailable, "\(location): a list reply solo cannot read") }
            records += found
        }
        return records
    }

    public func job(_ id: Int64, queue: String?) throws(QueueError) -> JobRecord? {
        for name in try queues(queue) {
            let reply = try evaluate(RedisScripts.list, queue: name, ["", "1", "", "0", name, String(id)])
            guard let found = RedisReplies.records(reply, queue: name) else { throw QueueError(.unavailable, "\(location): a list reply solo cannot read") }
            if let record = found.first { return record }
        }
        return nil
    }

    public func uniqueKeyHolder(_ key: String, queue: String) throws(QueueError) -> Int64? {
        try run { () throws(RedisError) in try client.call(RedisCommand("GET", "\(RedisScripts.prefix(queue)):unique:\(key)")) }.string.flatMap { Int64($0) }
    }

    public func retryDead(queue: String?) throws(QueueError) -> Int {
        var total = 0
        for name in try queues(queue) {
            while true {
                let n = Int(try evaluate(RedisScripts.retryDead, queue: name, ["1000"]).integer ?? 0)
                total += n
                if n == 0 { break }
            }
        }
        return total
    }

    /// Ids are per queue here: without `queue`, each id is looked for in every queue, and one
    /// found in several is an error (which job was meant?).
    public func change(_ change: JobChange, ids: [Int64], queue: String?) throws(QueueError) -> [Int64: String] {
        var idsOf: [(String, [Int64])] = []
        if let queue {
            idsOf = [(queue, ids)]
        } else {
            let names = try queueNames()
            var found: [Int64: [String]] = [:]
            for name in names {
                let states = try pipeline(ids.map { RedisCommand("HGET", "\(RedisScripts.prefix(name)):job:\($0)", "state") })
                for (id, state) in zip(ids, states) where state.string != nil { found[id, default: []].append(name) }
            }
            if let (id, places) = found.first(where: { $0.value.count > 1 }) {
                throw QueueError(.unavailable, "\(location): job \(id) is in queues \(places.joined(separator: ", ")); say which with --queue")
            }
            for name in names {
                let mine = ids.filter { found[$0] == [name] }
                if !mine.isEmpty { idsOf.append((name, mine)) }
            }
        }
        var before: [Int64: String] = [:]
        var reason = ""
        if case .bury(let text) = change { reason = text }
        for (name, mine) in idsOf {
            let reply = try evaluate(RedisScripts.change, queue: name,
                                     [change.name, reason, change.from.joined(separator: ",")] + mine.map(String.init))
            for (id, state) in zip(mine, reply.elements ?? []) {
                if let state = state.string, !state.isEmpty { before[id] = state }
            }
        }
        return before
    }

    public func purge(queue: String?, states: [String]) throws(QueueError) -> Int {
        var total = 0
        for name in try queues(queue) {
            for state in states {
                while true {
                    let n = Int(try evaluate(RedisScripts.purge, queue: name, [state, "2000"]).integer ?? 0)
                    total += n
                    if n == 0 { break }
                }
            }
        }
        return total
    }

    public func groupCounts(_ group: String) throws(QueueError) -> QueueCounts {
        var counts = QueueCounts(queue: group)
        for name in try queueNames() {
            let reply = try run { () throws(RedisError) in try client.call(RedisReplies.groupCounts(of: group, queue: name)) }
            if let found = RedisReplies.groupCounts(reply, group: group) { counts.add(found) }
        }
        return counts
    }

    public func groupOfJob(heldBy worker: String, queue: String) throws(QueueError) -> String? {
        try run { () throws(RedisError) in try client.call(RedisCommand("GET", "\(RedisScripts.prefix(queue)):worker:\(worker)")) }.string
    }

    public func makeWriter(queue: String, template: NewJob) throws(QueueError) -> any JobWriting {
        // Inside MULTI a script the server lacks fails at EXEC, after the others ran: load it first.
        _ = try run { () throws(RedisError) in try client.call(RedisCommand("SCRIPT", "LOAD", RedisScripts.push.text)) }
        return RedisJobWriter(queue: self, name: queue, template: template)
    }

    /// Sends commands and checks every reply; the first error reply throws.
    func pipeline(_ commands: [RedisCommand]) throws(QueueError) -> [RESPValue] {
        let replies = try run { () throws(RedisError) in try client.pipeline(commands) }
        if let message = replies.lazy.compactMap(\.errorMessage).first {
            throw QueueError(.unavailable, "\(location): \(message)")
        }
        return replies
    }
}

/// Jobs pushed to Redis in scripts of `batch` jobs, inside transactions of up to
/// `transaction` jobs: a push of up to 10,000 jobs is all or nothing; a larger one is made
/// visible 10,000 at a time (one transaction holds the server for about as many milliseconds
/// as it has thousands of jobs: a million at once would stall every other client), and a
/// failure says how many were queued. Which jobs were duplicates (their unique key held) is
/// known from each transaction's answer.
final class RedisJobWriter: JobWriting {
    static let batch = 1000
    static let transaction = 10_000

    private let queue: RedisQueue
    private let name: String
    private let header: [String]
    private let limitKey: String
    private var payloads: [(key: String?, payload: [UInt8])] = []
    /// The scripts of the open transaction: how many jobs each has, and whether keyed.
    private var scripts: [(count: Int, keyed: Bool)] = []
    private var inTransaction: Int { scripts.reduce(0) { $0 + $1.count } }
    /// Jobs added, in transactions committed.
    private var settled = 0
    private var pushed = Pushed()
    private var open = true
    private(set) var committedBeforeFailure = 0

    init(queue: RedisQueue, name: String, template: NewJob) {
        self.queue = queue
        self.name = name
        let delay = template.runAt > 0 ? max(0, template.runAt - JobStore.now()) : 0
        header = [name, String(template.priority), String(delay), template.maxAttempts.map(String.init) ?? "", template.group ?? "",
                  String(template.uniqueFor.milliseconds)]
        limitKey = template.limitKey ?? ""
    }

    deinit { rollback() }

    func add(_ payload: UnsafeRawBufferPointer, uniqueKey: String?) throws(QueueError) {
        payloads.append((uniqueKey, Array(payload)))
        if payloads.count == Self.batch { try send() }
        if inTransaction >= Self.transaction { try exec() }
    }

    @discardableResult
    func commit() throws(QueueError) -> Pushed {
        guard open else { return pushed }
        if !payloads.isEmpty { try send() }
        if !scripts.isEmpty { try exec() }
        open = false
        return pushed
    }

    func rollback() {
        guard open else { return }
        open = false
        if !scripts.isEmpty { _ = try? queue.pipeline([RedisCommand("DISCARD")]) }
        scripts = []
        payloads = []
    }

    private func failing<T>(_ body: () throws(QueueError) -> T) throws(QueueError) -> T {
        do { return try body() } catch {
            committedBeforeFailure = pushed.queued
            open = false
            throw error
        }
    }

    /// Queues one script with the payloads so far, in the open transaction.
    private func send() throws(QueueError) {
        try failing { () throws(QueueError) in
            let keyed = payloads.contains { $0.key != nil }
            var command = RedisCommand("EVALSHA", RedisScripts.push.sha, "1", RedisScripts.prefix(name))
            for word in header { command.append(word) }
            command.append(keyed ? "1" : "")
            command.append(limitKey)
            for (key, payload) in payloads {
                if keyed { command.append(key ?? "") }
                command.append(payload)
            }
            _ = try queue.pipeline(scripts.isEmpty ? [RedisCommand("MULTI"), command] : [command])
            scripts.append((payloads.count, keyed))
            payloads.removeAll(keepingCapacity: true)
        }
    }

    private func exec() throws(QueueError) {
        try failing { () throws(QueueError) in
            let reply: RESPValue
            do { reply = try queue.client.pipeline([RedisCommand("EXEC")])[0] } catch {
                // EXEC went out, and no answer came back: the server may have run it.
                throw QueueError(.unavailable, "\(error), and the answer to the last transaction with it: its \(inTransaction) jobs may or may not be queued (solo queue stats tells)")
            }
            if let message = reply.errorMessage { throw QueueError(.unavailable, "\(queue.location): \(message)") }
            guard let results = reply.elements else { throw QueueError(.unavailable, "\(queue.location): the transaction was aborted") }
            if let message = results.lazy.compactMap(\.errorMessage).first { throw QueueError(.unavailable, "\(queue.location): \(message)") }
            for (script, result) in zip(scripts, results) {
                guard script.keyed else {
                    pushed.queued += script.count
                    settled += script.count
                    continue
                }
                for id in (result.elements ?? []).compactMap(\.integer) {
                    if id < 0 { pushed.duplicates.append(Pushed.Duplicate(index: settled, existing: -id)) } else { pushed.queued += 1 }
                    settled += 1
                }
            }
            scripts = []
        }
    }
}
