// What `solo queue`, `solo wait` and the status figures do with a queue file: counts, lists,
// group progress, and an operator's changes (retry, bury, purge). The supervisor's own side
// (reserve, finish, leases) is in JobStore.swift.
extension JobStore {
    public func counts() throws(QueueError) -> [QueueCounts] {
        try run { () throws(DatabaseError) in
            let query = try statement("SELECT queue, state, count(*) FROM jobs GROUP BY queue, state ORDER BY queue")
            try query.bind([])
            defer { query.reset() }
            var byQueue: [String: QueueCounts] = [:]
            var order: [String] = []
            while try query.step() {
                let name = query.text(0) ?? ""
                if byQueue[name] == nil { order.append(name); byQueue[name] = QueueCounts(queue: name) }
                let n = query.int(2)
                switch query.text(1) {
                case "ready": byQueue[name]!.ready = n
                case "delayed": byQueue[name]!.delayed = n
                case "reserved": byQueue[name]!.reserved = n
                case "done": byQueue[name]!.done = n
                case "dead": byQueue[name]!.dead = n
                default: break
                }
            }
            return order.map { byQueue[$0]! }
        }
    }

    /// Ready and reserved jobs of a queue, from the partial indexes (cheap at any size).
    public func unfinished(queue: String) throws(QueueError) -> Int {
        try run { () throws(DatabaseError) in
            let query = try statement("""
                SELECT (SELECT count(*) FROM jobs WHERE state = 'ready' AND queue = ?1)
                     + (SELECT count(*) FROM jobs WHERE state = 'reserved' AND queue = ?1)
                """)
            try query.bind([.text(queue)])
            defer { query.reset() }
            return try query.step() ? query.int(0) : 0
        }
    }

    /// A queue's ready, delayed, reserved and dead jobs, each counted from a partial index
    /// (cheap with millions of jobs; done jobs are not counted here), the delayed ones held
    /// back by a key's limit, and how long the oldest of the next jobs in line has waited.
    public func summary(queue: String) throws(QueueError) -> QueueCounts {
        try run { () throws(DatabaseError) in
            let query = try statement("""
                SELECT (SELECT count(*) FROM jobs WHERE state = 'ready' AND queue = ?1),
                       (SELECT count(*) FROM jobs WHERE state = 'delayed' AND queue = ?1),
                       (SELECT count(*) FROM jobs WHERE state = 'reserved' AND queue = ?1),
                       (SELECT count(*) FROM jobs WHERE state = 'dead' AND queue = ?1),
                       (SELECT count(*) FROM jobs WHERE state = 'delayed' AND held_by = 'key_concurrency' AND queue = ?1),
                       (SELECT count(*) FROM jobs WHERE state = 'delayed' AND held_by = 'key_rate_limit' AND queue = ?1),
                       (SELECT min(COALESCE(ready_at, MAX(created_at, run_at))) FROM (
                           SELECT ready_at, created_at, run_at FROM jobs WHERE state = 'ready' AND queue = ?1
                           ORDER BY priority DESC, id LIMIT ?2))
                """)
            try query.bind([.text(queue), .integer(Int64(QueueCounts.oldestLookedAt))])
            defer { query.reset() }
            var counts = QueueCounts(queue: queue)
            if try query.step() {
                counts.ready = query.int(0)
                counts.delayed = query.int(1)
                counts.reserved = query.int(2)
                counts.dead = query.int(3)
                counts.heldByKeyConcurrency = query.int(4)
                counts.heldByKeyRate = query.int(5)
                if !query.isNull(6) { counts.oldestWaitingMs = max(0, Self.now() - query.int64(6)) }
            }
            return counts
        }
    }

