/// Feed mode's link between the queues and the pools. A pool's jobs come from its SQLite file
/// (SQLiteFeeder: short synchronous transactions) or its Redis server (RedisFeeder: requests
/// that never block the loop); this sends every call to the one that feeds the pool, and an
/// outcome back to the one its job came from (a reload may have moved the pool meanwhile).
///
/// Attempts when a supervisor dies (both stores work alike). A reserve counts an attempt for
/// every job it takes and marks each `ahead`. Giving a job to a worker queues a `started`
/// outcome, which clears the mark; it goes to the store with the next batch of outcomes
/// (within `commitDelay`), in the same transaction or script as they and before the job's own
/// outcome. Taking back a dead supervisor's jobs gives the attempt back to those still ahead.
/// So, wherever a kill -9 lands:
/// - a job no worker was given is still ahead (only giving it queues the mark): it goes back
///   with its attempts as they were, never dead for it;
/// - a job a worker was given more than `commitDelay` before keeps its attempt, so a job that
///   kills its supervisor does not run forever;
/// - a job given in the last `commitDelay` runs again with its attempt given back, as it would
///   run again for a lost outcome.
/// The marks cost no commit and no fsync of their own: they ride in the outcome commits, which
/// a kill -9 of the process does not undo (a power cut may, and then the outcomes too).
final class Feeder {
    /// Outcomes are sent together, at most this long after the first one, or at once when
    /// this many wait. After a `kill -9`, the jobs whose outcome was not sent run again (with
    /// those in the workers' hands): this bounds them by time and by count.
    static let commitDelay: Duration = .milliseconds(5)
    static let commitBatch = 256

    /// Whether outcomes waiting since `first` are to be sent now. Checked as each outcome is
    /// recorded, not only at the end of a loop turn: a long turn (a burst of events, a loaded
    /// machine) would otherwise hold them for several times `commitDelay`.
    static func commitDue(count: Int, since first: Moment?, now: Moment) -> Bool {
        count >= commitBatch || (first.map { now >= $0 + commitDelay } ?? true)
    }

    /// Jobs taken ahead of need, so that one transaction (or one round trip) serves many: 16
    /// per worker, at least 64. (Ahead-taken jobs keep their place against later,
    /// higher-priority ones: the price of not paying a transaction per job.)
    static func lookahead(workers: Int) -> Int { max(workers * 16, 64) }

    let owner: String
    let files: SQLiteFeeder
    let redis: RedisFeeder

    init(pools: [Pool], owner: String, lease: Duration, hub: RedisHub, say: @escaping (String) -> Void) {
        self.owner = owner
        files = SQLiteFeeder(pools: pools, owner: owner, lease: lease, say: say)
        redis = RedisFeeder(hub: hub, owner: owner, lease: lease, say: say)
        redis.reconfigure(pools: pools)
    }

    /// The inotify descriptor that tells of commits to the queue files' directories.
    var descriptor: FileDescriptor? { files.descriptor }

    func reconfigure(pools: [Pool]) {
        files.reconfigure(pools: pools)
        redis.reconfigure(pools: pools)
    }

    func take(for pool: Pool, count: Int, now: Moment) -> [ReservedJob] {
        switch pool.config.queue {
        case .sqlite: return files.take(for: pool, count: count, now: now)
        case .redis: return redis.take(for: pool, count: count, now: now)
        case .none: return []
        }
    }

    func assign(_ job: ReservedJob, of pool: Pool, to worker: String) {
        switch job.backend {
        case .sqlite: files.assign(job, of: pool, to: worker)
        case .redis: redis.assign(job, of: pool, to: worker)
        }
    }

    func record(_ job: ReservedJob, _ resolution: JobResolution, of pool: Pool, now: Moment) {
        switch job.backend {
        case .sqlite: files.record(job, resolution, of: pool, now: now)
        case .redis: redis.record(job, resolution, of: pool, now: now)
        }
    }

    func flush(now: Moment, force: Bool = false) {
        files.flush(now: now, force: force)
        redis.flush(now: now, force: force)
    }

    func filesChanged() { files.filesChanged() }

    func releaseAhead(of pool: Pool) {
        files.releaseAhead(of: pool)
        redis.releaseAhead(of: pool)
    }

    func waiting(of pool: Pool, atMost limit: Int) -> Int? {
        if case .redis = pool.config.queue { return redis.waiting(of: pool, atMost: limit) }
        return files.waiting(of: pool, atMost: limit)
    }

    func status(of pool: Pool) -> (path: String, counts: QueueCounts?, problem: String?)? {
        if case .redis = pool.config.queue { return redis.status(of: pool) }
        return files.status(of: pool)
    }

    var nextDeadline: Moment? { earlier(files.nextDeadline, redis.nextDeadline) }

    func expire(now: Moment) {
        files.expire(now: now)
        redis.expire(now: now)
    }

    /// Old done jobs are being deleted from a file, a batch a loop turn.
    var purging: Bool { files.purging }

    func shutdown() {
        files.shutdown()
        redis.shutdown()
    }
}
