/// The metrics endpoint's side of the supervisor: opening it, and the figures it serves.
extension Supervisor {
    /// Listens where `metrics_listen` says, or stops listening. A port that is taken does not
    /// stop solo (the workers matter more than their figures): it says so, and a reload tries again.
    func openMetrics() {
        let wanted = config.global.metricsListen
        if let server = metrics, server.address == wanted { return }
        metrics?.close()
        metrics = nil
        guard let wanted else { return }
        do {
            metrics = try MetricsServer(address: wanted, epoll: epoll, render: { [unowned self] in self.metricsText(now: Moment.now()) })
            say("metrics at http://\(wanted)/metrics\(wanted.isLoopback ? "" : " (beyond this machine, without authentication)")")
        } catch {
            say("cannot listen on \(wanted) for metrics_listen: \(error); no metrics are served (fix it and run solo reload)")
        }
    }

    func metricsText(now: Moment) -> String {
        var text = MetricsText()
        let orphans = leftovers.orphansBySession()
        text.family("solo_start_time_seconds", .gauge, help: "When solo started, in seconds since the epoch.", [([], startedWallClock)])
        text.family("solo_resident_bytes", .gauge, help: "Resident memory of solo itself.",
                    ProcFS.residentBytes(of: Processes.ownPID).map { [([], Double($0))] } ?? [])
        text.family("solo_sqlite_memory_bytes", .gauge, help: "Memory SQLite holds in solo (page caches of the queue files, statements).",
                    [([], Double(Database.memoryInUse))])

        let states = ["starting", "ready", "busy", "draining", "stopping", "backoff", "stopped", "standby"]
        text.family("solo_workers", .gauge, help: "Workers by state; backoff, stopped and standby count slots waiting to start a worker.",
                    pools.flatMap { pool in
                        let counts = workerStates(of: pool)
                        return states.map { ([("pool", pool.name), ("state", $0)], Double(counts[$0] ?? 0)) }
                    })
        text.family("solo_workers_wanted", .gauge, help: "Workers the pool is meant to run now (scaling moves it within its range).",
                    pools.map { ([("pool", $0.name)], Double($0.desiredWorkers)) })
        let fastcgiPools = pools.filter { $0.config.fastcgi != nil }
        text.family("solo_fastcgi_requests", .gauge, help: "Requests a fastcgi pool has sent to PHP-FPM and awaits the answer of (it runs no workers).",
                    fastcgiPools.map { ([("pool", $0.name)], Double($0.requestsInFlight)) })
        text.family("solo_fastcgi_requests_max", .gauge, help: "Requests a fastcgi pool may have in flight at once (its workers).",
                    fastcgiPools.map { ([("pool", $0.name)], Double($0.desiredWorkers)) })
        text.family("solo_fastcgi_up", .gauge, help: "1 while a fastcgi pool's PHP-FPM takes its requests, 0 while its jobs wait for it (unreachable, or its backlog full).",
                    fastcgiPools.map { ([("pool", $0.name)], fastcgi.problem(of: $0, now: now) == nil ? 1 : 0) })
        text.family("solo_worker_starts_total", .counter, help: "Workers started.",
                    pools.map { ([("pool", $0.name)], Double($0.counters.starts)) })
        text.family("solo_worker_start_failures_total", .counter, help: "Workers that could not be started (the program could not be run).",
                    pools.map { ([("pool", $0.name)], Double($0.counters.failedStarts)) })
        text.family("solo_worker_exits_total", .counter,
                    help: "Workers gone, by reason: recycled (job_limit, memory_limit, lifetime), restarted after dying (died, memory_kill, job_timeout) or stopped (restart, scaled_down, stopped, shutdown).",
                    pools.flatMap { pool in
                        PoolCounters.exitReasons.map { ([("pool", pool.name), ("reason", $0)], Double(pool.counters.exits[$0] ?? 0)) }
                    })
        text.family("solo_jobs_total", .counter,
                    help: "Jobs finished, by outcome: done, failed, retried as the worker said; timed_out and worker_died when its worker was killed or died holding it.",
                    pools.flatMap { pool in
                        PoolCounters.jobOutcomes.map { ([("pool", pool.name), ("outcome", $0)], Double(pool.counters.jobs[$0] ?? 0)) }
                    })
        text.histogram("solo_job_duration_seconds", help: "Time from handing a job to a worker to its answer (pools fed by solo).",
                       pools.filter { $0.config.queue.feedsJobs }.map { ([("pool", $0.name)], $0.counters.jobSeconds) })
        text.histogram("solo_queue_wait_seconds", help: "Time a job waited in its queue, from ready (pushed, due, or back for a retry; held back by a limit included) to handed to a worker.",
                       pools.filter { $0.config.queue.feedsJobs }.map { ([("pool", $0.name), ("queue", $0.config.queueName)], $0.counters.queueWaitSeconds) })
        let queues = queueFigures()
        text.family("solo_queue_jobs", .gauge, help: "Jobs in each queue by state.",
                    queues.flatMap { labels, counts, _ in
                        [("ready", counts.ready), ("delayed", counts.delayed), ("reserved", counts.reserved), ("dead", counts.dead)]
                            .map { (labels + [("state", $0.0)], Double($0.1)) }
                    })
        text.family("solo_queue_held_jobs", .gauge, help: "Delayed jobs held back by their key's limit (key_concurrency, key_rate_limit).",
                    queues.flatMap { labels, counts, _ in
                        [("key_concurrency", counts.heldByKeyConcurrency), ("key_rate_limit", counts.heldByKeyRate)]
                            .map { (labels + [("limit", $0.0)], Double($0.1)) }
                    })
        text.family("solo_queue_limited", .gauge, help: "1 while the queue's own limit (concurrency, rate_limit) held back ready jobs at the last reserve.",
                    queues.flatMap { labels, _, limitedBy in
                        [LimitName.concurrency, .rateLimit].map { (labels + [("limit", $0.rawValue)], limitedBy == $0 ? 1 : 0) }
                    })
        text.family("solo_queue_oldest_waiting_seconds", .gauge, help: "How long the oldest of the next 1000 ready jobs in line has waited (0: none waits).",
                    queues.map { labels, counts, _ in (labels, Double(counts.oldestWaitingMs ?? 0) / 1000) })
        text.family("solo_queue_alert", .gauge, help: "1 while the queue's oldest waiting job is older than alert_queue_age (for queues of pools that set it), 0 otherwise.",
                    alertFigures())
        if let fleetLock {
            text.family("solo_fleet_lock_held", .gauge, help: "1 while this supervisor holds the fleet lock (cluster_lock) and runs its pools, 0 while it stands by.",
                        [([("lock", fleetLock.name)], fleetLock.role == .holding ? 1 : 0)])
            text.family("solo_fleet_lock_fence", .gauge, help: "The fencing number of this supervisor's last take of the fleet lock.",
                        [([("lock", fleetLock.name)], Double(fleetLock.fence))])
        }
        text.family("solo_redis_connected", .gauge, help: "1 while solo's connection to each Redis server it uses is up.",
                    redis.all.map { ([("server", $0.url.description)], $0.isUp ? 1 : 0) })

        var perSlot: [([(String, String)], Double)] = []
        var perPool: [([(String, String)], Double)] = []
        for pool in pools {
            var total: UInt64 = 0
            for worker in pool.workers.values.sorted(by: { $0.slot < $1.slot }) {
                guard let bytes = leftovers.treeResidentBytes(of: worker, orphans: orphans) else { continue }
                total += bytes
                if worker.slot < pool.slots.count, pool.slots[worker.slot].current == worker.id {
                    perSlot.append(([("pool", pool.name), ("slot", String(worker.slot))], Double(bytes)))
                }
            }
            perPool.append(([("pool", pool.name)], Double(total)))
        }
        text.family("solo_worker_resident_bytes", .gauge,
                    help: "Resident memory of each slot's worker with its children (the figure memory_limit is checked against).", perSlot)
        text.family("solo_pool_resident_bytes", .gauge, help: "Resident memory of all of a pool's workers, leaving ones included.", perPool)
        return text.text
    }