    /// The ready jobs of a queue, counted up to `limit` only (cheap however long the queue).
    public func readyCount(queue: String, atMost limit: Int) throws(QueueError) -> Int {
        try run { () throws(DatabaseError) in
            let query = try statement("SELECT count(*) FROM (SELECT 1 FROM jobs WHERE state = 'ready' AND queue = ? LIMIT ?)")
            try query.bind([.text(queue), .integer(Int64(limit))])
            defer { query.reset() }
            return try query.step() ? query.int(0) : 0
        }
    }

    /// The counts of one group, over every queue.
    public func groupCounts(_ group: String) throws(QueueError) -> QueueCounts { try groupCounts(group, queue: nil) }

    /// The group's jobs in one queue (nil: in every queue), by state.
    public func groupCounts(_ group: String, queue: String?) throws(QueueError) -> QueueCounts {
        try run { () throws(DatabaseError) in
            let query = try statement("SELECT state, count(*) FROM jobs WHERE grp = ?\(queue == nil ? "" : " AND queue = ?") GROUP BY state")
            try query.bind([.text(group)] + (queue.map { [.text($0)] } ?? []))
            defer { query.reset() }
            var counts = QueueCounts(queue: group)
            while try query.step() {
                let n = query.int(1)
                switch query.text(0) {
                case "ready": counts.ready = n
                case "delayed": counts.delayed = n
                case "reserved": counts.reserved = n
                case "done": counts.done = n
                case "dead": counts.dead = n
                default: break
                }
            }
            return counts
        }
    }

    static let recordColumns = "id, queue, state, payload, priority, attempts, max_attempts, grp, run_at, created_at, finished_at, result, error, unique_key"

    /// Jobs by filter, oldest first.
    public func jobs(queue: String?, states: [String], group: String? = nil, after: Int64 = 0, limit: Int) throws(QueueError) -> [JobRecord] {
        try run { () throws(DatabaseError) in
            var conditions = ["state IN (\(states.map { "'\($0)'" }.joined(separator: ", ")))", "id > ?"]
            var values: [SQLValue] = [.integer(after)]
            if let queue { conditions.append("queue = ?"); values.append(.text(queue)) }
            if let group { conditions.append("grp = ?"); values.append(.text(group)) }
            return try records("SELECT \(Self.recordColumns) FROM jobs WHERE \(conditions.joined(separator: " AND ")) ORDER BY id LIMIT \(limit)", values)
        }
    }

    /// The jobs of `queue` with these ids (those that exist), by id.
    public func jobs(ids: [Int64], queue: String) throws(QueueError) -> [JobRecord] {
        try run { () throws(DatabaseError) in
            try records("SELECT \(Self.recordColumns) FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND queue = ? ORDER BY id",
                        [.text(Self.jsonList(ids)), .text(queue)])
        }
    }

    private func records(_ sql: String, _ values: [SQLValue]) throws(DatabaseError) -> [JobRecord] {
        let query = try database.prepare(sql)
        try query.bind(values)
        var records: [JobRecord] = []
        while try query.step() {
            records.append(JobRecord(id: query.int64(0), queue: query.text(1) ?? "", state: query.text(2) ?? "", payload: query.text(3) ?? "",
                                     priority: query.int(4), attempts: query.int(5), maxAttempts: query.isNull(6) ? nil : query.int(6),
                                     group: query.text(7), runAt: query.int64(8), createdAt: query.int64(9),
                                     finishedAt: query.isNull(10) ? nil : query.int64(10), result: query.text(11), error: query.text(12),
                                     uniqueKey: query.text(13)))
        }
        return records
    }

    /// One job by id: the first of every state from just before it (the id is the key).
    public func job(_ id: Int64, queue: String?) throws(QueueError) -> JobRecord? {
        try jobs(queue: queue, states: JobRecord.states, after: id - 1, limit: 1).first { $0.id == id }
    }

    public func uniqueKeyHolder(_ key: String, queue: String) throws(QueueError) -> Int64? {
        try run { () throws(DatabaseError) in
            let query = try statement("SELECT id FROM jobs WHERE queue = ? AND unique_key = ? AND unique_held = 1")
            try query.bind([.text(queue), .text(key)])
            defer { query.reset() }
            return try query.step() ? Int64(query.int(0)) : nil
        }
    }

