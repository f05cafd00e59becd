/// Feed mode's one job lifecycle, for every store (see FeedStore): takes jobs for idle workers
/// (a few ahead, in one request), writes back their outcomes in batches, keeps their leases
/// alive, brings delayed jobs due, takes back the jobs of dead supervisors, deletes old done
/// jobs, and rides out a store that cannot be used (the workers stay up; jobs wait) until it
/// can. A store answers at once or on a later turn of the loop; this is written for the later.
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
final class Feeder: Timed {
    /// Outcomes are sent together, at most this long after the first one, or at once when
    /// this many wait. After a `kill -9`, the jobs whose outcome was not sent run again (with
    /// those in the workers' hands): this bounds them by time and by count.
    static let commitDelay: Duration = .milliseconds(5)
    static let commitBatch = 256
    /// A store that refused to give jobs is asked again this often.
    static let refusedLook: Duration = .seconds(1)
    /// A queue at its concurrency is asked again this often for room that other supervisors
    /// made (a queue file's commits are heard of at once).
    static let concurrencyLook: Duration = .milliseconds(100)
    /// Old done jobs are deleted this many at a time, a step a loop turn.
    static let purgeBatch = 2000

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

    /// A batch as it goes to the store: a `started` mark is left out when the job's own outcome
    /// follows in the same batch (which clears the mark too, in both stores). Within 5 ms most
    /// jobs start and end, so this halves the updates a job costs.
    static func compacted(_ batch: [JobOutcome]) -> [JobOutcome] {
        var ending = Set<Int64>()
        for outcome in batch { if case .started = outcome {} else { ending.insert(outcome.id) } }
        guard !ending.isEmpty else { return batch }
        return batch.filter { outcome in
            if case .started(let id) = outcome { return !ending.contains(id) }
            return true
        }
    }

    /// The lookahead under the pool's limits. A job taken ahead counts as running (and has had
    /// its rate's turn) before a worker is free for it, so: none for a queue whose own limit
    /// binds, none with key_concurrency (a key's few slots would wait in one supervisor's
    /// hands while others are idle), and an eighth of `concurrency` at most, so that
    /// supervisors sharing a queue each get their share of it.
    static func lookahead(workers: Int, limits: JobLimits, limitedBy: LimitName?) -> Int {
        if limitedBy != nil || limits.keyConcurrency != nil { return 0 }
        return min(lookahead(workers: workers), limits.concurrency.map { $0 / 8 } ?? .max)
    }

    /// A pool's link to its queue.
    final class Feed {
        let pool: Pool
        let queue: FeedQueue
        var prefetched: [ReservedJob] = []
        /// A worker asked for a job the feed did not have.
        var wanting = false

        init(pool: Pool, queue: FeedQueue) {
            self.pool = pool
            self.queue = queue
        }
    }

    /// A job in a worker's hands, by pool and id.
    private struct HeldJob: Hashable {
        let pool: ObjectIdentifier
        let id: Int64
    }

    let owner: String
    let lease: Duration
    let stores: FeedStores
    private(set) var feeds: [Feed] = []
    /// The queues in use, by store and name: a queue outlives its feeds while it still owes an
    /// outcome or holds a job.
    private(set) var queues: [FeedQueue.Key: FeedQueue] = [:]
    /// The queue (and its store's generation) each job in a worker's hands came from: its
    /// outcome goes back there, even after a reload moved its pool elsewhere or removed it.
    private var held: [HeldJob: (queue: FeedQueue, generation: Int)] = [:]
    var nextMaintenance = Moment.now()
    private(set) var recentGroups = RecentGroups()
    var nextPurge = Moment.now()
    let say: (String) -> Void
    /// Told of each batch of outcomes a store accepted, and of each change a store tells of:
    /// the callers waiting for outcomes look then (see ClientWaiters).
    var committed: (FeedQueue.Key, [JobOutcome]) -> Void = { _, _ in }
    var storeChanged: (any FeedStore) -> Void = { _ in }

    init(pools: [Pool], owner: String, lease: Duration, hub: RedisHub, say: @escaping (String) -> Void) {
        self.owner = owner
        self.lease = lease
        self.say = say
        stores = FeedStores(hub: hub, say: say)
        reconfigure(pools: pools)
    }

    private func feed(of pool: Pool) -> Feed? { feeds.first { $0.pool === pool } }
    var holdsJobs: Bool { !held.isEmpty }

    /// The jobs of a queue the supervisor holds or still answers for: kept when leases are taken
    /// back, renewed with ours.
    func known(_ queue: FeedQueue) -> [Int64] {
        // A job taken from a file since replaced has no row in this one, or another job's.
        var ids = held.filter { $0.value.queue === queue && $0.value.generation == queue.generation }.map(\.key.id)
        for feed in feeds where feed.queue === queue { ids += feed.prefetched.map(\.id) }
        return ids + queue.owed
    }

