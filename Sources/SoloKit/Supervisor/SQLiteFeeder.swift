import CSoloSpawn
import Glibc

/// Feed mode's link between SQLite queue files and the pools: takes jobs for idle workers (a
/// few ahead, in one transaction), writes back outcomes in batches, keeps leases alive, brings
/// delayed jobs due, takes back the jobs of dead supervisors, and rides out a queue file that
/// cannot be used (the workers stay up; jobs wait) until it can.
///
/// Every call is made from the supervisor's loop and is short: SQLite never waits for a lock
/// here (busy_timeout 0); a busy file is tried again a moment later.
final class SQLiteFeeder {
    /// A lease outlives a supervisor by this much (`lease` in [global]): other supervisors
    /// sharing the file take its jobs back after it. Renewed at a third of it.
    let lease: Duration
    /// How soon a write that found the file busy is tried again.
    static let busyRetry: Duration = .milliseconds(10)
    /// The supervisor's page cache per queue file: the hot pages (the ready index, the newest
    /// rows) fit, and its memory stops growing early in a long run.
    static let cacheMiB = 4

    final class QueueFile {
        let path: String
        var store: JobStore?
        var inode: UInt64 = 0
        var problem: String?
        /// The problem is a full disk: it is over once a write stores something (a read, or a
        /// write that changes no row, works on a full disk).
        var diskFull = false
        /// The file as it was left when it became unusable: an event that finds it otherwise is
        /// someone's repair; one that finds it the same came from our own open and close.
        var leftAs: Files.Stamp?
        /// While set, no write is tried before it (the file was busy, or unusable).
        var retryAt: Moment?
        var retryWait: Duration = .seconds(1)
        var outcomes: [JobOutcome] = []
        var firstOutcome: Moment?
        /// When the next delayed job in the file is due.
        var nextDelayed: Moment?
        /// Retries recorded but not committed yet: due times that join `nextDelayed` once they are.
        var pendingRetry: Moment?
        /// Leases to renew (set every maintenance, cleared once it has worked).
        var renewDue = false
        /// Queues whose jobs leased under our own name were taken back since the file was opened:
        /// before that, a queue gives no job (they would be taken back from under our workers).
        var reclaimed: Set<String> = []
        /// Counts the times the file was found replaced: a job taken from an earlier one has no
        /// row in this one (or, worse, another job's id).
        var generation = 0

        init(path: String) { self.path = path }

        /// When something of the file falls due at `moment` (a delayed job, a batch of
        /// outcomes): not before the file is tried again, else a moment already past would
        /// wake the loop at once, again and again, until then.
        func due(_ moment: Moment) -> Moment { retryAt.map { max(moment, $0) } ?? moment }
    }

    final class Feed {
        let pool: Pool
        let file: QueueFile
        /// The queue's name when the feed was made (a reload may give the pool another).
        let queue: String
        var prefetched: [ReservedJob] = []
        /// Whether the queue may have jobs we have not looked for (per queue: another pool's
        /// empty queue in the same file must not hide ours).
        var maybeNewJobs = true
        /// Old done jobs are deleted a batch per loop turn until none is left.
        var purging = false

        init(pool: Pool, file: QueueFile) {
            self.pool = pool
            self.file = file
            queue = pool.config.queueName
        }
    }

    /// A job in a worker's hands, by pool and id.
    private struct HeldJob: Hashable {
        let pool: ObjectIdentifier
        let id: Int64
    }

    let owner: String
    private(set) var feeds: [Feed] = []
    /// The file (and its generation) each job in a worker's hands came from: its outcome goes
    /// back there, even after a reload moved its pool to another file or removed it.
    private var held: [HeldJob: (file: QueueFile, generation: Int)] = [:]
    private var files: [String: QueueFile] = [:]
    private let watch: DirectoryWatch?
    private var nextMaintenance = Moment.now()
    private var nextPurge = Moment.now()
    private let say: (String) -> Void

    init(pools: [Pool], owner: String, lease: Duration, say: @escaping (String) -> Void) {
        self.owner = owner
        self.lease = lease
        self.say = say
        watch = try? DirectoryWatch()
        reconfigure(pools: pools)
    }

