/// The callers waiting for a job's outcome (`call`) or for a group to finish (`wait`), answered
/// as soon as the outcome is recorded, never by their polling: the outcomes this supervisor
/// commits answer at once (`committed`); those that other supervisors or hosts record are
/// looked up when a store tells of a change, and every `lookInterval` at most as a fallback,
/// one request per queue at a time whatever the number of callers.
final class ClientWaiters: Timed {
    static let lookInterval: Duration = .seconds(1)
    /// The most jobs a waited group may have.
    static let groupLimit = 10_000
    /// The most callers waiting at once: each costs a little at every turn of the loop, and a
    /// client must not be able to make that without end.
    static let maximum = 4096

    struct Waiter {
        let deadline: Moment
        /// Sends the answer to the caller.
        let answer: (JSON) -> Void
        /// Whether the caller has gone (it waits for nothing any more).
        let gone: () -> Bool
    }

    private var calls: [FeedQueue.Key: [Int64: [Waiter]]] = [:]
    private var groups: [FeedQueue.Key: [String: [Waiter]]] = [:]
    /// Queues to look at on the next turn: a store told of a change, or a group is new.
    private var dirty: Set<FeedQueue.Key> = []
    private var looking: Set<FeedQueue.Key> = []
    private var nextLook: Moment?
    /// The store a queue lives in.
    private let store: (FeedQueue.Key) -> any FeedStore

    init(store: @escaping (FeedQueue.Key) -> any FeedStore) { self.store = store }