    // MARK: - pools

    /// Matches feeds to the pools and their queues (at start, and after a reload): a feed whose
    /// pool left or moved to another queue gives its jobs back; new queues are opened.
    func reconfigure(pools: [Pool]) {
        var kept: [Feed] = []
        for feed in feeds {
            let current = pools.first { $0 === feed.pool }
            if let current, !current.removed, FeedStores.Address(current.config.queue).map({ feed.queue.key.address == $0 }) == true,
               current.config.queueName == feed.queue.name {
                kept.append(feed)
            } else {
                releaseAhead(feed)
            }
        }
        feeds = kept
        for pool in pools where !pool.removed && feed(of: pool) == nil {
            guard let address = FeedStores.Address(pool.config.queue) else { continue }
            let key = FeedQueue.Key(address: address, name: pool.config.queueName)
            let queue = queues[key] ?? FeedQueue(key: key, store: stores.store(at: address, listener: self))
            if queues[key] == nil {
                queues[key] = queue
                queue.store.watch(queue: queue.name)
            }
            feeds.append(Feed(pool: pool, queue: queue))
            // A new queue on a store that is up: its own stale leases go first (the queues
            // already in use keep theirs: a reserve of theirs may be in flight).
            if queue.store.isUp { reclaimOwn(queue, config: pool.config) }
        }
        letGoOfUnused()
        maintain(now: .now())
    }

    /// Queues and stores no feed, job or outcome needs any more are let go.
    func letGoOfUnused() {
        for (key, queue) in queues where !feeds.contains(where: { $0.queue === queue }) && !held.values.contains(where: { $0.queue === queue })
            && queue.outcomes.isEmpty && queue.inFlight.isEmpty {
            queue.store.unwatch(queue: queue.name)
            queues[key] = nil
        }
        stores.keep(only: queues.values.map(\.store))
    }

    // MARK: - jobs

    /// Up to `count` jobs for the pool's idle workers. A FastCGI request is not sure to arrive:
    /// with `given: false` the jobs stay ahead until `delivered` (or go back with `giveBack`).
    func take(for pool: Pool, count: Int, now: Moment, given: Bool = true) -> [ReservedJob] {
        // A full batch of outcomes not written yet (the store is away): no new job until they
        // are, so that a kill never runs more than a batch again.
        guard count > 0, let feed = feed(of: pool), feed.queue.outcomes.count < Self.commitBatch else { return [] }
        if feed.prefetched.count < count {
            feed.wanting = true
            reserve(feed, count: count - feed.prefetched.count, now: now)
        } else {
            feed.wanting = false
        }
        // Oldest first; the array is short (the lookahead), so this shift is cheap. The time a
        // job waited taken ahead is queue wait too.
        let taken = feed.prefetched.prefix(count).map { job in
            var job = job
            if let arrived = job.arrived { job.waited = job.waited.map { $0 + (now - arrived) } }
            return job
        }
        feed.prefetched.removeFirst(taken.count)
        for job in taken {
            held[HeldJob(pool: ObjectIdentifier(pool), id: job.id)] = (feed.queue, feed.queue.generation)
            // Said to the store with the next outcomes (see above).
            if given { add(.started(id: job.id), to: feed.queue, now: now) }
        }
        return taken
    }

    /// A job taken with `given: false` reached PHP-FPM: its attempt is spent from now on.
    func delivered(_ job: ReservedJob, of pool: Pool, now: Moment) {
        guard let source = held[HeldJob(pool: ObjectIdentifier(pool), id: job.id)] else { return }
        add(.started(id: job.id), to: source.queue, now: now)
    }

    /// A job taken with `given: false` that could not be delivered goes back to its queue with
    /// its attempt, as a job taken ahead does.
    func giveBack(_ job: ReservedJob, of pool: Pool) {
        guard let source = held.removeValue(forKey: HeldJob(pool: ObjectIdentifier(pool), id: job.id)) else { return }
        // A `started` mark not written yet would land on the job's next reserve.
        source.queue.outcomes.removeAll { $0 == .started(id: job.id) }
        source.queue.store.release(queue: source.queue.name, ids: [job.id], owner: owner) { _ in }
    }