    /// Matches feeds to the pools and their queues (at start, and after a reload): a feed whose
    /// pool left or moved to another queue gives its jobs back; new files are opened.
    func reconfigure(pools: [Pool]) {
        var kept: [Feed] = []
        for feed in feeds {
            let current = pools.first { $0 === feed.pool }
            if let current, current.config.queue == .sqlite(path: feed.file.path), !current.removed, current.config.queueName == feed.queue {
                kept.append(feed)
            } else if !feed.prefetched.isEmpty {
                let ids = feed.prefetched.map(\.id)
                _ = using(feed.file, now: Moment.now()) { store throws(QueueError) in
                    try store.withBusyTimeout(milliseconds: 1000) { () throws(QueueError) in try store.release(ids, owner: owner) }
                }
            }
        }
        feeds = kept
        for pool in pools where !pool.removed && !feeds.contains(where: { $0.pool === pool }) {
            guard case .sqlite(let path) = pool.config.queue else { continue }
            let file = files[path] ?? QueueFile(path: path)
            if files[path] == nil {
                files[path] = file
                try? Files.makeDirectories(Path.directory(of: path), mode: 0o750)
                try? watch?.watch(Path.directory(of: path))
                open(file, now: Moment.now())
            }
            feeds.append(Feed(pool: pool, file: file))
        }
        maintain(now: Moment.now())
    }

    var descriptor: FileDescriptor? { watch?.descriptor }

    private func feed(of pool: Pool) -> Feed? { feeds.first { $0.pool === pool } }
    private func feeds(of file: QueueFile) -> [Feed] { feeds.filter { $0.file === file } }

    // MARK: - the files

    private func open(_ file: QueueFile, now: Moment) {
        do {
            let store = try JobStore(path: file.path, create: true, openTimeout: 0, cacheMiB: Self.cacheMiB)
            file.store = store
            let inode = Self.inode(of: file.path)
            if file.inode != 0 && inode != file.inode { replaced(file) }
            file.inode = inode
            file.retryAt = nil
            file.renewDue = true
            for feed in feeds(of: file) { feed.maybeNewJobs = true }
            // A problem is over when an operation works, not when the file opens (a full disk
            // lets it open, and fails the first write).
        } catch {
            unavailable(file, error, now: now)
        }
    }

    /// The file at the path is another one than we had open (found when it is opened again).
    /// The same file, opened again after a problem, keeps everything: the leases under our
    /// name in it are our workers' jobs and those we took ahead. Another file has none of
    /// them: its leases under our name are no worker's and are taken back; the jobs taken ahead
    /// from the old file and its outcomes not yet written are dropped, as that file is gone
    /// (an id in the new one may be another job); jobs in workers' hands are its generation's.
    private func replaced(_ file: QueueFile) {
        file.generation += 1
        file.reclaimed = []
        let fileFeeds = feeds(of: file)
        let ahead = fileFeeds.reduce(0) { $0 + $1.prefetched.count }
        if ahead > 0 || !file.outcomes.isEmpty {
            say("queue \(file.path) is another file than the one \(file.outcomes.count) outcome(s) and \(ahead) job(s) taken ahead came from; they are dropped with it (the old file is gone)")
        }
        for feed in fileFeeds { feed.prefetched = [] }
        file.outcomes = []
        file.firstOutcome = nil
        file.pendingRetry = nil
    }

    /// A queue file that failed: said once, tried again later with back-off.
    private func unavailable(_ file: QueueFile, _ error: QueueError, now: Moment) {
        if error.kind == .busy {
            file.retryAt = now + Self.busyRetry
            return
        }
        if file.problem != error.message {
            say("queue \(file.path) is unusable: \(error.message); the workers stay up and jobs wait (retrying every \(Values.formatElapsed(file.retryWait)) or so)")
        }
        file.problem = error.message
        file.diskFull = error.kind == .full
        file.store = nil  // closed here: no caller holds it (see `using`)
        file.leftAs = Files.stamp(of: file.path)
        file.retryAt = now + file.retryWait
        file.retryWait = min(file.retryWait * 2, .seconds(30))
    }

