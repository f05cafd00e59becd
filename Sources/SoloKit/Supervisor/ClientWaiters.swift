/// The callers waiting for a job's outcome (`call`) or for a group to finish (`wait`), answered
/// as soon as the outcome is recorded, never by their polling: the outcomes this supervisor
/// commits answer at once (`committed`); those that other supervisors or hosts record are
/// looked up when a store tells of a change (a Redis server publishes endings to the queues
/// waited for here), and every `lookInterval` at most as a fallback,
/// one request per queue at a time whatever the number of callers. A waited group is known
/// finished by its counters (a count, however large the group), looked at `groupLookGap` apart
/// at most however fast outcomes commit; its jobs are read once, when it is.
final class ClientWaiters: Timed {
    static let lookInterval: Duration = .seconds(1)
    static let groupLookGap: Duration = .milliseconds(100)
    /// The most jobs a waited group may have.
    static let groupLimit = 10_000
    /// The most bytes of results and errors a group's answer carries: past them, the jobs are
    /// listed without, and the answer says `truncated`.
    static let answerLimit = 1 << 20
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
    /// Queues whose waited jobs to look up on the next turn: a store told of a change, or a
    /// caller is new.
    private var dirty: Set<FeedQueue.Key> = []
    /// Queues with a look up of their waited jobs under way.
    private var looking: Set<FeedQueue.Key> = []
    /// The same for waited groups: queues to look at, and how many requests are under way.
    private var dirtyGroups: Set<FeedQueue.Key> = []
    private var groupsLooking: [FeedQueue.Key: Int] = [:]
    /// When a queue's groups may be looked at next (`groupLookGap` after the last look).
    private var groupLookAt: [FeedQueue.Key: Moment] = [:]
    private var nextLook: Moment?
    /// The queues whose endings by others this supervisor hears of: those waited for.
    private var watched: Set<FeedQueue.Key> = []
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
        watchWaitedQueues()
    }

    func awaitGroup(_ group: String, in queue: FeedQueue.Key, _ waiter: Waiter) {
        groups[queue, default: [:]][group, default: []].append(waiter)
        dirtyGroups.insert(queue)
        nextLook = nextLook ?? .now() + Self.lookInterval
        watchWaitedQueues()
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
        if changed && groups[queue] != nil { dirtyGroups.insert(queue) }
    }

    /// A store told of a change (jobs committed by others): its waited queues are looked at.
    func changed(_ address: FeedStores.Address) {
        for key in calls.keys where key.address == address { dirty.insert(key) }
        for key in groups.keys where key.address == address { dirtyGroups.insert(key) }
    }

    var nextDeadline: Moment? {
        if isEmpty { return nil }
        if !dirty.subtracting(looking).isEmpty { return .now() }
        var earliest = nextLook
        for queue in dirtyGroups where groupsLooking[queue] == nil { earliest = earlier(earliest, groupLookAt[queue] ?? .now()) }
        for waiters in calls.values { for list in waiters.values { for waiter in list { earliest = earlier(earliest, waiter.deadline) } } }
        for waiters in groups.values { for list in waiters.values { for waiter in list { earliest = earlier(earliest, waiter.deadline) } } }
        return earliest
    }

    func expire(now: Moment) {
        if isEmpty {
            nextLook = nil
            dirty = []
            dirtyGroups = []
            groupLookAt = [:]
            watchWaitedQueues()
            return
        }
        endWaits(now: now)
        watchWaitedQueues()
        if let look = nextLook, look <= now {
            dirty.formUnion(calls.keys)
            dirtyGroups.formUnion(groups.keys)
            nextLook = isEmpty ? nil : now + Self.lookInterval
        }
        for queue in dirty where !looking.contains(queue) {
            dirty.remove(queue)
            lookAtJobs(in: queue)
        }
        for queue in dirtyGroups where groupsLooking[queue] == nil && groupLookAt[queue] ?? now <= now {
            dirtyGroups.remove(queue)
            groupLookAt[queue] = now + Self.groupLookGap
            lookAtGroups(in: queue)
        }
    }

    /// Callers gone are forgotten; those whose time is up are told that their job still waits.
    private func endWaits(now: Moment) {
        Self.endWaits(in: &calls, now: now) { id in
            .object([("ok", .bool(false)), ("job", .number(id)), ("state", .string("waiting")), ("timeout", .bool(true)),
                     ("error", .string("timed out: job \(id) is still queued (it stays queued, and runs; its outcome is kept)"))])
        }
        Self.endWaits(in: &groups, now: now) { group in
            .object([("ok", .bool(false)), ("group", .string(group)), ("timeout", .bool(true)),
                     ("error", .string("timed out: group \(group) still has jobs queued or running (they stay queued)"))])
        }
    }

    /// The same for either kind of wait (a job's id, a group's name), with its time-out answer.
    private static func endWaits<Key: Hashable>(in waited: inout [FeedQueue.Key: [Key: [Waiter]]], now: Moment, timedOut: (Key) -> JSON) {
        for (queue, byKey) in waited {
            for (key, waiters) in byKey {
                var kept: [Waiter] = []
                for waiter in waiters where !waiter.gone() {
                    if waiter.deadline <= now { waiter.answer(timedOut(key)) } else { kept.append(waiter) }
                }
                waited[queue]?[key] = kept.isEmpty ? nil : kept
            }
            if waited[queue]?.isEmpty == true { waited[queue] = nil }
        }
    }

    /// Looks up the waited jobs of a queue in its store (one request).
    private func lookAtJobs(in queue: FeedQueue.Key) {
        guard let ids = calls[queue].map({ Array($0.keys) }), !ids.isEmpty else { return }
        looking.insert(queue)
        store(queue).jobs(queue: queue.name, ids: ids) { [weak self] reply in
            guard let self else { return }
            looking.remove(queue)
            guard case .answer(let records) = reply else { return }
            for record in records where record.state == "done" || record.state == "dead" {
                answer(record.id, in: queue, Self.outcome(id: record.id, state: record.state, result: record.result, error: record.error))
            }
        }
    }

    /// Counts the unfinished jobs of each waited group of a queue; a finished group's jobs are
    /// read, once, for its answer.
    private func lookAtGroups(in queue: FeedQueue.Key) {
        let store = store(queue)
        for group in groups[queue].map({ Array($0.keys) }) ?? [] {
            groupsLooking[queue, default: 0] += 1
            store.groupCounts(queue: queue.name, group: group) { [weak self] reply in
                guard let self else { return }
                guard case .answer(let counts) = reply, counts.pending == 0, groups[queue]?[group] != nil else { return lookedAtGroup(in: queue) }
                guard counts.total <= Self.groupLimit else {
                    lookedAtGroup(in: queue)
                    return answerGroup(group, in: queue, Self.tooLarge(group))
                }
                store.jobs(queue: queue.name, group: group, limit: Self.groupLimit + 1) { [weak self] reply in
                    guard let self else { return }
                    lookedAtGroup(in: queue)
                    guard case .answer(let records) = reply else { return }
                    if records.count > Self.groupLimit { return answerGroup(group, in: queue, Self.tooLarge(group)) }
                    // A job pushed to the group since it was counted: it is waited for too.
                    guard records.allSatisfy({ $0.state == "done" || $0.state == "dead" }) else {
                        dirtyGroups.insert(queue)
                        return
                    }
                    answerGroup(group, in: queue, Self.groupOutcome(group, records))
                }
            }
        }
    }

    /// A queue comes to be waited for: its store tells of the jobs others end there; no longer
    /// waited for, it stops.
    private func watchWaitedQueues() {
        let waited = Set(calls.keys).union(groups.keys)
        guard waited != watched else { return }
        for queue in waited.subtracting(watched) { store(queue).watchEndings(queue: queue.name) }
        for queue in watched.subtracting(waited) { store(queue).unwatchEndings(queue: queue.name) }
        watched = waited
    }

    private func lookedAtGroup(in queue: FeedQueue.Key) {
        let left = (groupsLooking[queue] ?? 1) - 1
        groupsLooking[queue] = left > 0 ? left : nil
    }

    private static func tooLarge(_ group: String) -> JSON {
        ControlRequest.failure("group \(group) has more than \(groupLimit) jobs: too many to wait for at once")
    }

    private func answer(_ id: Int64, in queue: FeedQueue.Key, _ reply: JSON) {
        tell(Self.take(id, in: queue, from: &calls), reply)
    }

    private func answerGroup(_ group: String, in queue: FeedQueue.Key, _ reply: JSON) {
        tell(Self.take(group, in: queue, from: &groups), reply)
    }

    /// The callers waiting for `key` in `queue`, no longer waiting.
    private static func take<Key: Hashable>(_ key: Key, in queue: FeedQueue.Key, from waited: inout [FeedQueue.Key: [Key: [Waiter]]]) -> [Waiter] {
        guard let waiters = waited[queue]?.removeValue(forKey: key) else { return [] }
        if waited[queue]?.isEmpty == true { waited[queue] = nil }
        return waiters
    }

    private func tell(_ waiters: [Waiter], _ reply: JSON) {
        guard !waiters.isEmpty else { return }
        watchWaitedQueues()
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

    /// A finished group as a caller is told of it: each job's result or error, as far as
    /// `limit` bytes of them go; the jobs past it without (and `truncated`).
    static func groupOutcome(_ group: String, _ records: [JobRecord], limit: Int = answerLimit) -> JSON {
        var room = limit
        var truncated = false
        let jobs: [JSON] = records.map { record in
            var fields: [(String, JSON)] = [("id", .number(record.id)), ("state", .string(record.state))]
            let told: (name: String, value: JSON)? = switch record.state {
            case "done": ("result", record.result.map(JSON.string) ?? .null)
            case "dead": ("error", .string(record.error ?? ""))
            default: nil
            }
            if let told {
                let size = (record.state == "done" ? record.result : record.error)?.utf8.count ?? 0
                if !truncated && size <= room {
                    room -= size
                    fields.append(told)
                } else {
                    truncated = true
                }
            }
            return .object(fields)
        }
        let dead = records.filter { $0.state == "dead" }.count
        return .object([("ok", .bool(true)), ("group", .string(group)), ("done", .number(Int64(records.count - dead))),
                        ("dead", .number(Int64(dead))), ("jobs", .array(jobs))] + (truncated ? [("truncated", .bool(true))] : []))
    }
}