    private func reserve(_ feed: Feed, count: Int, now: Moment) {
        let queue = feed.queue
        guard queue.maybeNewJobs, !queue.reserving, queue.store.isUp, queue.reclaimed else { return }
        let limits = feed.pool.config.jobLimits
        let wanted = count + Self.lookahead(workers: feed.pool.desiredWorkers, limits: limits, limitedBy: queue.limitedBy)
        queue.reserving = true
        queue.limited = !limits.isEmpty
        queue.store.reserve(queue: queue.name, count: wanted, owner: owner, lease: lease, limits: limits) { [unowned self] reply in
            queue.reserving = false
            let now = Moment.now()
            switch reply {
            case .unavailable: return  // tried again when it can be
            case .refused(let message):
                queue.maybeNewJobs = false
                queue.nextLook = now + Self.refusedLook
                if queue.refusal != message {
                    let why = message.hasPrefix("FENCED") ? String(message.dropFirst(7)) : message
                    self.say("pool \(feed.pool.name): \(queue.store.location) refused to give jobs: \(why); looking again every second")
                }
                queue.refusal = message
            case .answer(let reservation):
                queue.refusal = nil
                queue.nextDelayed = reservation.nextDelayedIn.map { now + $0 }
                // Held back only if a worker waits for what the limit kept in line.
                queue.limitedBy = reservation.jobs.count < count ? reservation.limitedBy : nil
                if reservation.jobs.count < wanted {
                    queue.maybeNewJobs = false
                    // A limit that binds: look again at the rate's next turn, or soon for
                    // jobs that other supervisors finish (our own commits wake us).
                    let limitLook = reservation.limitedBy == .concurrency ? Self.concurrencyLook : reservation.nextTurnIn
                    queue.nextLook = earlier(queue.store.lookInterval.map { now + $0 }, limitLook.map { now + $0 })
                }
                self.accept(reservation.jobs, for: feed, now: now)
            }
        }
    }

    /// Jobs a reserve took: to the pool's hand, back to the queue if the pool no longer takes
    /// any (it stopped, or left, while the reserve was on its way), or dead if their payload
    /// would break the line protocol (another program inserted it).
    private func accept(_ jobs: [ReservedJob], for feed: Feed, now: Moment) {
        let taking = feeds.contains { $0 === feed } && !feed.pool.paused && !feed.pool.stopping && !feed.pool.standingBy
        var unused: [Int64] = []
        for job in jobs {
            if let problem = job.payloadProblem {
                add(.dead(id: job.id, error: "its payload \(problem); it was not given to a worker"), to: feed.queue, now: now)
            } else if taking {
                var job = job
                job.arrived = now
                feed.prefetched.append(job)
            } else {
                unused.append(job.id)
            }
        }
        if !unused.isEmpty { feed.queue.store.release(queue: feed.queue.name, ids: unused, owner: owner) { _ in } }
    }

    /// Notes which worker holds a job of a group, for `solo push` run by that worker, and the
    /// group among the recent ones (the dashboard's groups); `then` once the store has answered
    /// (within the call for a file), so that the job's line goes out after the note is in.
    func assign(_ job: ReservedJob, of pool: Pool, to worker: String, then: @escaping () -> Void = {}) {
        if let group = job.group { recentGroups.note(group, pool: pool.name) }
        guard job.group != nil, let source = held[HeldJob(pool: ObjectIdentifier(pool), id: job.id)] else { return then() }
        source.queue.store.assign(queue: source.queue.name, id: job.id, to: worker, owner: owner) { [unowned self] reply in
            defer { then() }
            guard case .answer = reply else {
                return self.say("pool \(pool.name): could not note that job \(job.id) runs in worker \(worker); jobs it pushes may miss group \(job.group ?? "")")
            }
        }
    }

    /// Records what became of a job `take` gave the pool, for the queue it came from; it is
    /// written with others shortly (see `flush`).
    /// `urgent`: whether a caller awaits the job in the queue it came from; its outcome is then
    /// written now rather than with others.
    func record(_ job: ReservedJob, _ outcome: JobOutcome, of pool: Pool, now: Moment, urgent: (FeedQueue.Key) -> Bool = { _ in false }) {
        guard let source = held.removeValue(forKey: HeldJob(pool: ObjectIdentifier(pool), id: job.id)) else { return }
        guard source.generation == source.queue.generation else {
            say("pool \(pool.name): the outcome of job \(job.id) is lost: \(source.queue.store.location) was replaced while the job ran")
            return
        }
        add(outcome, to: source.queue, now: now, urgent: urgent(source.queue.key))
    }

    private func add(_ outcome: JobOutcome, to queue: FeedQueue, now: Moment, urgent: Bool = false) {
        if queue.outcomes.isEmpty { queue.firstOutcome = now }
        queue.outcomes.append(outcome)
        if urgent || Self.commitDue(count: queue.outcomes.count, since: queue.firstOutcome, now: now) { flush(queue, now: now, urgent: urgent) }
    }

    /// Writes the outcomes that have waited long enough (all of them with `force`) to stores
    /// that can be asked; the others wait for theirs.
    func flush(now: Moment, force: Bool = false) {
        for queue in queues.values where !queue.outcomes.isEmpty { flush(queue, now: now, force: force) }
    }