    /// Runs an operation on a usable file (making room on a small disk: see
    /// `JobStore.makingRoom`); a failure marks it busy or unusable.
    private func using<T>(_ file: QueueFile, now: Moment, _ body: (JobStore) throws(QueueError) -> T) -> T? {
        let failure: QueueError
        do {
            guard let store = file.store else { return nil }
            let result = try store.makingRoom { () throws(QueueError) in try body(store) }
            if let problem = file.problem, result.stored || !file.diskFull {
                say("queue \(file.path) is usable again (it was: \(problem))")
                file.problem = nil
                file.retryWait = .seconds(1)
            }
            return result.value
        } catch {
            failure = error
        }
        // Out of the scope that held the store: `unavailable` closes it.
        unavailable(file, failure, now: now)
        return nil
    }

    static func inode(of path: String) -> UInt64 { Files.stamp(of: path)?.inode ?? 0 }

    // MARK: - jobs

    /// Jobs for `count` idle workers of a pool (possibly fewer).
    func take(for pool: Pool, count: Int, now: Moment) -> [ReservedJob] {
        // A full batch of outcomes the file did not take yet (busy, unusable): no new job
        // until it does, so that a kill never runs more than a batch again.
        guard count > 0, let feed = feed(of: pool), feed.file.outcomes.count < Feeder.commitBatch else { return [] }
        let file = feed.file
        if feed.prefetched.count < count && feed.maybeNewJobs && file.store != nil && file.retryAt == nil
            && reclaimOwn(feed, now: now) {
            // A few ahead, so that the next workers to finish find a job in memory.
            let wanted = count - feed.prefetched.count + Feeder.lookahead(workers: pool.desiredWorkers)
            let leaseUntil = JobStore.now() + lease.nanoseconds / 1_000_000
            if let jobs = using(file, now: now, { store throws(QueueError) in
                try store.reserve(queue: feed.queue, count: wanted, owner: owner, leaseUntil: leaseUntil, now: JobStore.now())
            }) {
                if jobs.count < wanted { feed.maybeNewJobs = false }
                // Another program may have inserted a payload that would break the line protocol.
                for job in jobs {
                    if let problem = job.payloadProblem {
                        record(job, .dead(error: "its payload \(problem); it was not given to a worker"), in: file,
                               maxAttempts: pool.config.maxAttempts, now: now)
                    } else {
                        feed.prefetched.append(job)
                    }
                }
            }
        }
        // Oldest first; the array is short (the lookahead), so this shift is cheap.
        let taken = Array(feed.prefetched.prefix(count))
        feed.prefetched.removeFirst(taken.count)
        for job in taken {
            held[HeldJob(pool: ObjectIdentifier(pool), id: job.id)] = (file, file.generation)
            // Said to the file with the next outcomes (see Feeder).
            add(.started(id: job.id), to: file, now: now)
        }
        return taken
    }

    /// Takes back, once per file (the first one, and each that replaced it: see `replaced`), the
    /// jobs leased under our own name: a dead predecessor's (solo holds the port lock, so no
    /// live supervisor shares the name). Until that has worked, the queue gives no job.
    private func reclaimOwn(_ feed: Feed, now: Moment) -> Bool {
        let file = feed.file
        if file.reclaimed.contains(feed.queue) { return true }
        guard let taken = using(file, now: now, { store throws(QueueError) in
            try store.reclaim(queue: feed.queue, expiredBefore: JobStore.now(), owner: owner, takingOwn: true,
                              maxAttempts: feed.pool.config.maxAttempts)
        }) else { return false }
        file.reclaimed.insert(feed.queue)
        if taken > 0 {
            say("pool \(feed.pool.name): took back \(taken) job\(taken == 1 ? "" : "s") from a supervisor that died while running them")
        }
        return true
    }

