// A reserve under a queue's limits (JobLimits), in one transaction, so that every supervisor
// on the file counts the same jobs: the queue's concurrency and rate_limit cut how many go;
// a job whose key is at key_concurrency is held back until a job of its key leaves
// 'reserved' (the schema's triggers free it), and one over key_rate_limit is delayed to its
// booked turn. Held-back jobs leave the line, so those of other keys behind them go on.
// (The Redis `reserve` script does the same.)
extension JobStore {
    /// What a reserve under limits took, and what held the rest back.
    public struct LimitedReserve: Equatable {
        public var jobs: [ReservedJob] = []
        /// The queue's own limit that cut the reserve short (nil: none did).
        public var limitedBy: LimitName?
        /// When the queue's rate_limit lets the next job go (Unix ms), when it cut the reserve.
        public var nextTurnAt: Int64?
    }

    /// Ready jobs looked at past the wanted count for jobs of keys not at their limit: a
    /// reserve's work stays bounded however many of one key wait in front.
    static let limitLookahead = 1000

    public func reserve(queue: String, count: Int, owner: String, leaseUntil: Int64, now: Int64,
                        limits: JobLimits) throws(QueueError) -> LimitedReserve {
        guard !limits.isEmpty else {
            return LimitedReserve(jobs: try reserve(queue: queue, count: count, owner: owner, leaseUntil: leaseUntil, now: now))
        }
        return try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in
                var result = LimitedReserve()
                var room = count
                if let concurrency = limits.concurrency {
                    let counted = try statement("SELECT count(*) FROM jobs WHERE state = 'reserved' AND queue = ?")
                    try counted.bind([.text(queue)])
                    let running = try counted.step() ? counted.int(0) : 0
                    counted.reset()
                    if concurrency - running < room {
                        room = max(0, concurrency - running)
                        result.limitedBy = .concurrency
                    }
                }
                let clock = Double(now)
                var queueBucket: Double?
                if let rate = limits.rate {
                    queueBucket = try bucket(queue: queue, key: "")
                    let allowance = RateBucket.allowance(queueBucket, wanted: room, now: clock, rate: rate)
                    if allowance.count < room {
                        room = allowance.count
                        result.limitedBy = .rateLimit
                        result.nextTurnAt = allowance.nextAt.map { Int64($0.rounded(.up)) }
                    }
                }
                guard room > 0 else {
                    if try !hasReady(queue: queue) { return LimitedReserve() }
                    return result
                }
                if limits.keyed {
                    result.jobs = try take(try pickByKey(queue: queue, count: room, limits: limits, now: now),
                                           owner: owner, leaseUntil: leaseUntil, now: now)
                } else {
                    result.jobs = try takeReady(queue: queue, count: room, owner: owner, leaseUntil: leaseUntil, now: now)
                }
                if let rate = limits.rate, !result.jobs.isEmpty {
                    try setBucket(queue: queue, key: "", RateBucket.spend(queueBucket, count: result.jobs.count, now: clock, rate: rate))
                }
                // A limit that cut the reserve held nothing back if no job is left in line.
                if result.limitedBy != nil, try !hasReady(queue: queue) {
                    result.limitedBy = nil
                    result.nextTurnAt = nil
                }
                return result
            }
        }
    }

    /// Walks the line and picks up to `count` jobs whose keys are within their limits; holds
    /// back the others (within the reserve's transaction).
    private func pickByKey(queue: String, count: Int, limits: JobLimits, now: Int64) throws(DatabaseError) -> [Int64] {
        var running = try reservedByKey(queue: queue)

        let line = try statement("""
            SELECT id, limit_key, turn_at IS NOT NULL FROM jobs WHERE queue = ? AND state = 'ready' ORDER BY priority DESC, id LIMIT ?
            """)
        try line.bind([.text(queue), .integer(Int64(count + Self.limitLookahead))])
        var candidates: [(id: Int64, key: String?, booked: Bool)] = []
        while try line.step() { candidates.append((line.int64(0), line.text(1), line.int(2) == 1)) }
        line.reset()

        let hold = try statement("""
            UPDATE jobs SET state = 'delayed', held_by = ?2, run_at = ?3, ready_at = COALESCE(ready_at, MAX(created_at, run_at)),
                turn_at = CASE WHEN ?2 = 'key_rate_limit' THEN ?3 ELSE turn_at END
            WHERE id = ?1
            """)
        var buckets: [String: Double?] = [:]
        var picked: [Int64] = []
        for job in candidates {
            guard picked.count < count else { break }
            guard let key = job.key else { picked.append(job.id); continue }
            if let limit = limits.keyConcurrency, running[key, default: 0] >= limit {
                try hold.run([.integer(job.id), .text(LimitName.keyConcurrency.rawValue), .integer(QueueSchema.heldUntilFreed)])
                continue
            }
            // A job back at its booked turn spends no second one.
            if let rate = limits.keyRate, !job.booked {
                if buckets[key] == nil { buckets[key] = .some(try bucket(queue: queue, key: key)) }
                let turn = RateBucket.book(buckets[key]!, now: Double(now), rate: rate)
                buckets[key] = .some(turn.spent)
                if turn.at > Double(now) {
                    try hold.run([.integer(job.id), .text(LimitName.keyRateLimit.rawValue), .integer(Int64(turn.at.rounded(.up)))])
                    continue
                }
            }
            running[key, default: 0] += 1
            picked.append(job.id)
        }
        for (key, spent) in buckets { if let spent { try setBucket(queue: queue, key: key, spent) } }
        return picked
    }

    /// The queue's reserved jobs by limit key.
    private func reservedByKey(queue: String) throws(DatabaseError) -> [String: Int] {
        var running: [String: Int] = [:]
        let reserved = try statement("""
            SELECT limit_key, count(*) FROM jobs WHERE state = 'reserved' AND queue = ? AND limit_key IS NOT NULL GROUP BY limit_key
            """)
        try reserved.bind([.text(queue)])
        while try reserved.step() { running[reserved.text(0) ?? ""] = reserved.int(1) }
        reserved.reset()
        return running
    }

    /// Jobs held back by key_concurrency are freed one by one as their key's jobs leave
    /// 'reserved' (the schema's triggers). Here (the lease upkeep, with the reclaim) each key
    /// gets as many freed as it has room for under `keyConcurrency`, or, with none, up to a
    /// thousand: a slot lost to an operator's change (a freed job buried or deleted before its
    /// reserve) or a raised or removed limit is given back. A job freed beyond the room is
    /// held again at its reserve.
    func freeHeld(queue: String, keyConcurrency: Int?) throws(DatabaseError) {
        var held: [(key: String, count: Int)] = []
        let keys = try statement("""
            SELECT limit_key, count(*) FROM jobs WHERE queue = ? AND held_by = 'key_concurrency' AND state = 'delayed' GROUP BY limit_key
            """)
        try keys.bind([.text(queue)])
        while try keys.step() { held.append((keys.text(0) ?? "", keys.int(1))) }
        keys.reset()
        guard !held.isEmpty else { return }
        let running = try reservedByKey(queue: queue)
        let free = try statement("""
            UPDATE jobs SET state = 'ready', run_at = 0, held_by = NULL WHERE id IN (
                SELECT id FROM jobs WHERE queue = ?1 AND held_by = 'key_concurrency' AND limit_key = ?2 AND state = 'delayed'
                ORDER BY priority DESC, id LIMIT ?3)
            """)
        for (key, count) in held {
            let room = keyConcurrency.map { $0 - running[key, default: 0] } ?? min(count, 1000)
            if room > 0 { try free.run([.text(queue), .text(key), .integer(Int64(room))]) }
        }
    }

    private func hasReady(queue: String) throws(DatabaseError) -> Bool {
        let query = try statement("SELECT EXISTS (SELECT 1 FROM jobs WHERE queue = ? AND state = 'ready')")
        try query.bind([.text(queue)])
        defer { query.reset() }
        return try query.step() && query.int(0) == 1
    }

    private func bucket(queue: String, key: String) throws(DatabaseError) -> Double? {
        let query = try statement("SELECT spent FROM limit_buckets WHERE queue = ? AND key = ?")
        try query.bind([.text(queue), .text(key)])
        defer { query.reset() }
        return try query.step() ? query.double(0) : nil
    }

    private func setBucket(queue: String, key: String, _ spent: Double) throws(DatabaseError) {
        try statement("""
            INSERT INTO limit_buckets (queue, key, spent) VALUES (?, ?, ?) ON CONFLICT (queue, key) DO UPDATE SET spent = excluded.spent
            """).run([.text(queue), .text(key), .real(spent)])
    }

    /// Forgets the rate limits' state of keys spent up to more than a day ago: full again by
    /// then (a rate's period is a day at most), the same as none. One row per key would
    /// otherwise stay forever. Returns how many. (A Redis key's state expires by itself.)
    @discardableResult
    public func forgetIdleBuckets(queue: String, now: Int64) throws(QueueError) -> Int {
        try run { () throws(DatabaseError) in
            try statement("DELETE FROM limit_buckets WHERE queue = ? AND key <> '' AND spent < ?")
                .run([.text(queue), .real(Double(now - 86_400_000))])
            return database.changes
        }
    }
}
