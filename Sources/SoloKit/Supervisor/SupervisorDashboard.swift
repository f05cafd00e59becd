/// The dashboard's side of the supervisor: opening it, the picture it streams, and its routes,
/// which go through the same code as the control socket's requests (`answer`) and the queue
/// commands (`JobQueue`).
extension Supervisor {
    /// Log lines of each pool in the picture.
    static let dashboardLogLines = 40
    /// Results (and dead jobs) of a finished group that `/api/groups/NAME` sends.
    static let dashboardGroupResults = 100
    /// How long a job action or lookup may wait for the queue (a busy file, a Redis reply):
    /// the loop waits with it.
    static let dashboardQueuePatience: Duration = .seconds(1)

    /// Listens where `dashboard_listen` says, or stops listening; makes the token at first
    /// start. As for the metrics, a port that is taken does not stop solo.
    func openDashboard() {
        let wanted = config.global.dashboardListen
        if let server = dashboard, server.address == wanted { return }
        dashboard?.close()
        dashboard = nil
        guard let wanted else { return }
        let tokenPath = DashboardToken.path(config.global)
        do { _ = try DashboardToken.readOrCreate(tokenPath) } catch {
            return say("cannot write the dashboard token \(tokenPath): \(error); no dashboard is served (fix state_dir and run solo reload)")
        }
        let handlers = DashboardServer.Handlers(
            answer: { [unowned self] in self.dashboardAnswer($0) },
            picture: { [unowned self] in self.dashboardPicture().text },
            token: { DashboardToken.read(tokenPath) },
            readonly: { [unowned self] in self.config.global.dashboardReadonly })
        do {
            dashboard = try DashboardServer(address: wanted, epoll: epoll, handlers: handlers)
            if nextHistorySample == nil { nextHistorySample = Moment.now() }
            say("dashboard at http://\(wanted)/ (solo dashboard prints the URL with its token)\(wanted.isLoopback ? "" : "; beyond this machine, over plain HTTP")")
        } catch {
            say("cannot listen on \(wanted) for dashboard_listen: \(error); no dashboard is served (fix it and run solo reload)")
        }
    }

    /// What `GET /events` streams and `GET /api/status` answers: `solo status --json`, each
    /// pool's recent log lines, its workers' exits by reason since solo started (the metrics'
    /// counters: recycles, restarts, stops), the schedules as `solo schedule list --json` has
    /// them, and whether actions are refused.
    func dashboardPicture() -> JSON {
        let logs = pools.map { ($0.name, JSON.array((recentOutput[$0.name]?.last(Self.dashboardLogLines) ?? []).map(JSON.string))) }
        let exits = pools.map { pool in
            (pool.name, JSON.object(PoolCounters.exitReasons.compactMap { reason in
                pool.counters.exits[reason].map { (reason, .number(Int64($0))) }
            }))
        }
        return .object([("status", status(pools, now: Moment.now())), ("logs", .object(logs)), ("exits", .object(exits)),
                        ("schedules", scheduleList()["schedules"] ?? .array([])), ("readonly", .bool(config.global.dashboardReadonly))])
    }

    /// One sample of each queue's throughput and wait for the charts when one is due; the pools
    /// gone are forgotten.
    func sampleHistory(now: Moment) {
        guard dashboard != nil, let due = nextHistorySample, due <= now else { return }
        nextHistorySample = now + QueueHistory.interval
        let wall = Moment.wallMilliseconds()
        var kept: [String: QueueHistory] = [:]
        for pool in pools {
            guard let queue = feeder.status(of: pool) else { continue }
            var history = queueHistories[pool.name] ?? QueueHistory()
            history.record(atMs: wall, totals: QueueHistory.Totals(pool.counters), oldestWaitingMs: queue.counts?.oldestWaitingMs)
            kept[pool.name] = history
        }
        queueHistories = kept
    }