    /// Remembers which worker holds a job of a group, for `solo push` run by that worker. Worth
    /// a short wait for the lock: without it, the worker's pushes would miss the group.
    func assign(_ job: ReservedJob, of pool: Pool, to worker: String) {
        guard job.group != nil, let source = held[HeldJob(pool: ObjectIdentifier(pool), id: job.id)] else { return }
        let done: Void? = using(source.file, now: Moment.now()) { store throws(QueueError) in
            try store.withBusyTimeout(milliseconds: 100) { () throws(QueueError) in try store.assign(job.id, to: worker) }
        }
        if done == nil { say("pool \(pool.name): could not note that job \(job.id) runs in worker \(worker); jobs it pushes may miss group \(job.group ?? "")") }
    }

    /// Records the outcome of a job `take` gave the pool, in the file it came from; it is
    /// committed with others shortly (see `flush`).
    func record(_ job: ReservedJob, _ resolution: JobResolution, of pool: Pool, now: Moment) {
        guard let source = held.removeValue(forKey: HeldJob(pool: ObjectIdentifier(pool), id: job.id)) else { return }
        guard source.generation == source.file.generation else {
            say("pool \(pool.name): the outcome of job \(job.id) is lost: \(source.file.path) was replaced while the job ran")
            return
        }
        record(job, resolution, in: source.file, maxAttempts: pool.config.maxAttempts, now: now)
    }

    private func record(_ job: ReservedJob, _ resolution: JobResolution, in file: QueueFile, maxAttempts: Int, now: Moment) {
        let wall = JobStore.now()
        let outcome: JobOutcome
        switch resolution {
        case .done(let result): outcome = .done(id: job.id, result: result)
        case .dead(let error): outcome = .dead(id: job.id, error: error)
        case .retry(let error, let delay):
            outcome = .retry(id: job.id, error: error, runAt: wall + delay.nanoseconds / 1_000_000, maxAttempts: maxAttempts)
            file.pendingRetry = earlier(file.pendingRetry, now + delay)
        }
        add(outcome, to: file, now: now)
    }

    /// Queues an outcome for the file's next commit (see `flush`).
    private func add(_ outcome: JobOutcome, to file: QueueFile, now: Moment) {
        if file.outcomes.isEmpty { file.firstOutcome = now }
        file.outcomes.append(outcome)
        commit(file, now: now)
    }

    /// Commits the outcomes that have waited long enough (all of them with `force`).
    func flush(now: Moment, force: Bool = false) {
        for file in files.values where !file.outcomes.isEmpty { commit(file, now: now, force: force) }
    }

    private func commit(_ file: QueueFile, now: Moment, force: Bool = false) {
        guard force || Feeder.commitDue(count: file.outcomes.count, since: file.firstOutcome, now: now),
              file.retryAt == nil || force else { return }
        let outcomes = file.outcomes
        if using(file, now: now, { store throws(QueueError) in try store.finish(outcomes, owner: owner, now: JobStore.now()) }) != nil {
            file.outcomes.removeAll(keepingCapacity: true)
            file.firstOutcome = nil
            // The retries are delayed jobs in the file now: promote them when they are due.
            file.nextDelayed = earlier(file.nextDelayed, file.pendingRetry)
            file.pendingRetry = nil
        }
    }

    /// Something changed in a watched directory: perhaps new jobs in a queue file, or the file
    /// itself deleted or replaced (then new jobs go to a new file, which is opened at once).
    func filesChanged() {
        let names = Set(watch?.drain() ?? [])
        // An empty name: the kernel's event queue overflowed, and anything may have changed.
        let overflowed = names.contains("")
        for file in files.values {
            let base = Path.lastComponent(file.path)
            guard overflowed || names.contains(base) else { continue }
            if file.store == nil {
                // Unusable, and someone did something to it (restored it, say): try it now.
                // Our own open and close raise events too: they leave it as it was.
                if file.problem != nil && Files.stamp(of: file.path) != file.leftAs { file.retryAt = Moment.now() }
            } else {
                reopenIfReplaced(file, now: Moment.now())
            }
        }
        for feed in feeds {
            let base = Path.lastComponent(feed.file.path)
            if overflowed || names.contains(where: { $0 == base || $0.hasPrefix(base + "-") }) { feed.maybeNewJobs = true }
        }
    }

