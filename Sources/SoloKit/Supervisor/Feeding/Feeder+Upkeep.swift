import CSoloSpawn

/// The feeder's timed work, for every store alike: renewing leases, taking back our own stale
/// leases when a store comes up and others' expired ones every third of a lease, bringing
/// delayed jobs due, looking again for jobs no event told of, and deleting old done jobs.
extension Feeder: FeedStoreListener {
    // MARK: - what the stores tell

    func jobsMayHaveCome(in store: any FeedStore, queue name: String?) {
        for queue in queues(of: store) where name == nil || queue.name == name { queue.maybeNewJobs = true }
        storeChanged(store)
    }

    func jobsMayHaveEnded(in store: any FeedStore, queue: String) { storeChanged(store) }

    /// Up (again): the leases of the jobs we hold are renewed first (they may have run out while
    /// the store was away), then our stale ones are taken back, then the outcomes go out.
    func storeIsUp(_ store: any FeedStore) {
        let now = Moment.now()
        for queue in queues(of: store) {
            queue.reclaimed = false
            queue.reclaiming = false
            queue.reclaimRetry.accepted()
            queue.outcomeRetry.accepted()
            queue.maybeNewJobs = true
            renew(queue)
            if let pool = firstFeed(of: queue)?.pool { reclaimOwn(queue, config: pool.config) }
            if !queue.outcomes.isEmpty { flush(queue, now: now, force: true) }
        }
    }

    /// What is owed to a file about to be let go is written to it while it still can be.
    func storeWillBeReplaced(_ store: any FeedStore) {
        let now = Moment.now()
        for queue in queues(of: store) {
            flush(queue, now: now, force: true)
            for feed in feeds where feed.queue === queue { releaseAhead(of: feed.pool) }
        }
    }

    /// The store is another one now (a queue file replaced on disk): its leases under our name
    /// are no worker's and are taken back; what could not be written to the old one is dropped
    /// with it (an id in the new one may be another job); jobs in workers' hands are the old
    /// generation's, and their outcomes are dropped when they come.
    func storeWasReplaced(_ store: any FeedStore) {
        for queue in queues(of: store) {
            queue.generation += 1
            queue.reclaimed = false
            let ahead = feeds.filter { $0.queue === queue }.reduce(0) { $0 + $1.prefetched.count }
            if ahead > 0 || !queue.outcomes.isEmpty {
                say("queue \(store.location) is another file than the one \(queue.outcomes.count) outcome(s) and \(ahead) job(s) taken ahead came from; they are dropped with it (the old file is gone)")
            }
            for feed in feeds where feed.queue === queue { feed.prefetched = [] }
            queue.outcomes = []
            queue.firstOutcome = nil
            queue.nextDelayed = nil
        }
    }

    private func queues(of store: any FeedStore) -> [FeedQueue] { queues.values.filter { $0.store === store } }
    private func firstFeed(of queue: FeedQueue) -> Feed? { feeds.first { $0.queue === queue } }

    // MARK: - time

    /// No feed, no job in a worker's hands, no outcome to write: nothing to keep, no wake-up.
    private var idle: Bool { feeds.isEmpty && queues.values.allSatisfy { $0.outcomes.isEmpty && $0.inFlight.isEmpty } && !holdsJobs }

    var nextDeadline: Moment? {
        guard !idle else { return nil }
        var earliest: Moment? = nextMaintenance
        for store in stores.all { earliest = earlier(earliest, store.nextDeadline) }
        // A store that cannot be asked has nothing due: it says when it can again.
        for queue in queues.values where queue.store.isUp {
            if feeds.contains(where: { $0.queue === queue && $0.wanting }) { earliest = earlier(earliest, queue.nextLook) }
            if queue.renewDue && !queue.renewing { earliest = earlier(earliest, queue.renewRetry.at) }
            if !queue.promoting { earliest = earlier(earliest, queue.nextDelayed) }
            if let first = queue.firstOutcome { earliest = earlier(earliest, max(first + Self.commitDelay, queue.outcomeRetry.at ?? first)) }
            if !queue.reclaimed, !queue.reclaiming, firstFeed(of: queue) != nil { earliest = earlier(earliest, queue.reclaimRetry.at) }
        }
        return earliest
    }

    /// Old done jobs are being deleted, a step a loop turn: the loop comes back at once.
    var purging: Bool { queues.values.contains { $0.purging && !$0.purgeInFlight && $0.store.isUp } }

    func expire(now: Moment) {
        if idle { return }
        for store in stores.all { store.expire(now: now) }
        if now >= nextMaintenance { maintain(now: now) }
        for feed in feeds where feed.wanting {
            guard let look = feed.queue.nextLook, look <= now else { continue }
            feed.queue.nextLook = nil
            feed.queue.maybeNewJobs = true
        }
        for queue in queues.values where queue.store.isUp {
            if let due = queue.nextDelayed, due <= now, !queue.promoting { promote(queue) }
            if queue.renewDue && !queue.renewing && queue.renewRetry.due(now) { renew(queue) }
            if let pool = firstFeed(of: queue)?.pool, !queue.reclaimed, queue.reclaimRetry.due(now) {
                reclaimOwn(queue, config: pool.config)
            }
            if queue.purging && !queue.purgeInFlight { purgeStep(queue) }
        }
    }