    /// What a dead job becomes when it is retried: ready at once (its queue wait starting now),
    /// its attempts, error and any limit's mark gone, holding its unique key again only if its
    /// unique_until still held it (as on Redis).
    private static let revived = """
        state = 'ready', attempts = 0, run_at = 0, error = NULL, finished_at = NULL, held_by = NULL, turn_at = NULL,
        ready_at = \(QueueSchema.nowMilliseconds),
        unique_held = unique_held AND COALESCE(unique_until, 0) > \(QueueSchema.nowMilliseconds)
        """

    /// Every dead job (of `queue`) back to ready with its attempts reset; returns how many.
    @discardableResult
    public func retryDead(queue: String?) throws(QueueError) -> Int {
        try run { () throws(DatabaseError) in
            var sql = "UPDATE jobs SET \(Self.revived) WHERE state = 'dead'"
            var values: [SQLValue] = []
            if let queue { sql += " AND queue = ?"; values.append(.text(queue)) }
            try database.prepare(sql).run(values)
            return database.changes
        }
    }

    /// See `JobQueue.change`: one transaction, each job looked at and changed under the lock.
    public func change(_ change: JobChange, ids: [Int64], queue: String?) throws(QueueError) -> [Int64: String] {
        try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in
                let look = try statement("SELECT state FROM jobs WHERE id = ?1 AND (?2 IS NULL OR queue = ?2)")
                var before: [Int64: String] = [:]
                for id in ids {
                    try look.bind([.integer(id), .optional(queue)])
                    let state = try look.step() ? look.text(0) : nil
                    look.reset()
                    guard let state else { continue }
                    before[id] = state
                    guard change.from.contains(state) else { continue }
                    switch change {
                    case .retry: try statement("UPDATE jobs SET \(Self.revived) WHERE id = ?").run([.integer(id)])
                    case .bury(let reason):
                        try statement("UPDATE jobs SET state = 'dead', error = ?, finished_at = ?, held_by = NULL, turn_at = NULL WHERE id = ?")
                            .run([.text(reason), .integer(Self.now()), .integer(id)])
                    case .delete: try statement("DELETE FROM jobs WHERE id = ?").run([.integer(id)])
                    }
                }
                return before
            }
        }
    }

    /// One query over the group's jobs (see `JobQueue.groupSpan`).
    public func groupSpan(_ group: String) throws(QueueError) -> GroupSpan? {
        try run { () throws(DatabaseError) in
            let query = try statement("SELECT min(created_at), max(finished_at) FROM jobs WHERE grp = ? AND state IN ('done', 'dead')")
            try query.bind([.text(group)])
            defer { query.reset() }
            guard try query.step(), !query.isNull(0), !query.isNull(1) else { return nil }
            return GroupSpan(first: query.int64(0), last: query.int64(1))
        }
    }

    /// Deletes jobs in the given states; returns how many.
    @discardableResult
    public func purge(queue: String?, states: [String]) throws(QueueError) -> Int {
        try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in
                var sql = "DELETE FROM jobs WHERE state IN (\(states.map { "'\($0)'" }.joined(separator: ", ")))"
                var values: [SQLValue] = []
                if let queue { sql += " AND queue = ?"; values.append(.text(queue)) }
                try database.prepare(sql).run(values)
                return database.changes
            }
        }
    }

    /// The group of the job a worker holds now (for `solo push` run inside a worker).
    public func groupOfJob(heldBy worker: String) throws(QueueError) -> String? {
        try run { () throws(DatabaseError) in
            let query = try statement("SELECT grp FROM jobs WHERE state = 'reserved' AND worker IS NOT NULL AND worker = ? LIMIT 1")
            try query.bind([.text(worker)])
            defer { query.reset() }
            return try query.step() ? query.text(0) : nil
        }
    }
}