    /// A file deleted or replaced under our feet (made anew, moved over): settles with the old
    /// file through the connection that still holds it, then opens the one at the path.
    ///
    /// The old file's -wal and -shm go with it while the names still hold them (SQLite leaves
    /// them, for a file that moved): left behind, SQLite would read the old file's pages from
    /// them as if they were the new file's. If the names hold other files by now (the new
    /// file's), they are left alone.
    ///
    /// While another process reads the old file, its -wal cannot be emptied: the old file stays
    /// open and this is tried again at the next event or maintenance (opening the new file then
    /// would read the old pages). Another supervisor that let go first and opened the new file
    /// has new -wal and -shm under the names: the identity check before unlinking leaves them be.
    private func reopenIfReplaced(_ file: QueueFile, now: Moment) {
        guard file.store != nil, Self.inode(of: file.path) != file.inode else { return }
        settle(file)
        let wal = file.path + "-wal"
        let emptied: Bool
        // No local reference to the store: setting file.store to nil below must close it.
        do { emptied = try file.store?.checkpoint() ?? false } catch {
            say("queue \(file.path) was replaced, and the old file's last commits could not be copied into it: \(error); trying again")
            return
        }
        guard emptied else {
            say("queue \(file.path) was replaced while another process reads the old one; opening the new file once it has finished")
            return
        }
        let walIsOurs = Files.isHeldOpen(wal)
        let walIdentity = Self.inode(of: wal)
        file.store = nil  // the only reference: the old connection closes here
        say("queue \(file.path) was \(Files.exists(file.path) ? "replaced" : "deleted"); opening \(Files.exists(file.path) ? "the new file" : "a new, empty one")")
        if walIsOurs && Self.inode(of: wal) == walIdentity {
            unlink(wal)
            unlink(file.path + "-shm")
        }
        open(file, now: now)
    }

    /// Gives back the jobs taken ahead for a pool that stopped or shrank to nothing, so that
    /// other supervisors may have them.
    func releaseAhead(of pool: Pool) {
        guard let feed = feed(of: pool), !feed.prefetched.isEmpty else { return }
        let ids = feed.prefetched.map(\.id)
        if using(feed.file, now: Moment.now(), { store throws(QueueError) in try store.release(ids, owner: owner) }) != nil {
            feed.prefetched = []
        }
    }

    /// The jobs of the pool's queue waiting for a worker (ready in the file, and taken ahead),
    /// counted up to `limit`; nil when the file cannot be read now.
    func waiting(of pool: Pool, atMost limit: Int) -> Int? {
        guard let feed = feed(of: pool), feed.file.retryAt == nil else { return nil }
        let ahead = feed.prefetched.count
        guard ahead < limit else { return ahead }
        return using(feed.file, now: Moment.now()) { store throws(QueueError) in
            try store.readyCount(queue: feed.queue, atMost: limit - ahead)
        }.map { $0 + ahead }
    }

    /// A pool's queue as `solo status` shows it: counts, or why the file cannot be used.
    func status(of pool: Pool) -> (path: String, counts: QueueCounts?, problem: String?)? {
        guard let feed = feed(of: pool) else { return nil }
        let counts = using(feed.file, now: Moment.now()) { store throws(QueueError) in try store.summary(queue: feed.queue) }
        return (feed.file.path, counts, feed.file.problem)
    }

    // MARK: - time

    /// No feed pool, no job in a worker's hands, no outcome to write: nothing to keep, no wake-up.
    private var idle: Bool { feeds.isEmpty && held.isEmpty && files.values.allSatisfy(\.outcomes.isEmpty) }

    var nextDeadline: Moment? {
        guard !idle else { return nil }
        var earliest: Moment? = nextMaintenance
        for file in files.values {
            earliest = earlier(earliest, file.retryAt)
            // Delayed jobs and outcomes (after their batch) wait for a busy or unusable file too.
            earliest = earlier(earliest, file.nextDelayed.map(file.due))
            earliest = earlier(earliest, file.firstOutcome.map { file.due($0 + Feeder.commitDelay) })
        }
        return earliest
    }

