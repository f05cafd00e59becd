/// A queue file as the feeder's store: short synchronous transactions that never wait for the
/// lock (busy_timeout 0; a busy file is tried again a moment later), and a file that cannot be
/// used (the workers stay up; jobs wait) tried again with back-off until it can. A file deleted
/// or replaced on disk is let go for the one at the path, once what is owed to the old one is
/// written to it.
final class SQLiteFeedStore: FeedStore {
    /// How soon a request that found the file busy is tried again: 1 ms, doubling up to 10 ms
    /// while it stays busy. Another process's commit is heard of (its -wal written) before it
    /// ends, and an fsync'd commit takes a few ms: a fixed 10 ms put 10 ms on every pickup.
    static let busyRetry = Doubling(from: .milliseconds(1), to: .milliseconds(10))
    /// The supervisor's page cache per queue file: the hot pages (the ready index, the newest
    /// rows) fit, and its memory stops growing early in a long run.
    static let cacheMiB = 4
    /// How long a request may wait for a busy file: none in the loop; at the end, a few seconds.
    private var patience: Int32 = 0

    let path: String
    weak var listener: (any FeedStoreListener)?
    private var store: JobStore?
    private var inode: UInt64 = 0
    private(set) var problem: String?
    /// The problem is a full disk: it is over once a write stores something (a read, or a write
    /// that changes no row, works on a full disk).
    private var diskFull = false
    /// The file as it was left when it became unusable: an event that finds it otherwise is
    /// someone's repair; one that finds it the same came from our own open and close.
    private var leftAs: Files.Stamp?
    /// While set, no request is tried before it (the file was busy, or unusable).
    private var retryAt: Moment?
    private var retryWait = Doubling(from: .seconds(1), to: .seconds(30))
    private var busyWait = busyRetry
    private let say: (String) -> Void

    init(path: String, say: @escaping (String) -> Void) {
        self.path = path
        self.say = say
        try? Files.makeDirectories(Path.directory(of: path), mode: 0o750)
    }

    var location: String { path }
    var isUp: Bool { store != nil && retryAt == nil }
    var settled: Bool { true }
    // Every commit by another process shows in the directory's inotify watch.
    var lookInterval: Duration? { nil }

    func start() { open(now: .now()) }

    // Commits by other processes are heard of through the directory's inotify watch (see
    // FeedStores), for every queue in the file alike.
    func watch(queue: String) {}
    func unwatch(queue: String) {}
    func watchEndings(queue: String) {}
    func unwatchEndings(queue: String) {}

    /// A file that was busy a moment ago is tried at once: these writes wait for it.
    func stopping() {
        patience = 5000
        if store != nil { retryAt = nil }
    }

    // MARK: - requests

    func reserve(queue: String, count: Int, owner: String, lease: Duration, limits: JobLimits,
                 _ done: @escaping (StoreReply<Reservation>) -> Void) {
        done(using { store throws(QueueError) in
            let now = JobStore.now()
            try store.promoteDelayed(now: now)
            let taken = try store.reserve(queue: queue, count: count, owner: owner, leaseUntil: now + lease.milliseconds, now: now, limits: limits)
            return Reservation(jobs: taken.jobs, nextDelayedIn: try Self.nextDelayed(of: queue, in: store, now: now),
                               limitedBy: taken.limitedBy, nextTurnIn: taken.nextTurnAt.map { .milliseconds(max(0, $0 - now)) })
        })
    }

    func commit(queue: String, _ outcomes: [JobOutcome], owner: String, _ done: @escaping (StoreReply<Duration?>) -> Void) {
        done(using { store throws(QueueError) in
            let now = JobStore.now()
            try store.finish(outcomes, owner: owner, now: now)
            // Only a retry makes a delayed job: a batch without one leaves the time as it was.
            guard outcomes.contains(where: \.isRetry) else { return nil }
            return try Self.nextDelayed(of: queue, in: store, now: now)
        })
    }

    func promote(queue: String, _ done: @escaping (StoreReply<Duration?>) -> Void) {
        done(using { store throws(QueueError) in
            let now = JobStore.now()
            try store.promoteDelayed(now: now)
            return try Self.nextDelayed(of: queue, in: store, now: now)
        })
    }

    private static func nextDelayed(of queue: String, in store: JobStore, now: Int64) throws(QueueError) -> Duration? {
        try store.nextDelayed(queue: queue).map { .milliseconds(max(0, $0 - now)) }
    }

    func renew(queue: String, ids: [Int64], owner: String, lease: Duration, _ done: @escaping (StoreReply<Void>) -> Void) {
        done(using { store throws(QueueError) in
            try store.renewLeases(queue: queue, ids: ids, owner: owner, until: JobStore.now() + lease.milliseconds)
        })
    }

