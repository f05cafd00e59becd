import CSQLite
import Glibc

/// One queue file: every queue operation is one short transaction, with prepared statements.
public final class JobStore {
    public let path: String
    let database: Database
    private var statements: [String: Statement] = [:]

    /// Opens the file (creating it with `create`), checks it is a solo queue and migrates an
    /// older schema. `durable`: fsync at every commit (for `solo push`: an accepted job must
    /// survive a power cut); otherwise fsync at checkpoints (a lost completion re-runs a job).
    /// `openTimeout`: how long opening may wait for a busy file (the supervisor's loop gives 0
    /// and tries again); `busyTimeout`: the same for every later operation.
    /// Copies everything committed in the -wal into the file itself, wherever it is now (a file
    /// moved away keeps its jobs; SQLite would not do it at close for a file that moved).
    /// False when another connection's reading held part of it back (SQLite reports that in
    /// the pragma's row, not as an error).
    public func checkpoint() throws(QueueError) -> Bool {
        try run { () throws(DatabaseError) in
            let statement = try database.prepare("PRAGMA wal_checkpoint(TRUNCATE)")
            guard try statement.step() else { return false }
            // busy, frames in the log, frames checkpointed
            return statement.int(0) == 0 && statement.int(1) == statement.int(2)
        }
    }

