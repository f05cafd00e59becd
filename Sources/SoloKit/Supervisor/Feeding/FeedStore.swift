/// What the feeder (see `Feeder`) asks of the place a queue lives: a queue file (SQLiteFeedStore)
/// or a Redis server (RedisFeedStore). The job's life is the feeder's; a store only carries out
/// one request at a time on its queues, and says what came of it.
///
/// Every request is answered through its completion: a file answers at once, in the call; a
/// server on a later turn of the loop. The feeder is written for the later turn, so that both
/// look alike to it.
///
/// What a store does by itself (a file tried again after a problem) is Timed: the feeder asks
/// its stores with its own deadline.
protocol FeedStore: AnyObject, Timed {
    /// Where the queues live, as `solo status` shows it (a file's path, a server's URL).
    var location: String { get }
    /// Why the store cannot be used now, for `solo status` (nil: usable, or only busy).
    var problem: String? { get }
    /// Whether requests can be made now; while not, a request is answered `.unavailable` and
    /// the store tells its listener `storeIsUp` once they can.
    var isUp: Bool { get }
    /// How often to look again for jobs while a worker waits and the queue had none: jobs may
    /// come that no event tells of (nil: the store tells of every commit, and the feeder's
    /// maintenance is the safety net).
    var lookInterval: Duration? { get }
    /// Who hears of the store's events (the feeder).
    var listener: (any FeedStoreListener)? { get set }

    /// Opens the file or starts hearing of the connection: the listener hears `storeIsUp` as
    /// soon as the store can be used (within this call if it can now).
    func start()
    /// Starts (or stops) hearing of jobs committed to `queue` by others.
    func watch(queue: String)
    func unwatch(queue: String)
    /// Starts (or stops) hearing of jobs that others end in `queue`, while a caller waits for
    /// one there (a queue file tells of every commit through `watch` already).
    func watchEndings(queue: String)
    func unwatchEndings(queue: String)

    /// Brings due delayed jobs to ready, then leases up to `count` ready jobs to `owner` for
    /// `lease`, highest priority first, then oldest, within the queue's `limits` (JobLimits:
    /// fewer jobs, and those of a key at its limit held back). Each counts an attempt and is
    /// `ahead` until a `.started` outcome says a worker has it.
    func reserve(queue: String, count: Int, owner: String, lease: Duration, limits: JobLimits,
                 _ done: @escaping (StoreReply<Reservation>) -> Void)
    /// Applies outcomes, in order, to the jobs `owner` still holds (others are left alone: their
    /// lease was taken back). Answers when the next delayed job is due.
    func commit(queue: String, _ outcomes: [JobOutcome], owner: String, _ done: @escaping (StoreReply<Duration?>) -> Void)
    /// Brings due delayed jobs to ready; answers when the next one is due.
    func promote(queue: String, _ done: @escaping (StoreReply<Duration?>) -> Void)
    /// Extends the leases `owner` holds on these jobs.
    func renew(queue: String, ids: [Int64], owner: String, lease: Duration, _ done: @escaping (StoreReply<Void>) -> Void)
    /// Takes back the jobs whose lease ran out, and with `owner` every job leased under that
    /// name, except those in `keeping` (the caller holds them: left alone even if their lease ran
    /// out while it was paused; it renews them). A job a worker had is ready again with its
    /// attempt spent (dead when it has none left, the pool's default being `maxAttempts`); a
    /// job still ahead goes back as it was before its reserve. Each key with jobs held back by
    /// key_concurrency gets as many freed as it has room for under `keyConcurrency` (all, a
    /// thousand at a time, with none): a slot lost to an operator's change, or a raised limit,
    /// is given back. Answers how many jobs were taken back.
    /// (JobStore.reclaim and the Redis `reclaim` script.)
    func reclaim(queue: String, owner: String?, keeping: [Int64], maxAttempts: Int, keyConcurrency: Int?,
                 _ done: @escaping (StoreReply<Int>) -> Void)
    /// Gives back untouched jobs leased to `owner` and never given to a worker.
    func release(queue: String, ids: [Int64], owner: String, _ done: @escaping (StoreReply<Void>) -> Void)
    /// Deletes up to `limit` done jobs finished more than `keep` ago, sparing those of groups that
    /// still run, looking from `offset` (the ones skipped by the steps before).
    func purge(queue: String, keep: Duration, limit: Int, offset: Int, _ done: @escaping (StoreReply<PurgeStep>) -> Void)
    /// Notes which worker holds a job of a group (for `solo push` run by that worker).
    func assign(queue: String, id: Int64, to worker: String, owner: String, _ done: @escaping (StoreReply<Void>) -> Void)
    /// Pushes a schedule's run unless it was pushed before, by this supervisor or another: the
    /// run and its job in one step (JobStore.pushRun, RedisScheduleScripts.pushRun; a Redis
    /// store checks the fleet lock's fence too).
    func pushRun(_ run: ScheduledRun, _ done: @escaping (StoreReply<RunPush>) -> Void)
    /// Queues jobs for a client (solo-client(7)), all in one transaction or script: each one
    /// with `template`'s attributes and its payload and unique key; answers, in order, each
    /// job's id, or the id of the job holding its unique key.
    func push(queue: String, template: NewJob, _ jobs: [(payload: [UInt8], uniqueKey: String?)],
              _ done: @escaping (StoreReply<[PushedJob]>) -> Void)
    /// The jobs of `queue` with these ids (those that exist), or those of `group` (up to `limit`).
    func jobs(queue: String, ids: [Int64], _ done: @escaping (StoreReply<[JobRecord]>) -> Void)
    func jobs(queue: String, group: String, limit: Int, _ done: @escaping (StoreReply<[JobRecord]>) -> Void)
    /// How many jobs of the group the queue holds in each state: the store's counters, cheap
    /// however large the group.
    func groupCounts(queue: String, group: String, _ done: @escaping (StoreReply<QueueCounts>) -> Void)
    /// The latest run of `schedule` pushed to `queue`, if any.
    func lastRun(of schedule: String, queue: String, _ done: @escaping (StoreReply<PastRun?>) -> Void)