    func flush(_ queue: FeedQueue, now: Moment, force: Bool = false, urgent: Bool = false) {
        // Forced (at a stop, when a store comes up): even a queue waiting out a refusal.
        guard force || urgent || Self.commitDue(count: queue.outcomes.count, since: queue.firstOutcome, now: now),
              force || queue.outcomeRetry.due(now), queue.store.isUp else { return }
        let batch = Self.compacted(queue.outcomes)
        let number = queue.nextBatch
        queue.nextBatch += 1
        queue.inFlight[number] = batch
        queue.outcomes.removeAll(keepingCapacity: true)
        queue.firstOutcome = nil
        queue.store.commit(queue: queue.name, batch, owner: owner) { [unowned self] reply in
            queue.inFlight[number] = nil
            let now = Moment.now()
            switch reply {
            case .answer(let nextDelayedIn):
                queue.outcomeRetry.accepted()
                self.committed(queue.key, batch)
                // Jobs that left 'reserved' make room under a concurrency limit, and free held jobs.
                if queue.limited { queue.maybeNewJobs = true }
                // The retries are delayed jobs now: brought due when their time comes.
                if let nextDelayedIn { queue.nextDelayed = earlier(queue.nextDelayed, now + nextDelayedIn) }
            case .refused(let message):
                // Kept and sent again (a server loading its data, out of memory, a replica):
                // dropped, they would run again.
                queue.putBack(batch, now: now)
                if queue.outcomeRetry.refused(message, now: now) {
                    self.say("queue \(queue.name) (\(queue.store.location)): \(batch.count) outcome(s) were refused: \(message); kept, and sent again shortly")
                }
            case .unavailable:
                // Busy, unusable or away: they go again once it can be asked.
                queue.putBack(batch, now: now)
            }
        }
    }

    /// Gives back the jobs taken ahead for a pool that stopped or shrank to nothing, so that
    /// other supervisors may have them. If the store cannot be asked, they stay leased to us
    /// and come back to the queue when their lease runs out.
    func releaseAhead(of pool: Pool) {
        guard let feed = feed(of: pool) else { return }
        releaseAhead(feed)
    }

    private func releaseAhead(_ feed: Feed) {
        guard !feed.prefetched.isEmpty else { return }
        let ids = feed.prefetched.map(\.id)
        feed.prefetched = []
        feed.queue.store.release(queue: feed.queue.name, ids: ids, owner: owner) { _ in }
    }

    // MARK: - figures

    /// A pool's queue as `solo status` shows it: where it is, its counts, or why it cannot be
    /// used, and which of its own limits bound at the last reserve.
    func status(of pool: Pool) -> (path: String, counts: QueueCounts?, problem: String?, limitedBy: LimitName?)? {
        guard let feed = feed(of: pool) else { return nil }
        let store = feed.queue.store
        return (store.location, store.counts(queue: feed.queue.name), store.problem, feed.queue.limitedBy)
    }

    /// The jobs of the pool's queue waiting for a worker (ready in the store, and taken ahead),
    /// counted up to `limit`; nil when the store cannot say now.
    func waiting(of pool: Pool, atMost limit: Int) -> Int? {
        guard let feed = feed(of: pool) else { return nil }
        let ahead = feed.prefetched.count
        // Ready jobs the queue's own limit holds back wait for it, not for a worker: more
        // workers would not take them sooner.
        guard ahead < limit, feed.queue.limitedBy == nil else { return ahead }
        return feed.queue.store.ready(queue: feed.queue.name, atMost: limit - ahead).map { $0 + ahead }
    }

    // MARK: - stopping

    /// At the end: outcomes are written and the jobs taken ahead go back (a store may now wait a
    /// few seconds for a busy lock); the caller runs the loop until `settled` for the replies
    /// that come later.
    func shutdown() {
        for store in stores.all { store.stopping() }
        for feed in feeds { releaseAhead(feed) }
        flush(now: .now(), force: true)
    }

    /// Whether every outcome has been answered (or cannot be: its store is away).
    var settled: Bool {
        queues.values.allSatisfy { $0.inFlight.isEmpty && ($0.outcomes.isEmpty || !$0.store.isUp) } && stores.all.allSatisfy(\.settled)
    }

    /// Says what could not be written at the end: those jobs will run again.
    func abandon() {
        for queue in queues.values where !queue.owed.isEmpty {
            let jobs = Set(queue.owed).count
            say("queue \(queue.name) (\(queue.store.location)): the outcomes of \(jobs) job\(jobs == 1 ? "" : "s") could not be written; \(jobs == 1 ? "it" : "they") will run again")
        }
    }
}