    func reclaim(queue: String, owner: String?, keeping: [Int64], maxAttempts: Int, keyConcurrency: Int?,
                 _ done: @escaping (StoreReply<Int>) -> Void) {
        done(using { store throws(QueueError) in
            try store.reclaim(queue: queue, expiredBefore: JobStore.now(), owner: owner, keeping: keeping, maxAttempts: maxAttempts,
                              keyConcurrency: keyConcurrency)
        })
    }

    func release(queue: String, ids: [Int64], owner: String, _ done: @escaping (StoreReply<Void>) -> Void) {
        // Worth a short wait for the lock: given back now, other supervisors may have them.
        done(using(patience: max(patience, 1000)) { store throws(QueueError) in try store.release(ids, owner: owner) })
    }

    func purge(queue: String, keep: Duration, limit: Int, offset: Int, _ done: @escaping (StoreReply<PurgeStep>) -> Void) {
        // The query itself passes over running groups' jobs: no offset is needed.
        done(using { store throws(QueueError) in
            let now = JobStore.now()
            let deleted = try store.purgeDone(queue: queue, before: now - keep.milliseconds, limit: limit)
            // The round's last step forgets idle keys' rate state too.
            if deleted < limit { try store.forgetIdleBuckets(queue: queue, now: now) }
            return PurgeStep(deleted: deleted, finished: deleted < limit, skipped: 0)
        })
    }

    func assign(queue: String, id: Int64, to worker: String, owner: String, _ done: @escaping (StoreReply<Void>) -> Void) {
        // Worth a short wait for the lock: without it, the worker's pushes would miss the group.
        done(using(patience: max(patience, 100)) { store throws(QueueError) in try store.assign(id, to: worker, owner: owner) })
    }

    func pushRun(_ run: ScheduledRun, _ done: @escaping (StoreReply<RunPush>) -> Void) {
        done(using { store throws(QueueError) in try store.pushRun(run) })
    }

    func push(queue: String, template: NewJob, _ jobs: [(payload: [UInt8], uniqueKey: String?)],
              _ done: @escaping (StoreReply<[PushedJob]>) -> Void) {
        // An application's push waits up to 100 ms for the lock (another process's commit takes a
        // few ms) rather than fail at once with "busy; try again" whenever the file is written.
        done(using(patience: max(patience, 100)) { store throws(QueueError) in
            let writer = try store.writer(queue: queue, template: template)
            for job in jobs {
                var failure: QueueError?
                job.payload.withUnsafeBytes { bytes in
                    do throws(QueueError) { try writer.add(bytes, uniqueKey: job.uniqueKey) } catch { failure = error }
                }
                if let failure { throw failure }
            }
            let pushed = try writer.commit()
            var queued = writer.ids.makeIterator()
            var duplicates = pushed.duplicates.makeIterator()
            var next = duplicates.next()
            return jobs.indices.map { index in
                if let duplicate = next, duplicate.index == index {
                    next = duplicates.next()
                    return PushedJob(id: duplicate.existing, duplicate: true)
                }
                return PushedJob(id: queued.next() ?? 0, duplicate: false)
            }
        })
    }

    func jobs(queue: String, ids: [Int64], _ done: @escaping (StoreReply<[JobRecord]>) -> Void) {
        done(using { store throws(QueueError) in try store.jobs(ids: ids, queue: queue) })
    }

    func jobs(queue: String, group: String, limit: Int, _ done: @escaping (StoreReply<[JobRecord]>) -> Void) {
        done(using { store throws(QueueError) in try store.jobs(queue: queue, states: JobRecord.states, group: group, limit: limit) })
    }

    func groupCounts(queue: String, group: String, _ done: @escaping (StoreReply<QueueCounts>) -> Void) {
        done(using { store throws(QueueError) in try store.groupCounts(group, queue: queue) })
    }

    func lastRun(of schedule: String, queue: String, _ done: @escaping (StoreReply<PastRun?>) -> Void) {
        done(using { store throws(QueueError) in try store.lastRun(of: schedule, queue: queue) })
    }

    func counts(queue: String) -> QueueCounts? {
        guard retryAt == nil, case .answer(let counts) = using({ store throws(QueueError) in try store.summary(queue: queue) }) else { return nil }
        return counts
    }

    func ready(queue: String, atMost limit: Int) -> Int? {
        guard retryAt == nil, case .answer(let count) = using({ store throws(QueueError) in try store.readyCount(queue: queue, atMost: limit) })
        else { return nil }
        return count
    }