    /// The queue's latest figures: read now from a file; from a server, the last it sent (a
    /// second old at most while someone asks: asking again is sent with this call).
    func counts(queue: String) -> QueueCounts?
    /// The ready jobs of a queue counted up to `limit` (cheap however long the queue), from the
    /// same source as `counts`; nil when the store cannot say now.
    func ready(queue: String, atMost limit: Int) -> Int?

    /// Called every maintenance (a third of a lease): a file checks that it was not replaced on
    /// disk unseen.
    func maintain(now: Moment)
    /// From now on a request may wait a few seconds for a busy store: the supervisor is stopping,
    /// and these are its last words.
    func stopping()
    /// Whether every request made has been answered (or cannot be: the store is away).
    var settled: Bool { get }
}

/// A store's answer to a request.
enum StoreReply<Value> {
    case answer(Value)
    /// The store took the request and said no (a server loading its data, out of memory, a
    /// read-only replica, a fence that is no longer ours): the feeder tries again later and logs
    /// the refusal once.
    case refused(String)
    /// The store could not be asked (busy, unusable, away): nothing changed, and the store tells
    /// its listener when it can be asked again.
    case unavailable
}

/// A job a client pushed: queued, or refused as a duplicate of `id`.
struct PushedJob: Equatable {
    var id: Int64
    var duplicate: Bool
}

/// What a reserve took.
struct Reservation {
    var jobs: [ReservedJob]
    /// When the next delayed job of the queue is due, from now (nil: none waits).
    var nextDelayedIn: Duration?
    /// The queue's own limit that cut the reserve short (nil: none did).
    var limitedBy: LimitName? = nil
    /// When its rate_limit lets the next job go, from now, when it cut the reserve.
    var nextTurnIn: Duration? = nil
}

/// What a purge step did.
struct PurgeStep: Equatable {
    var deleted: Int
    /// No done job is left to look at in this round.
    var finished: Bool
    /// Done jobs looked at and spared (a running group's): the next step starts after them.
    var skipped: Int
}

/// What a store tells the feeder of by itself.
protocol FeedStoreListener: AnyObject {
    /// Jobs may have come to `queue` (nil: to any queue in the store).
    func jobsMayHaveCome(in store: any FeedStore, queue: String?)
    /// Jobs of `queue` may have ended, by another supervisor's hand.
    func jobsMayHaveEnded(in store: any FeedStore, queue: String)
    /// The store can be asked (again): connected, reopened, or no longer busy.
    func storeIsUp(_ store: any FeedStore)
    /// The store is about to let go of what it has open for another one (a queue file replaced
    /// on disk): what is owed to the old one is to be written now.
    func storeWillBeReplaced(_ store: any FeedStore)
    /// ... and now it is another one: no job the feeder took from the old one is in it.
    func storeWasReplaced(_ store: any FeedStore)
}
