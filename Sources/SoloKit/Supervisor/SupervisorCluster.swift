/// The supervisor among others: the fleet lock's turns, heartbeats for `solo status
/// --cluster`, and the last Redis replies at a stop.
extension Supervisor {
    func setUpCluster() {
        heartbeat.servers = { [unowned self] in self.redis.all }
        heartbeat.report = { [unowned self] in self.clusterReport(now: .now()).text }
        feeder.stores.fence = { [unowned self] url in
            guard let lock = self.fleetLock, lock.server.url == url.server, lock.role == .holding else { return nil }
            return (RedisScripts.lockKey(lock.name), lock.token)
        }
        guard let lock = fleetLock else { return }
        for pool in pools { _ = pool.standBy(now: .now(), using: &random) }
        say("fleet lock \(lock.name) (\(lock.server.url)): standing by until this supervisor holds it")
        lock.gained = { [unowned self] fence in
            self.say("fleet lock \(lock.name): this supervisor holds it (fence \(fence)); starting the pools")
            for pool in self.pools { pool.endStandby() }
            self.fire(HookEvent(.lockGained, reason: "fleet lock \(lock.name) held (fence \(fence))"))
        }
        lock.losing = { [unowned self] message in
            self.say(message)
            self.lockLost(message)
        }
        lock.kill = { [unowned self] message in
            self.say(message)
            self.lockLost(message)
            let now = Moment.now()
            for pool in self.pools { self.perform(pool.killStandingBy(now: now, using: &self.random), for: pool) }
            // What the workers left behind goes too: the next holder must find nothing of ours.
            self.leftovers.killAll()
        }
    }

    /// The fleet lock is another's (or nobody can tell): the hooks hear of it once, when the
    /// pools that ran stand by.
    private func lockLost(_ why: String) {
        let wasRunning = pools.contains { !$0.standingBy }
        standBy()
        if wasRunning { fire(HookEvent(.lockLost, reason: why)) }
    }

    /// Every pool stops its workers and takes no job while the lock is not this supervisor's.
    func standBy() {
        let now = Moment.now()
        for pool in pools where !pool.standingBy {
            perform(pool.standBy(now: now, using: &random), for: pool)
            feeder.releaseAhead(of: pool)
        }
    }

    /// After a reload: new pools stand by too while the lock is another's.
    func afterReload() {
        if let fleetLock, fleetLock.role != .holding { standBy() }
        letGoOfUnusedServers()
    }

    /// Closes the connections to Redis servers that no pool, job or lock needs any more.
    func letGoOfUnusedServers() {
        var needed = feeder.stores.servers
        if let fleetLock { needed.insert(fleetLock.server.url) }
        redis.keep(only: needed)
    }

    /// This supervisor as the others see it: its pools, workers and rates.
    func clusterReport(now: Moment) -> JSON {
        let pools: [JSON] = self.pools.map { pool in
            let alive = pool.servingWorkers
            // A fastcgi pool's requests stand where another pool's workers do.
            let inFlight: [(String, JSON)] = pool.config.fastcgi == nil ? [] : [("requests_in_flight", .number(Int64(pool.requestsInFlight)))]
            return .object(inFlight + [("name", .string(pool.name)), ("queue", .string(pool.config.queue.location)),
                            ("queue_name", .string(pool.config.queueName)),
                            ("state", .string(pool.standingBy ? "standby" : pool.stopping ? "stopping" : pool.paused ? "stopped" : "running")),
                            ("workers_running", .number(Int64(alive.count))), ("workers_wanted", .number(Int64(pool.desiredWorkers))),
                            ("busy", .number(Int64(alive.filter { $0.job != nil }.count))),
                            ("jobs_per_second", .double((pool.jobRate.perSecond(now: now) * 10).rounded() / 10)),
                            ("jobs_done", .number(Int64(pool.counters.jobs["done", default: 0])))])
        }
        var fields: [(String, JSON)] = [("owner", .string(feeder.owner)), ("host", .string(Host.name())), ("pid", .number(Int64(Processes.ownPID))),
                                        ("started", .double(startedWallClock)), ("uptime_ms", .number((now - started).nanoseconds / 1_000_000)),
                                        ("config", .string(config.file)), ("pools", .array(pools))]
        if let fleetLock { fields.append(("fleet_lock", fleetLock.statusJSON)) }
        return .object(fields)
    }

    /// At the end: waits (a few seconds at most) for Redis to answer the last outcomes, the
    /// released jobs and the freed lock. A server that is away is not waited for.
    func drainRedis(within limit: Duration) {
        let deadline = Moment.now() + limit
        redis.flush()
        while !(feeder.settled && (fleetLock?.settled ?? true)) {
            let now = Moment.now()
            guard now < deadline else { break }
            // Looked at every 100 ms at least: outcomes a refusal holds back go again when due.
            let timeout = earlier(earlier(deadline, redis.nextDeadline), now + .milliseconds(100)).map { $0.millisecondsFrom(now) } ?? 0
            guard let events = try? epoll.wait(timeoutMilliseconds: timeout, into: &eventBuffer) else { break }
            // Only Redis is served now; what else is ready is read and dropped (the loop is
            // level-triggered: left unread, a signal or a queue file's event would spin it).
            for event in events {
                if EpollToken.redis.contains(event.token) { redis.event(event) } else { discard(event) }
            }
            redis.expire(now: .now())
            feeder.flush(now: .now())
            redis.flush()
        }
    }
}