    /// Retries unusable files, brings delayed jobs due, renews leases, takes back expired
    /// ones, and deletes old done jobs, each when its time has come.
    func expire(now: Moment) {
        if idle { return }
        if now >= nextMaintenance { maintain(now: now) }
        for file in files.values {
            if let retry = file.retryAt {
                guard retry <= now else { continue }
                file.retryAt = nil
                if file.store == nil { open(file, now: now) }
            }
            if let due = file.nextDelayed, due <= now { promote(file, now: now) }
            if file.renewDue, using(file, now: now, { store throws(QueueError) in
                try store.renewLeases(owner: owner, until: JobStore.now() + lease.nanoseconds / 1_000_000)
            }) != nil {
                file.renewDue = false
            }
        }
        for feed in feeds where feed.purging && feed.file.retryAt == nil {
            let before = JobStore.now() - feed.pool.config.keepDone.nanoseconds / 1_000_000
            let deleted = using(feed.file, now: now) { store throws(QueueError) in try store.purgeDone(queue: feed.queue, before: before) }
            if let deleted, deleted < 2000 { feed.purging = false }
        }
    }

    private func promote(_ file: QueueFile, now: Moment) {
        let wall = JobStore.now()
        guard let next = using(file, now: now, { store throws(QueueError) -> Int64? in
            if try store.promoteDelayed(now: wall) > 0 { for feed in feeds(of: file) { feed.maybeNewJobs = true } }
            return try store.nextDelayed()
        }) else { return }
        file.nextDelayed = next.map { now + .milliseconds(max(0, $0 - wall)) }
    }

    /// Whether old done jobs are still being deleted (the loop comes back at once).
    var purging: Bool { feeds.contains { $0.purging && $0.file.retryAt == nil } }

    private func maintain(now: Moment) {
        nextMaintenance = now + lease / 3
        // A burst (a big push that held the file, jobs taken and answered by the thousand)
        // leaves free memory among live blocks that glibc keeps; give it back, so that the
        // supervisor's RSS is what it uses (about 20 µs every 10 s).
        solo_release_free_memory()
        let wall = JobStore.now()
        for file in files.values {
            // In case no inotify event said so.
            reopenIfReplaced(file, now: now)
            // A safety net for commits that no inotify event reported (a watch that could not be
            // set, a file system that does not report): look for new jobs at every maintenance.
            for feed in feeds(of: file) { feed.maybeNewJobs = true }
            file.renewDue = true
            promote(file, now: now)
        }
        for feed in feeds where feed.file.reclaimed.contains(feed.queue) {
            if let taken = using(feed.file, now: now, { store throws(QueueError) in
                try store.reclaim(queue: feed.queue, expiredBefore: wall, owner: owner, maxAttempts: feed.pool.config.maxAttempts)
            }), taken > 0 {
                say("pool \(feed.pool.name): took back \(taken) job\(taken == 1 ? "" : "s") whose supervisor's lease ran out")
            }
        }
        if now >= nextPurge {
            nextPurge = now + .seconds(60)
            for feed in feeds { feed.purging = true }
        }
    }

    /// Writes the pending outcomes and gives back the jobs taken ahead, waiting a few seconds
    /// for the lock if need be (at a stop, or before a replaced file is let go).
    private func settle(_ file: QueueFile) {
        guard let store = file.store else { return }
        let fileFeeds = feeds(of: file)
        let ahead = fileFeeds.flatMap(\.prefetched).map(\.id)
        let outcomes = file.outcomes
        do {
            try store.withBusyTimeout(milliseconds: 5000) { () throws(QueueError) in
                try store.finish(outcomes, owner: owner, now: JobStore.now())
                try store.release(ahead, owner: owner)
            }
        } catch {
            say("queue \(file.path): \(outcomes.count) outcome(s) and \(ahead.count) job(s) taken ahead could not be written (\(error)); those jobs will run again")
        }
        // Written or given up, either way: no outcome deadline is left behind (one in the past
        // would wake the loop at once, again and again).
        file.outcomes = []
        file.firstOutcome = nil
        for feed in fileFeeds { feed.prefetched = [] }
    }

    /// At the end: outcomes are committed, jobs taken ahead go back untouched.
    func shutdown() {
        for file in files.values { settle(file) }
    }
}