    /// Every third of a lease: renew our leases, take back others' that ran out, bring delayed
    /// jobs due, and once a minute start deleting old done jobs.
    func maintain(now: Moment) {
        nextMaintenance = now + lease / 3
        // A queue whose last job in a worker's hands came back after its pool left.
        letGoOfUnused()
        // A burst (a big push that held the file, jobs taken and answered by the thousand)
        // leaves free memory among live blocks that glibc keeps; give it back, so that the
        // supervisor's RSS is what it uses (about 20 µs every 10 s).
        solo_release_free_memory()
        for store in stores.all { store.maintain(now: now) }
        for queue in queues.values {
            queue.renewDue = true
            // A safety net for jobs no event told of.
            queue.maybeNewJobs = true
            queue.nextDelayed = earlier(queue.nextDelayed, now)
            guard queue.reclaimed, let pool = firstFeed(of: queue)?.pool, queue.store.isUp else { continue }
            // A reserve in flight holds jobs `known` cannot name yet: leased before a pause (a
            // SIGSTOP, a suspended machine), they may have run out. The next maintenance will do.
            guard !queue.reserving else { continue }
            queue.store.reclaim(queue: queue.name, owner: nil, keeping: known(queue), maxAttempts: pool.config.maxAttempts,
                                keyConcurrency: pool.config.jobLimits.keyConcurrency) { [unowned self] reply in
                if case .answer(let taken) = reply, taken > 0 {
                    self.say("pool \(pool.name): took back \(taken) job\(taken == 1 ? "" : "s") whose supervisor's lease ran out")
                }
            }
        }
        if now >= nextPurge {
            nextPurge = now + .seconds(60)
            for queue in queues.values where firstFeed(of: queue) != nil && !queue.purgeInFlight {
                queue.purging = true
                queue.purgeOffset = 0
            }
        }
    }

    /// Takes back, once each time the store comes up, the jobs leased under our own name that
    /// we do not know of: a dead predecessor's (solo holds the port lock, so no live supervisor
    /// shares the name), or those of a reserve whose reply was lost. Until that has worked, the
    /// queue gives no job.
    func reclaimOwn(_ queue: FeedQueue, config: PoolConfig) {
        guard !queue.reclaimed, !queue.reclaiming, queue.store.isUp else { return }
        queue.reclaiming = true
        queue.store.reclaim(queue: queue.name, owner: owner, keeping: known(queue), maxAttempts: config.maxAttempts,
                            keyConcurrency: config.jobLimits.keyConcurrency) { [unowned self] reply in
            queue.reclaiming = false
            switch reply {
            case .unavailable: return  // again when it can be asked
            case .refused(let message):
                // A server still loading its data, say: again shortly, jobs wait meanwhile.
                if queue.reclaimRetry.refused(message, now: .now()) {
                    self.say("queue \(queue.name) (\(queue.store.location)): taking back old leases was refused: \(message); its jobs wait, trying again shortly")
                }
            case .answer(let taken):
                queue.reclaimRetry.accepted()
                queue.reclaimed = true
                queue.maybeNewJobs = true
                if taken > 0, let pool = self.firstFeed(of: queue)?.pool {
                    self.say("pool \(pool.name): took back \(taken) job\(taken == 1 ? "" : "s") leased under this supervisor's name that it no longer holds (a predecessor that died while running them, or a reply that was lost)")
                }
            }
        }
    }

    /// Extends the leases of the jobs we hold; tried again (once its request is answered) until
    /// it has worked.
    private func renew(_ queue: FeedQueue) {
        let ids = known(queue)
        guard !ids.isEmpty else {
            queue.renewDue = false
            return
        }
        queue.renewing = true
        queue.store.renew(queue: queue.name, ids: ids, owner: owner, lease: lease) { [unowned self] reply in
            queue.renewing = false
            switch reply {
            case .answer:
                queue.renewDue = false
                queue.renewRetry.accepted()
            case .refused(let message):
                if queue.renewRetry.refused(message, now: .now()) {
                    self.say("queue \(queue.name) (\(queue.store.location)): renewing this supervisor's leases was refused: \(message); trying again shortly (a lease that runs out meanwhile lets another supervisor run its job)")
                }
            case .unavailable: break  // again when it can be asked
            }
        }
    }

    private func promote(_ queue: FeedQueue) {
        queue.promoting = true
        queue.store.promote(queue: queue.name) { reply in
            queue.promoting = false
            let now = Moment.now()
            switch reply {
            case .answer(let nextDelayedIn):
                queue.nextDelayed = nextDelayedIn.map { now + $0 }
                queue.maybeNewJobs = true
            case .refused: queue.nextDelayed = now + Self.refusedLook
            case .unavailable: break  // again when it can be asked
            }
        }
    }

    private func purgeStep(_ queue: FeedQueue) {
        guard let pool = firstFeed(of: queue)?.pool else {
            queue.purging = false
            return
        }
        queue.purgeInFlight = true
        queue.store.purge(queue: queue.name, keep: pool.config.keepDone, limit: Self.purgeBatch, offset: queue.purgeOffset) { reply in
            queue.purgeInFlight = false
            switch reply {
            case .answer(let step) where !step.finished: queue.purgeOffset += step.skipped
            case .unavailable: break  // busy or away: the round goes on when it can be asked
            case .answer, .refused:
                // Done, or refused: the next round is in a minute.
                queue.purging = false
                queue.purgeOffset = 0
            }
        }
    }

    /// The inotify descriptor that tells of commits to the queue files' directories.
    var descriptor: FileDescriptor? { stores.descriptor }
    func filesChanged() { stores.filesChanged() }
}