    /// `cacheMiB`: SQLite's page cache for this connection (see below).
    public init(path: String, create: Bool, durable: Bool = false, busyTimeout: Int32 = 0, openTimeout: Int32 = 1000,
                cacheMiB: Int = 16) throws(QueueError) {
        self.path = path
        let present: Bool
        do { present = try Files.isPresent(path) } catch { throw QueueError.unreachable(path, error) }
        if !create && !present {
            throw QueueError(.unavailable, "\(path): no such queue file (it is made by solo run or solo push)")
        }
        if create { try? Files.makeDirectories(Path.directory(of: path), mode: 0o750) }
        do {
            database = try Database(path: path, create: create)
            database.setBusyTimeout(milliseconds: openTimeout)
            // Refuse a file that is not a solo queue before changing anything in it.
            try checkFormat()
            try enableWAL(within: openTimeout)
            try database.execute(durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
            // Pages stay in memory between transactions: the ready index and the newest rows are
            // read again and again (SQLite's default of 2 MiB made the supervisor re-read them
            // for every batch: 26 µs of CPU per job against 18 µs with this).
            try database.execute("PRAGMA cache_size = -\(cacheMiB * 1024)")
            if try schemaVersion() < QueueSchema.version { try migrate() }
            database.setBusyTimeout(milliseconds: busyTimeout)
        } catch let error as QueueError {
            throw error
        } catch let error as DatabaseError {
            throw QueueError(error, path: path)
        } catch {
            throw QueueError(.unavailable, "\(path): \(error)")
        }
    }

    /// The schema version of the file.
    public func schemaVersion() throws(QueueError) -> Int {
        Int((try run { () throws(DatabaseError) in try database.scalarInt("PRAGMA user_version") }) ?? 0)
    }

    /// An empty file, or one with the solo_queue table and a schema this solo knows. Read in one
    /// transaction, so that a migration committed by another process cannot fall between the
    /// two looks (an empty file would then seem to have foreign tables).
    private func checkFormat() throws(QueueError) {
        try run { () throws(DatabaseError) in
            try database.execute("BEGIN")
            defer { try? database.execute("COMMIT") }
            try checkFormatInTransaction()
        }
    }

    private func checkFormatInTransaction() throws(DatabaseError) {
        let version = Int(try database.scalarInt("PRAGMA user_version") ?? 0)
        let tables = try database.scalarInt("SELECT count(*) FROM sqlite_schema WHERE type = 'table'") ?? 0
        let format = try database.scalarInt("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'solo_queue'") ?? 0
        if version == 0 && tables > 0 || version > 0 && format == 0 {
            throw DatabaseError(code: -1, message: "\(path) is an SQLite database but not a solo queue (it has no solo_queue table); point queue at another file")
        }
        if version > QueueSchema.version {
            throw DatabaseError(code: -1, message: "\(path) has queue schema \(version), newer than this solo knows (\(QueueSchema.version)); upgrade solo")
        }
    }

    /// Switching a new file to WAL takes an exclusive lock, and SQLite reports a busy file here
    /// at once, without its busy handler: `solo run` and `solo push` opening a new file together
    /// would fail. So the switch is tried again, for `milliseconds` at most.
    private func enableWAL(within milliseconds: Int32) throws(DatabaseError) {
        let deadline = Moment.now() + .milliseconds(Int64(milliseconds))
        while true {
            do {
                try database.execute("PRAGMA journal_mode = WAL")
                return
            } catch where error.isBusy && Moment.now() < deadline {
                Moment.sleep(for: .milliseconds(2))
            }
        }
    }

    private func migrate() throws(QueueError) {
        try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in
                // Again under the write lock: another process may have migrated meanwhile.
                try checkFormatInTransaction()
                let version = Int(try database.scalarInt("PRAGMA user_version") ?? 0)
                for next in (version + 1)...max(version + 1, QueueSchema.version) where next <= QueueSchema.version {
                    try database.execute(QueueSchema.migrations[next]!)
                    try database.execute("PRAGMA user_version = \(next)")
                }
            }
        }
    }

    /// Runs database work, turning its errors into queue errors.
    func run<T>(_ body: () throws(DatabaseError) -> T) throws(QueueError) -> T {
        do { return try body() } catch {
            if error.code == -1 { throw QueueError(.unavailable, error.message) }
            throw QueueError(error, path: path)
        }
    }

    /// Runs `body` waiting up to `milliseconds` for a busy file, then back to no waiting.
    public func withBusyTimeout<T>(milliseconds: Int32, _ body: () throws(QueueError) -> T) throws(QueueError) -> T {
        database.setBusyTimeout(milliseconds: milliseconds)
        defer { database.setBusyTimeout(milliseconds: 0) }
        return try body()
    }

    func statement(_ sql: String) throws(DatabaseError) -> Statement {
        if let cached = statements[sql] { return cached }
        let prepared = try database.prepare(sql)
        statements[sql] = prepared
        return prepared
    }

    public static func now() -> Int64 { Moment.wallMilliseconds() }

    // MARK: - a small disk

    /// Runs a write so that the -wal never takes the disk it needs. A write that found the disk
    /// full is tried once more after the -wal was copied into the file and emptied (that alone
    /// often makes the room). After a write that stored something, a -wal larger than half the
    /// room left on its disk is copied and emptied: SQLite does it itself only at 1,000 pages
    /// (4 MiB), more than a small disk may have, and the copy needs room for the pages the file
    /// gains (at most the -wal's size), so a -wal that filled the disk could never be copied.
    /// `stored`: the write changed a row (one that changed nothing needed no room, so it tells
    /// nothing of the disk).
    public func makingRoom<T>(_ body: () throws(QueueError) -> T) throws(QueueError) -> (value: T, stored: Bool) {
        func attempt() throws(QueueError) -> (value: T, stored: Bool) {
            let before = database.totalChanges
            let value = try body()
            return (value, database.totalChanges > before)
        }
        let result: (value: T, stored: Bool)
        do { result = try attempt() } catch where error.kind == .full {
            guard (try? checkpoint()) == true else { throw error }
            result = try attempt()
        }
        if result.stored, let wal = Files.stamp(of: path + "-wal")?.size, wal > (Files.freeBytes(on: path) ?? .max) / 2 {
            _ = try? checkpoint()
        }
        return result
    }

    // MARK: - enqueueing

    /// Inserts every job in one transaction: all of them, or (on an error) none.
    @discardableResult
    public func push(queue: String, _ jobs: some Sequence<NewJob>) throws(QueueError) -> Int {
        try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in
                let insert = try statement("INSERT INTO jobs (queue, payload, priority, run_at, max_attempts, grp, limit_key) VALUES (?, ?, ?, ?, ?, ?, ?)")
                var count = 0
                for job in jobs {
                    try insert.run([.text(queue), .textBytes(job.payload), .integer(Int64(job.priority)), .integer(job.runAt),
                                    .optional(job.maxAttempts), .optional(job.group), .optional(job.limitKey)])
                    count += 1
                }
                return count
            }
        }
    }

    /// Starts a transaction that inserts jobs one by one as they come (`solo push` of a stream):
    /// all of them are committed together, or none. A job whose unique key is held is left out
    /// (ON CONFLICT DO NOTHING) and named in the commit's answer.
    public func writer(queue: String, template: NewJob) throws(QueueError) -> JobWriter {
        try run { () throws(DatabaseError) in
            let insert = try statement("""
                INSERT INTO jobs (queue, payload, priority, run_at, max_attempts, grp, unique_key, unique_until, limit_key)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """)
            let holder = try statement("SELECT id FROM jobs WHERE queue = ? AND unique_key = ? AND unique_held = 1")
            try database.execute("BEGIN IMMEDIATE")
            insert.reset()
            try insert.bind(1, .text(queue))
            try insert.bind(3, .integer(Int64(template.priority)))
            try insert.bind(4, .integer(template.runAt))
            try insert.bind(5, .optional(template.maxAttempts))
            try insert.bind(6, .optional(template.group))
            try insert.bind(9, .optional(template.limitKey))
            let until: Int64? = template.uniqueFor > .zero ? Self.now() + template.uniqueFor.milliseconds : nil
            return try JobWriter(store: self, queue: queue, insert: insert, holder: holder, uniqueUntil: until)
        }
    }

    // MARK: - the supervisor's side

    /// Takes up to `count` ready jobs, highest priority first, then oldest, under a lease. Each
    /// counts an attempt, and is `ahead` until a `.started` outcome says a worker has it: a job
    /// that never reached a worker gets its attempt back however its supervisor ends.
    public func reserve(queue: String, count: Int, owner: String, leaseUntil: Int64, now: Int64) throws(QueueError) -> [ReservedJob] {
        guard count > 0 else { return [] }
        return try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in try takeReady(queue: queue, count: count, owner: owner, leaseUntil: leaseUntil, now: now) }
        }
    }

    /// What a reserve sets and returns: the lease, an attempt, `ahead`, when it became ready
    /// (kept from a hold or a give-back) and when it was handed out.
    private static let taking = """
        SET state = 'reserved', lease_owner = ?1, lease_until = ?2, attempts = attempts + 1, ahead = 1,
            ready_at = COALESCE(ready_at, MAX(created_at, run_at)), reserved_at = ?3, held_by = NULL, turn_at = NULL
        """
    private static let taken = "RETURNING id, payload, priority, attempts, max_attempts, grp, ready_at"

    /// The next `count` ready jobs of the queue, in line, reserved (within a transaction).
    func takeReady(queue: String, count: Int, owner: String, leaseUntil: Int64, now: Int64) throws(DatabaseError) -> [ReservedJob] {
        let take = try statement("""
            UPDATE jobs \(Self.taking)
            WHERE id IN (SELECT id FROM jobs WHERE queue = ?4 AND state = 'ready' ORDER BY priority DESC, id LIMIT ?5) \(Self.taken)
            """)
        try take.bind([.text(owner), .integer(leaseUntil), .integer(now), .text(queue), .integer(Int64(count))])
        return try reserved(by: take, now: now)
    }

    /// These ready jobs reserved (within a transaction).
    func take(_ ids: [Int64], owner: String, leaseUntil: Int64, now: Int64) throws(DatabaseError) -> [ReservedJob] {
        guard !ids.isEmpty else { return [] }
        let take = try statement("""
            UPDATE jobs \(Self.taking) WHERE id IN (SELECT value FROM json_each(?4)) AND state = 'ready' \(Self.taken)
            """)
        try take.bind([.text(owner), .integer(leaseUntil), .integer(now), .text(Self.jsonList(ids))])
        return try reserved(by: take, now: now)
    }

    private func reserved(by take: Statement, now: Int64) throws(DatabaseError) -> [ReservedJob] {
        var jobs: [ReservedJob] = []
        while try take.step() {
            let raw = take.bytes(1)
            jobs.append(ReservedJob(id: take.int64(0), payload: String(decoding: raw, as: UTF8.self), priority: take.int(2),
                                    attempts: take.int(3), maxAttempts: take.isNull(4) ? nil : take.int(4), group: take.text(5),
                                    payloadProblem: Payloads.problem(in: raw, maximum: Int.max),
                                    waited: .milliseconds(max(0, now - take.int64(6)))))
        }
        take.reset()
        return jobs.sorted { ($0.priority, -$0.id) > ($1.priority, -$1.id) }
    }

    /// Records which worker holds a job `owner` holds (so that `solo push` run by that worker
    /// finds its group).
    public func assign(_ id: Int64, to worker: String, owner: String) throws(QueueError) {
        try run { () throws(DatabaseError) in
            // The worker's job before may still be reserved (its outcome is written with others,
            // after this one was given): it no longer names the worker.
            try database.transaction { () throws(DatabaseError) in
                try statement("UPDATE jobs SET worker = NULL WHERE worker = ? AND state = 'reserved' AND id != ?").run([.text(worker), .integer(id)])
                try statement("UPDATE jobs SET worker = ? WHERE id = ? AND state = 'reserved' AND lease_owner = ?").run([.text(worker), .integer(id), .text(owner)])
            }
        }
    }

    /// Applies outcomes in one transaction. Only jobs `owner` still holds are changed: an outcome
    /// that comes after the lease was taken back (the supervisor was stopped too long) is dropped.
    /// A job that leaves `reserved` is no longer ahead, even one no worker started (a payload
    /// made dead for its problem), as in the Redis layout.
    public func finish(_ outcomes: [JobOutcome], owner: String, now: Int64) throws(QueueError) {
        guard !outcomes.isEmpty else { return }
        try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in
                let done = try statement("""
                    UPDATE jobs SET state = 'done', result = ?, finished_at = ?, lease_owner = NULL, lease_until = NULL, worker = NULL, ahead = 0
                    WHERE id = ? AND state = 'reserved' AND lease_owner = ?
                    """)
                let dead = try statement("""
                    UPDATE jobs SET state = 'dead', error = ?, finished_at = ?, lease_owner = NULL, lease_until = NULL, worker = NULL, ahead = 0
                    WHERE id = ? AND state = 'reserved' AND lease_owner = ?
                    """)
                let retry = try statement("""
                    UPDATE jobs SET
                        state = CASE WHEN attempts >= COALESCE(max_attempts, ?) THEN 'dead' ELSE 'delayed' END,
                        finished_at = CASE WHEN attempts >= COALESCE(max_attempts, ?) THEN ? ELSE NULL END,
                        run_at = ?,
                        error = CASE WHEN attempts >= COALESCE(max_attempts, ?)
                                THEN ? || ' (no attempt left: ' || attempts || ' of ' || COALESCE(max_attempts, ?) || ')' ELSE ? END,
                        lease_owner = NULL, lease_until = NULL, worker = NULL, ahead = 0, ready_at = NULL
                    WHERE id = ? AND state = 'reserved' AND lease_owner = ?
                    """)
                let started = try statement("UPDATE jobs SET ahead = 0 WHERE id = ? AND state = 'reserved' AND lease_owner = ?")
                let holder = SQLValue.text(owner)
                for outcome in outcomes {
                    switch outcome {
                    case .started(let id): try started.run([.integer(id), holder])
                    case .done(let id, let result): try done.run([.optional(result), .integer(now), .integer(id), holder])
                    case .dead(let id, let error): try dead.run([.text(error), .integer(now), .integer(id), holder])
                    case .retry(let id, let error, let delay, let maxAttempts):
                        let attempts = SQLValue.integer(Int64(maxAttempts))
                        try retry.run([attempts, attempts, .integer(now), .integer(now + delay.milliseconds), attempts, .text(error), attempts, .text(error),
                                       .integer(id), holder])
                    }
                }
            }
        }
    }

    /// Puts reserved jobs back untouched (taken ahead, never given to a worker).
    public func release(_ ids: [Int64], owner: String) throws(QueueError) {
        guard !ids.isEmpty else { return }
        try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in
                let back = try statement("""
                    UPDATE jobs SET state = 'ready', attempts = attempts - ahead, ahead = 0, lease_owner = NULL, lease_until = NULL, worker = NULL
                    WHERE id = ? AND state = 'reserved' AND lease_owner = ?
                    """)
                for id in ids { try back.run([.integer(id), .text(owner)]) }
            }
        }
    }

    /// Moves delayed jobs whose time has come to ready; returns how many.
    @discardableResult
    public func promoteDelayed(now: Int64) throws(QueueError) -> Int {
        try run { () throws(DatabaseError) in
            try statement("UPDATE jobs SET state = 'ready' WHERE state = 'delayed' AND run_at <= ?").run([.integer(now)])
            return database.changes
        }
    }

    /// When the queue's next delayed job is due (Unix ms), if any.
    public func nextDelayed(queue: String) throws(QueueError) -> Int64? {
        try run { () throws(DatabaseError) in
            let next = try statement("SELECT min(run_at) FROM jobs WHERE state = 'delayed' AND queue = ?")
            try next.bind([.text(queue)])
            defer { next.reset() }
            // A job held back by key_concurrency is not due by time (QueueSchema.heldUntilFreed).
            return try next.step() && !next.isNull(0) && next.int64(0) < QueueSchema.heldUntilFreed ? next.int64(0) : nil
        }
    }

    /// Extends the leases `owner` holds on these jobs of the queue.
    public func renewLeases(queue: String, ids: [Int64], owner: String, until: Int64) throws(QueueError) {
        guard !ids.isEmpty else { return }
        try run { () throws(DatabaseError) in
            try statement("""
                UPDATE jobs SET lease_until = ?1
                WHERE id IN (SELECT value FROM json_each(?4)) AND state = 'reserved' AND lease_owner = ?2 AND queue = ?3
                """).run([.integer(until), .text(owner), .text(queue), .text(Self.jsonList(ids))])
        }
    }

    /// Ids as a JSON array, for `json_each`: one bound value however many there are.
    static func jsonList(_ ids: [Int64]) -> String { "[" + ids.map(String.init).joined(separator: ",") + "]" }

    /// Takes back the jobs of supervisors that died: those whose lease ran out, and with an
    /// `owner`, every job leased under that name (a dead predecessor's: solo holds the port lock,
    /// so no live supervisor shares the name), but never those in `keeping` (the caller holds
    /// them: left alone even if a pause longer than the lease, SIGSTOP or a suspended machine,
    /// let them run out; it renews them next). As the Redis `reclaim` script does.
    ///
    /// A job a worker had (`ahead` = 0) is ready again with its attempt spent and the error
    /// "its supervisor died while it ran", or dead when it has no attempt left (the error then
    /// says so, as a retry's does: "(no attempt left: N of M)"); a job taken
    /// ahead goes back as it was before its reserve, its attempt given back.
    @discardableResult
    public func reclaim(queue: String, expiredBefore now: Int64, owner: String?, keeping: [Int64] = [], maxAttempts: Int,
                        keyConcurrency: Int? = nil) throws(QueueError) -> Int {
        try run { () throws(DatabaseError) in
            let back = try statement("""
                UPDATE jobs SET
                    state = CASE WHEN ahead = 0 AND attempts >= COALESCE(max_attempts, ?1) THEN 'dead' ELSE 'ready' END,
                    finished_at = CASE WHEN ahead = 0 AND attempts >= COALESCE(max_attempts, ?1) THEN ?2 ELSE NULL END,
                    error = CASE WHEN ahead = 0 THEN 'its supervisor (' || lease_owner || ') died while it ran'
                        || CASE WHEN attempts >= COALESCE(max_attempts, ?1)
                           THEN ' (no attempt left: ' || attempts || ' of ' || COALESCE(max_attempts, ?1) || ')' ELSE '' END
                        ELSE error END,
                    ready_at = CASE WHEN ahead = 0 THEN ?2 ELSE ready_at END,
                    attempts = attempts - ahead, ahead = 0,
                    lease_owner = NULL, lease_until = NULL, worker = NULL
                WHERE state = 'reserved' AND queue = ?3 AND (lease_until < ?2 OR lease_owner = ?4)
                    AND id NOT IN (SELECT value FROM json_each(?5))
                """)
            try back.run([.integer(Int64(maxAttempts)), .integer(now), .text(queue), .optional(owner), .text(Self.jsonList(keeping))])
            let taken = database.changes
            try freeHeld(queue: queue, keyConcurrency: keyConcurrency)
            return taken
        }
    }

    /// Deletes up to `limit` done jobs of a queue finished before `before`, keeping those of
    /// groups still running and those whose unique key outlives them (--unique-for); returns
    /// how many.
    @discardableResult
    public func purgeDone(queue: String, before: Int64, limit: Int = 2000) throws(QueueError) -> Int {
        try run { () throws(DatabaseError) in
            try statement("""
                DELETE FROM jobs WHERE id IN (
                    SELECT id FROM jobs AS j WHERE state = 'done' AND finished_at < ?1 AND queue = ?2
                        AND (grp IS NULL OR NOT EXISTS (
                            SELECT 1 FROM jobs AS g WHERE g.grp = j.grp AND g.state IN ('ready', 'delayed', 'reserved')))
                        AND NOT (unique_key IS NOT NULL AND unique_held = 1 AND unique_until > ?4)
                    LIMIT ?3)
                """).run([.integer(before), .text(queue), .integer(Int64(limit)), .integer(Self.now())])
            return database.changes
        }
    }

    /// Whether another connection has committed since the last call (cheap: no query on the data).
    public func dataVersion() throws(QueueError) -> Int64 {
        try run { () throws(DatabaseError) in try database.dataVersion() }
    }
}