    /// The pool's workers by state, as `solo status` shows them: slots without a worker are in
    /// back-off, about to start, or stopped.
    private func workerStates(of pool: Pool) -> [String: Int] {
        var counts: [String: Int] = [:]
        for worker in pool.workers.values where worker.isAlive { counts[pool.stateName(of: worker), default: 0] += 1 }
        // A fastcgi pool's slots never get a worker: PHP-FPM runs its jobs (solo_fastcgi_requests).
        for slot in pool.slots where slot.current == nil && pool.config.fastcgi == nil {
            let state = pool.state(ofEmpty: slot)
            counts[state, default: 0] += 1
        }
        return counts
    }

    /// Each queue of a pool with alert_queue_age once: 1 while any such pool of it is in alert.
    private func alertFigures() -> [([(String, String)], Double)] {
        var figures: [([(String, String)], Double)] = []
        var index: [String: Int] = [:]
        for pool in pools where pool.config.alertQueueAge != nil {
            guard let queue = feeder.status(of: pool) else { continue }
            let value: Double = alerts.alert(of: pool) == nil ? 0 : 1
            let key = queue.path + "\n" + pool.config.queueName
            if let at = index[key] { figures[at].1 = max(figures[at].1, value); continue }
            index[key] = figures.count
            figures.append(([("queue", pool.config.queueName), ("file", queue.path)], value))
        }
        return figures
    }

    /// Each queue once, however many pools share it: its labels, counts, and the limit of its
    /// own that bound at the last reserve.
    private func queueFigures() -> [(labels: [(String, String)], counts: QueueCounts, limitedBy: LimitName?)] {
        var figures: [(labels: [(String, String)], counts: QueueCounts, limitedBy: LimitName?)] = []
        var seen: Set<String> = []
        for pool in pools {
            guard let queue = feeder.status(of: pool), let counts = queue.counts,
                  seen.insert(queue.path + "\n" + pool.config.queueName).inserted else { continue }
            // `file` is the queue file, or the Redis server's URL (without its password).
            figures.append(([("queue", pool.config.queueName), ("file", queue.path)], counts, queue.limitedBy))
        }
        return figures
    }
}