    /// Runs a request on a usable file (making room on a small disk: see
    /// `JobStore.makingRoom`); a failure marks it busy or unusable.
    private func using<T>(patience: Int32? = nil, _ body: (JobStore) throws(QueueError) -> T) -> StoreReply<T> {
        let wait = patience ?? self.patience
        let failure: QueueError
        do {
            // Held only in here: `unavailable` must be able to close the file by letting go of it.
            guard let store else { return .unavailable }
            let result = try store.withBusyTimeout(milliseconds: wait) { () throws(QueueError) in
                try store.makingRoom { () throws(QueueError) in try body(store) }
            }
            busyWait.reset()
            if let problem, result.stored || !diskFull {
                say("queue \(path) is usable again (it was: \(problem))")
                self.problem = nil
                diskFull = false
                retryWait.reset()
            }
            return .answer(result.value)
        } catch {
            failure = error
        }
        unavailable(failure, now: .now())
        return .unavailable
    }

    // MARK: - the file

    private func open(now: Moment) {
        let another: Bool
        do {
            // Held only in here: `unavailable` must be able to close the file by letting go of it.
            let opened = try JobStore(path: path, create: true, openTimeout: 0, cacheMiB: Self.cacheMiB)
            let identity = Self.inode(of: path)
            another = inode != 0 && identity != inode
            store = opened
            inode = identity
            retryAt = nil
        } catch {
            return unavailable(error, now: now)
        }
        // A problem is over when an operation works, not when the file opens (a full disk lets
        // it open, and fails the first write).
        if another { listener?.storeWasReplaced(self) }
        listener?.storeIsUp(self)
    }

    /// A file that failed: said once, tried again later with back-off.
    private func unavailable(_ error: QueueError, now: Moment) {
        if error.kind == .busy {
            retryAt = now + busyWait.next()
            return
        }
        if problem != error.message {
            say("queue \(path) is unusable: \(error.message); the workers stay up and jobs wait (retrying every \(Values.formatElapsed(retryWait.current)) or so)")
        }
        problem = error.message
        diskFull = error.kind == .full
        store = nil  // closed here: no caller holds it (see `using`)
        leftAs = Files.stamp(of: path)
        retryAt = now + retryWait.next()
    }

    var nextDeadline: Moment? { retryAt }

    // In case no inotify event said so (a watch that could not be set, a file system that does
    // not report).
    func maintain(now: Moment) { reopenIfReplaced(now: now) }

    func expire(now: Moment) {
        guard let retry = retryAt, retry <= now else { return }
        retryAt = nil
        if store == nil { open(now: now) }
    }

    /// These names changed in the file's directory (see FeedStores): perhaps a commit to the file
    /// (its -wal), perhaps the file deleted or replaced (then new jobs go to a new file, which is
    /// opened at once).
    func heard(_ names: Set<String>, overflowed: Bool) {
        let base = Path.lastComponent(path)
        if overflowed || names.contains(base) { changed() }
        if overflowed || names.contains(where: { $0 == base || $0.hasPrefix(base + "-") }) { listener?.jobsMayHaveCome(in: self, queue: nil) }
    }

    private func changed() {
        if store == nil {
            // Unusable, and someone did something to it (restored it, say): try it now. Our
            // own open and close raise events too: they leave it as it was.
            if problem != nil && Files.stamp(of: path) != leftAs { retryAt = .now() }
        } else {
            reopenIfReplaced(now: .now())
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
    /// open and this is tried again at the next event or check (opening the new file then would
    /// read the old pages). Another supervisor that let go first and opened the new file has new
    /// -wal and -shm under the names: the identity check before unlinking leaves them be.
    func reopenIfReplaced(now: Moment) {
        guard store != nil, Self.inode(of: path) != inode else { return }
        let waited = patience
        patience = 5000
        retryAt = nil
        listener?.storeWillBeReplaced(self)
        patience = waited
        let wal = path + "-wal"
        let emptied: Bool
        // No local reference to the store: setting `store` to nil below must close it.
        do { emptied = try store?.checkpoint() ?? false } catch {
            say("queue \(path) was replaced, and the old file's last commits could not be copied into it: \(error); trying again")
            return
        }
        guard emptied else {
            say("queue \(path) was replaced while another process reads the old one; opening the new file once it has finished")
            return
        }
        let walIsOurs = Files.isHeldOpen(wal)
        let walIdentity = Self.inode(of: wal)
        store = nil  // the only reference: the old connection closes here
        say("queue \(path) was \(Files.exists(path) ? "replaced" : "deleted"); opening \(Files.exists(path) ? "the new file" : "a new, empty one")")
        if walIsOurs && Self.inode(of: wal) == walIdentity {
            try? Files.remove(wal)
            try? Files.remove(path + "-shm")
        }
        open(now: now)
    }

    private static func inode(of path: String) -> UInt64 { Files.stamp(of: path)?.inode ?? 0 }
}

extension JobOutcome {
    var isRetry: Bool {
        if case .retry = self { return true }
        return false
    }
}