    var isEmpty: Bool { calls.isEmpty && groups.isEmpty }
    /// The callers waiting now.
    var count: Int {
        calls.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } } + groups.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } }
    }
    var isFull: Bool { count >= Self.maximum }

    func awaitJob(_ id: Int64, in queue: FeedQueue.Key, _ waiter: Waiter) {
        calls[queue, default: [:]][id, default: []].append(waiter)
        // Finished before the caller came (another supervisor was quicker): seen at the next look.
        dirty.insert(queue)
        nextLook = nextLook ?? .now() + Self.lookInterval
    }

    func awaitGroup(_ group: String, in queue: FeedQueue.Key, _ waiter: Waiter) {
        groups[queue, default: [:]][group, default: []].append(waiter)
        dirty.insert(queue)
        nextLook = nextLook ?? .now() + Self.lookInterval
    }

    /// Whether a caller waits for this job (a group's jobs are written with the others: a
    /// commit per job would slow a large group down).
    func awaits(_ id: Int64, in queue: FeedQueue.Key) -> Bool { calls[queue]?[id] != nil }

    /// A batch of outcomes this supervisor wrote: final ones answer their callers now; a retry
    /// may have ended the job (its attempts used up), which a look tells.
    func committed(_ queue: FeedQueue.Key, _ outcomes: [JobOutcome]) {
        guard calls[queue] != nil || groups[queue] != nil else { return }
        var changed = false
        for outcome in outcomes {
            switch outcome {
            case .started: continue
            case .done(let id, let result): answer(id, in: queue, Self.outcome(id: id, state: "done", result: result, error: nil))
            case .dead(let id, let error): answer(id, in: queue, Self.outcome(id: id, state: "dead", result: nil, error: error))
            case .retry(let id, _, _, _): if calls[queue]?[id] != nil { dirty.insert(queue) }
            }
            changed = true
        }
        if changed && groups[queue] != nil { dirty.insert(queue) }
    }

    /// A store told of a change (jobs committed by others): its waited queues are looked at.
    func changed(_ address: FeedStores.Address) {
        for key in Set(calls.keys).union(groups.keys) where key.address == address { dirty.insert(key) }
    }

    var nextDeadline: Moment? {
        if isEmpty { return nil }
        if !dirty.subtracting(looking).isEmpty { return .now() }
        var earliest = nextLook
        for waiters in calls.values { for list in waiters.values { for waiter in list { earliest = earlier(earliest, waiter.deadline) } } }
        for waiters in groups.values { for list in waiters.values { for waiter in list { earliest = earlier(earliest, waiter.deadline) } } }
        return earliest
    }

    func expire(now: Moment) {
        if isEmpty {
            nextLook = nil
            dirty = []
            return
        }
        endWaits(now: now)
        if let look = nextLook, look <= now {
            dirty.formUnion(calls.keys)
            dirty.formUnion(groups.keys)
            nextLook = isEmpty ? nil : now + Self.lookInterval
        }
        for queue in dirty where !looking.contains(queue) {
            dirty.remove(queue)
            look(at: queue)
        }
    }

    /// Callers gone are forgotten; those whose time is up are told that their job still waits.
    private func endWaits(now: Moment) {
        for (queue, waited) in calls {
            for (id, waiters) in waited {
                let (ended, kept) = split(waiters, now: now)
                for waiter in ended where !waiter.gone() {
                    waiter.answer(.object([("ok", .bool(false)), ("job", .number(id)), ("state", .string("waiting")), ("timeout", .bool(true)),
                                           ("error", .string("timed out: job \(id) is still queued (it stays queued, and runs; its outcome is kept)"))]))
                }
                calls[queue]?[id] = kept.isEmpty ? nil : kept
            }
            if calls[queue]?.isEmpty == true { calls[queue] = nil }
        }
        for (queue, waited) in groups {
            for (group, waiters) in waited {
                let (ended, kept) = split(waiters, now: now)
                for waiter in ended where !waiter.gone() {
                    waiter.answer(.object([("ok", .bool(false)), ("group", .string(group)), ("timeout", .bool(true)),
                                           ("error", .string("timed out: group \(group) still has jobs queued or running (they stay queued)"))]))
                }
                groups[queue]?[group] = kept.isEmpty ? nil : kept
            }
            if groups[queue]?.isEmpty == true { groups[queue] = nil }
        }
    }

    private func split(_ waiters: [Waiter], now: Moment) -> (ended: [Waiter], kept: [Waiter]) {
        var ended: [Waiter] = []
        var kept: [Waiter] = []
        for waiter in waiters {
            if waiter.gone() { continue }
            if waiter.deadline <= now { ended.append(waiter) } else { kept.append(waiter) }
        }
        return (ended, kept)
    }

    /// Looks up the waited jobs and groups of a queue in its store (one request each).
    private func look(at queue: FeedQueue.Key) {
        let store = store(queue)
        if let ids = calls[queue].map({ Array($0.keys) }), !ids.isEmpty {
            looking.insert(queue)
            store.jobs(queue: queue.name, ids: ids) { [weak self] reply in
                guard let self else { return }
                looking.remove(queue)
                guard case .answer(let records) = reply else { return }
                for record in records where record.state == "done" || record.state == "dead" {
                    answer(record.id, in: queue, Self.outcome(id: record.id, state: record.state, result: record.result, error: record.error))
                }
            }
        }
        for group in groups[queue].map({ Array($0.keys) }) ?? [] {
            looking.insert(queue)
            store.jobs(queue: queue.name, group: group, limit: Self.groupLimit + 1) { [weak self] reply in
                guard let self else { return }
                looking.remove(queue)
                guard case .answer(let records) = reply else { return }
                if records.count > Self.groupLimit {
                    return answerGroup(group, in: queue, ControlRequest.failure("group \(group) has more than \(Self.groupLimit) jobs: too many to wait for at once"))
                }
                guard records.allSatisfy({ $0.state == "done" || $0.state == "dead" }) else { return }
                answerGroup(group, in: queue, Self.groupOutcome(group, records))
            }
        }
    }

    private func answer(_ id: Int64, in queue: FeedQueue.Key, _ reply: JSON) {
        guard let waiters = calls[queue]?.removeValue(forKey: id) else { return }
        if calls[queue]?.isEmpty == true { calls[queue] = nil }
        for waiter in waiters where !waiter.gone() { waiter.answer(reply) }
    }

    private func answerGroup(_ group: String, in queue: FeedQueue.Key, _ reply: JSON) {
        guard let waiters = groups[queue]?.removeValue(forKey: group) else { return }
        if groups[queue]?.isEmpty == true { groups[queue] = nil }
        for waiter in waiters where !waiter.gone() { waiter.answer(reply) }
    }

    /// A finished job as a caller is told of it: `ok` with its result, or its error.
    static func outcome(id: Int64, state: String, result: String?, error: String?) -> JSON {
        var fields: [(String, JSON)] = [("ok", .bool(state == "done")), ("job", .number(id)), ("state", .string(state))]
        if state == "done" {
            fields.append(("result", result.map(JSON.string) ?? .null))
        } else {
            fields.append(("error", .string("job \(id) failed: \(error ?? "no error recorded")")))
        }
        return .object(fields)
    }

    static func groupOutcome(_ group: String, _ records: [JobRecord]) -> JSON {
        let jobs: [JSON] = records.map { record in
            var fields: [(String, JSON)] = [("id", .number(record.id)), ("state", .string(record.state))]
            if record.state == "done" { fields.append(("result", record.result.map(JSON.string) ?? .null)) }
            if record.state == "dead" { fields.append(("error", .string(record.error ?? ""))) }
            return .object(fields)
        }
        let dead = records.filter { $0.state == "dead" }.count
        return .object([("ok", .bool(true)), ("group", .string(group)), ("done", .number(Int64(records.count - dead))),
                        ("dead", .number(Int64(dead))), ("jobs", .array(jobs))])
    }
}