    func dashboardAnswer(_ route: DashboardRoute) -> [UInt8] {
        func reply(_ json: JSON?) -> [UInt8] {
            guard let json else { return DashboardHTTP.answer(ControlRequest.failure("no answer"), status: 500) }
            return DashboardHTTP.answer(json, status: json["ok"]?.boolValue == false ? 409 : 200)
        }
        switch route {
        case .page:
            return HTTP.reply(200, DashboardPage.html, contentType: "text/html; charset=utf-8", extra: DashboardPage.headers)
        case .events, .status:
            return DashboardHTTP.answer(dashboardPicture())
        case .history:
            return DashboardHTTP.answer(.object([("ok", .bool(true)), ("interval_ms", .number(QueueHistory.interval.nanoseconds / 1_000_000)),
                                                 ("pools", .object(queueHistories.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) }))]))
        case .steer(let pool, let steering):
            return reply(answer(.steer(steering, pools: .named([pool]), wait: false)))
        case .scale(let pool, let workers):
            return reply(answer(.scale(pool: pool, workers: workers, maxWorkers: nil)))
        case .jobs(let change, let pool, let ids):
            return reply(usingQueue(of: pool) { queue, name throws(QueueError) in
                let before = try queue.change(change, ids: ids, queue: name)
                let changed = ids.filter { before[$0].map(change.from.contains) ?? false }
                let left = ids.filter { !changed.contains($0) }.map { id in
                    JSON.object([("id", .number(id)), ("state", .optional(before[id]))])
                }
                if !changed.isEmpty {
                    say("pool \(pool): dashboard: \(change.name) of job\(changed.count == 1 ? "" : "s") \(changed.map(String.init).joined(separator: ", "))",
                        alsoTo: pools.first { $0.name == pool })
                }
                return .object([("ok", .bool(true)), ("changed", .array(changed.map { .number($0) })), ("left", .array(left))])
            })
        case .job(let pool, let id):
            guard let name = pool ?? onlyFeedingPool else { return reply(ControlRequest.failure("several pools have queues: say which with ?pool=NAME")) }
            return reply(usingQueue(of: name) { queue, queueName throws(QueueError) in
                guard let job = try queue.job(id, queue: queueName) else { return ControlRequest.failure("no job \(id) in queue \(queueName)") }
                return .object([("ok", .bool(true)), ("job", job.json)])
            })
        case .findJobs(let pool, let search):
            guard let name = pool ?? onlyFeedingPool else { return reply(ControlRequest.failure("several pools have queues: say which with ?pool=NAME")) }
            return reply(usingQueue(of: name) { queue, queueName throws(QueueError) in
                let found: [JobRecord]
                switch search {
                case .group(let group):
                    found = try queue.jobs(queue: queueName, states: JobRecord.states, group: group, after: 0, limit: Self.dashboardGroupResults)
                case .uniqueKey(let key):
                    found = try queue.uniqueKeyHolder(key, queue: queueName).flatMap { id throws(QueueError) in try queue.job(id, queue: queueName) }.map { [$0] } ?? []
                }
                return .object([("ok", .bool(true)), ("jobs", .array(found.map(\.json)))])
            })
        case .cluster:
            let named = config.global.redisServers(config.pools)
            guard !named.isEmpty else { return reply(ControlRequest.failure("this config uses no Redis server: there is no cluster to show")) }
            var servers: [RedisURL] = []
            for url in named {
                guard let address = addressed(url) else { return reply(ControlRequest.failure(Self.unresolved(url))) }
                servers.append(address)
            }
            do {
                return reply(.object([("ok", .bool(true)), ("supervisors", .array(try ClusterReports.read(servers, clientName: "solo-dashboard", timeout: Self.dashboardQueuePatience)))]))
            } catch {
                return reply(ControlRequest.failure("cannot read the heartbeats: \(error)"))
            }
        case .groups:
            // One queue opened per pool, for all of its groups.
            let seen = feeder.recentGroups.newestFirst
            var listed: [JSON] = []
            for pool in pools where seen.contains(where: { $0.pool == pool.name }) {
                let groups = usingQueue(of: pool.name) { queue, _ throws(QueueError) in
                    JSON.array(try seen.filter { $0.pool == pool.name }.map { seen throws(QueueError) in
                        .object([("pool", .string(pool.name)), ("group", .string(seen.group))] + Self.groupFields(try queue.groupCounts(seen.group)))
                    })
                }
                listed += groups.arrayValue ?? [.object([("pool", .string(pool.name)), ("error", groups["error"] ?? .null)])]
            }
            return DashboardHTTP.answer(.object([("ok", .bool(true)), ("groups", .array(listed))]))
        case .group(let group, let pool):
            guard let name = pool ?? onlyFeedingPool else { return reply(ControlRequest.failure("several pools have queues: say which with ?pool=NAME")) }
            return reply(usingQueue(of: name) { queue, _ throws(QueueError) in
                let counts = try queue.groupCounts(group)
                guard counts.total > 0 else { return ControlRequest.failure("no job of group \(group) is kept") }
                var fields: [(String, JSON)] = [("ok", .bool(true)), ("group", .string(group))] + Self.groupFields(counts)
                if counts.pending == 0 {
                    // As solo wait --results has them, bounded: the page shows a sample, the command all.
                    let done = try queue.jobs(queue: nil, states: ["done"], group: group, after: 0, limit: Self.dashboardGroupResults)
                    let dead = try queue.jobs(queue: nil, states: ["dead"], group: group, after: 0, limit: Self.dashboardGroupResults)
                    let span = try queue.groupSpan(group)
                    fields += [("took_ms", .optional(span.map { $0.last - $0.first })),
                               ("results", .array(done.map { .object([("id", .number($0.id)), ("result", .optional($0.result))]) })),
                               ("dead_jobs", .array(dead.map { .object([("id", .number($0.id)), ("error", .optional($0.error))]) }))]
                }
                return .object(fields)
            })
        case .dead(let limit):
            var seen: [(QueueSetting, String)] = []
            var lists: [JSON] = []
            for pool in pools where pool.config.queue.feedsJobs && !seen.contains(where: { $0 == (pool.config.queue, pool.config.queueName) }) {
                seen.append((pool.config.queue, pool.config.queueName))
                let list = usingQueue(of: pool.name) { queue, name throws(QueueError) in
                    // Cut short: the list shows a line a job (the lookup by id shows it whole).
                    JSON.array(try queue.jobs(queue: name, states: ["dead"], group: nil, after: 0, limit: limit).map { $0.cut(to: 256).json })
                }
                lists.append(.object([("pool", .string(pool.name)), ("queue", .string(pool.config.queueName)),
                                      list["ok"]?.boolValue == false ? ("error", list["error"] ?? .null) : ("jobs", list)]))
            }
            return DashboardHTTP.answer(.object([("ok", .bool(true)), ("queues", .array(lists))]))
        }
    }

    /// The pool whose queue a lookup means when it names none: the config's only feeding pool.
    private var onlyFeedingPool: String? {
        let feeding = pools.filter { $0.config.queue.feedsJobs }
        return feeding.count == 1 ? feeding[0].name : nil
    }

    private static func groupFields(_ counts: QueueCounts) -> [(String, JSON)] {
        [("total", counts.total), ("pending", counts.pending), ("ready", counts.ready), ("delayed", counts.delayed),
         ("reserved", counts.reserved), ("done", counts.done), ("dead", counts.dead)].map { ($0.0, .number(Int64($0.1))) }
    }

    /// Runs `body` on the pool's queue, opened for it; a failure as the JSON of an error.
    private func usingQueue(of name: String, _ body: (any JobQueue, String) throws(QueueError) -> JSON) -> JSON {
        guard let pool = pools.first(where: { $0.name == name }) else { return ControlRequest.failure("no pool \(name)") }
        var setting = pool.config.queue
        if case .redis(let url) = setting {
            guard let addressed = addressed(url) else { return ControlRequest.failure(Self.unresolved(url)) }
            setting = .redis(addressed)
        }
        do {
            guard let queue = try setting.open(create: false, clientName: "solo-dashboard", patience: Self.dashboardQueuePatience) else {
                return ControlRequest.failure("pool \(name) has queue = none: it has no jobs")
            }
            return try body(queue, pool.config.queueName)
        } catch {
            return ControlRequest.failure("pool \(name): \(error)")
        }
    }

    /// A Redis URL to open from the loop: a host name is replaced by the address the
    /// supervisor's own connection to that server resolved (on a thread of its own), since a
    /// connection opened here would resolve it in the loop, for as long as the resolver takes.
    /// Nil when no address is known yet.
    private func addressed(_ url: RedisURL) -> RedisURL? {
        guard TCPClient.literal(url.host) == nil else { return url }
        guard let address = redis.existing(url)?.commands.lastAddress else { return nil }
        var copy = url
        copy.host = LockAddress.format(address)
        return copy
    }

    private static func unresolved(_ url: RedisURL) -> String {
        "the address of \(url.host) is not known yet (solo resolves it in the background, never in the loop that feeds the workers): try again in a moment"
    }
}
