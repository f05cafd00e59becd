/// The dashboard's side of the supervisor: opening it, the picture it streams, and its routes,
/// which go through the same code as the control socket's requests (`answer`) and the queue
/// commands (`JobQueue`).
extension Supervisor {
    /// Log lines of each pool in the picture.
    static let dashboardLogLines = 40
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
            let feeding = pools.filter { $0.config.queue.feedsJobs }
            guard let name = pool ?? (feeding.count == 1 ? feeding[0].name : nil) else {
                return reply(ControlRequest.failure("several pools have queues: say which with ?pool=NAME"))
            }
            return reply(usingQueue(of: name) { queue, queueName throws(QueueError) in
                guard let job = try queue.job(id, queue: queueName) else { return ControlRequest.failure("no job \(id) in queue \(queueName)") }
                return .object([("ok", .bool(true)), ("job", job.json)])
            })
        case .dead(let limit):
            var seen: [(QueueSetting, String)] = []
            var lists: [JSON] = []
            for pool in pools where pool.config.queue.feedsJobs && !seen.contains(where: { $0 == (pool.config.queue, pool.config.queueName) }) {
                seen.append((pool.config.queue, pool.config.queueName))
                let list = usingQueue(of: pool.name) { queue, name throws(QueueError) in
                    JSON.array(try queue.jobs(queue: name, states: ["dead"], group: nil, after: 0, limit: limit).map(\.json))
                }
                lists.append(.object([("pool", .string(pool.name)), ("queue", .string(pool.config.queueName)),
                                      list["ok"]?.boolValue == false ? ("error", list["error"] ?? .null) : ("jobs", list)]))
            }
            return DashboardHTTP.answer(.object([("ok", .bool(true)), ("queues", .array(lists))]))
        }
    }

    /// Runs `body` on the pool's queue, opened for it; a failure as the JSON of an error.
    private func usingQueue(of name: String, _ body: (any JobQueue, String) throws(QueueError) -> JSON) -> JSON {
        guard let pool = pools.first(where: { $0.name == name }) else { return ControlRequest.failure("no pool \(name)") }
        do {
            guard let queue = try pool.config.queue.open(create: false, clientName: "solo-dashboard", patience: Self.dashboardQueuePatience) else {
                return ControlRequest.failure("pool \(name) has queue = none: it has no jobs")
            }
            return try body(queue, pool.config.queueName)
        } catch {
            return ControlRequest.failure("pool \(name): \(error)")
        }
    }
}
