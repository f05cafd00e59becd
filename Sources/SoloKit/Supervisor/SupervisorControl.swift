/// What the control socket asks of the supervisor: status, and steering pools.
extension Supervisor {
    func openControlSocket() {
        let path = ControlSocket.path(config)
        do {
            control = try ControlServer(path: path, epoll: epoll, maxPayload: config.global.maxPayload, handle: { [unowned self] in self.answer($0, from: $1) },
                                        say: { [unowned self] in self.say($0) })
        } catch {
            say("cannot open the control socket \(path): \(UnixSocket.why(error)); solo status and friends will not reach this supervisor")
        }
    }

    /// The answer to a request; nil when it comes later (`--wait`: see `ControlServer.answerLater`).
    func answer(_ request: ControlRequest, from connection: UInt64 = 0) -> JSON? {
        let now = Moment.now()
        func find(_ name: String) -> Pool? { pools.first { $0.name == name } }
        func unknown(_ name: String) -> JSON {
            let hint = Values.suggestion(for: name, among: pools.map(\.name)).map { " (did you mean \($0)?)" } ?? ""
            return ControlRequest.failure("no pool \(name)\(hint); pools: \(pools.map(\.name).joined(separator: ", "))")
        }
        switch request {
        case .status, .logs, .shutdown: break
        default: if phase != .running { return ControlRequest.failure("solo is stopping") }
        }
        switch request {
        case .status(let name):
            if let name, find(name) == nil { return unknown(name) }
            return status(pools.filter { name == nil || $0.name == name }, now: now)
        case .steer(let steering, let choice, let wait):
            // Every name is checked before any pool is touched: a typo does nothing.
            let chosen: [Pool]
            switch choice {
            case .all: chosen = pools.filter { !$0.removed }
            case .named(let names):
                if let name = names.first(where: { find($0)?.removed != false }) {
                    guard find(name) != nil else { return unknown(name) }
                    return ControlRequest.failure("pool \(name) was removed by a reload and is stopping (put its section back and reload to keep it)")
                }
                chosen = names.map { find($0)! }
            }
            let notes = chosen.flatMap { steer(steering, $0, now: now) }
            let reply = JSON.object([("ok", .bool(true))] + (notes.isEmpty ? [] : [("notes", .array(notes.map(JSON.string)))]))
            guard wait else { return reply }
            let names = chosen.map(\.name)
            control?.answerLater(connection) { [unowned self] in
                if phase != .running { return ControlRequest.failure("solo is stopping") }
                let left = names.filter { name in pools.first { $0.name == name && !$0.removed }.map { !isSettled($0, after: steering) } ?? false }
                return left.isEmpty ? reply : nil
            }
            return nil
        case .shutdown:
            if phase == .running {
                say("solo shutdown: stopping every pool gracefully")
                beginStop()
            }
            return .object([("ok", .bool(true))])
        case .scale(let name, let workers, let maximum):
            guard let pool = find(name) else { return unknown(name) }
            if maximum != nil && !pool.config.queue.feedsJobs {
                return ControlRequest.failure("pool \(name) has queue = none: it has no queue to scale by (give one number)")
            }
            let target = pool.setScaling(workers, upTo: maximum)
            if let range = pool.autoscaler?.range { say("pool \(name): scaling between \(range.lowerBound) and \(range.upperBound) workers (solo scale)") }
            return scale(pool, to: target, why: "solo scale")
        case .reload:
            say("solo reload: reloading \(config.file)")
            return reload()
        case .schedules:
            return scheduleList()
        case .runSchedule(let name):
            return runSchedule(name, from: connection)
        case .client(let request):
            guard let control else { return ControlRequest.failure("the control socket is closed") }
            return answer(request, from: connection, on: control)
        case .logs(let name, let lines, let follow):
            guard find(name) != nil else { return unknown(name) }
            if follow { control?.follow(connection, pool: name) }
            return .object([("ok", .bool(true)), ("lines", .array((recentOutput[name]?.last(lines) ?? []).map(JSON.string)))])
        }
    }

    /// `solo stop|start|restart` for one pool; returns why it cannot do all it was asked.
    private func steer(_ steering: ControlRequest.Steering, _ pool: Pool, now: Moment) -> [String] {
        switch steering {
        case .stop:
            say("pool \(pool.name): stopping it (solo stop)")
            perform(pool.pause(now: now, using: &random), for: pool)
            feeder.releaseAhead(of: pool)
            return []
        case .start, .restart:
            if pool.paused {
                // A restart of a stopped pool starts it: there is nothing to replace.
                say("pool \(pool.name): starting it (solo \(steering.rawValue))")
                pool.resume()
            } else if steering == .restart {
                say("pool \(pool.name): rolling restart of \(pool.workers.count) worker\(pool.workers.count == 1 ? "" : "s") (solo restart)")
                perform(pool.restartRolling(now: now, using: &random), for: pool)
            } else {
                // Running already: a slot waiting out a back-off tries again now (a fixed deploy).
                say("pool \(pool.name): slots backing off try again now (solo start)")
                pool.resume()
            }
            if pool.standingBy { return ["pool \(pool.name) stands by: another supervisor holds the fleet lock (cluster_lock); it starts when this one takes it"] }
            if pool.desiredWorkers == 0 { return ["pool \(pool.name) wants 0 workers (solo scale \(pool.name) N to run some)"] }
            return []
        }
    }

    /// Whether `steering` is done with `pool`: stopped, with no worker left; or running, every
    /// wanted worker ready or busy, with no rolling restart under way and no old worker leaving.
    /// A pool standing by has nothing to wait for here (the answer's notes say why).
    private func isSettled(_ pool: Pool, after steering: ControlRequest.Steering) -> Bool {
        if steering == .stop { return pool.paused && pool.isIdle }
        if pool.standingBy { return true }
        guard !pool.paused, pool.rolling.isEmpty, pool.rollingSlot == nil else { return false }
        guard pool.workers.values.allSatisfy({ !$0.isLeaving }) else { return false }
        return pool.slots.prefix(pool.desiredWorkers).allSatisfy { slot in
            slot.current.flatMap { pool.workers[$0] }.map { $0.state == .ready || $0.state == .busy } ?? false
        }
    }

    /// Reads the config file again. Pools that did not change are left alone, changed ones are
    /// rolled (or only scaled), new ones start, removed ones drain and stop. A config with an
    /// error changes nothing: the running config stays in force.
    func reload() -> JSON {
        // For systemd's Type=notify-reload (and harmless under Type=notify): RELOADING=1 with
        // the monotonic time, and READY=1 once done, refused or not: the old config still runs.
        serviceManager.notify(["RELOADING=1", "MONOTONIC_USEC=\(Moment.now().nanoseconds / 1000)"])
        defer { serviceManager.notify(["READY=1"]) }
        let loaded: LoadedConfig
        do { loaded = try ConfigLoader().load(config.file) } catch {
            let issues = error.issues.filter { $0.severity == .error }.map(\.description)
            for issue in issues { say("reload refused: \(issue)") }
            say("reload refused: the running configuration stays in force")
            return .object([("ok", .bool(false)), ("error", .string("the new configuration has errors; nothing changed")),
                            ("issues", .array(issues.map(JSON.string)))])
        }
        for warning in loaded.warnings { say("reload: \(warning)") }
        let new = loaded.config
        let diff = ConfigDiff(from: config, to: new)
        // Everything that can fail is done before anything changes.
        var newPlans = plans
        var newSinks: [String: LogSink] = [:]
        do {
            for name in diff.added + diff.changed {
                let pool = new.pool(named: name)!
                newPlans[name] = try LaunchPlan(pool: pool, inheritedOpenFiles: inheritedOpenFiles)
                if let path = pool.logFile, sinks[path] == nil, newSinks[path] == nil { newSinks[path] = try LogSink(path: path) }
            }
        } catch let error as StartupError {
            say("reload refused: \(error)")
            return ControlRequest.failure("reload refused: \(error); nothing changed")
        } catch {
            say("reload refused: cannot open a log file: \(error)")
            return ControlRequest.failure("reload refused: cannot open a log file: \(error); nothing changed")
        }
        let now = Moment.now()
        plans = newPlans
        sinks.merge(newSinks) { old, _ in old }
        for name in diff.changed {
            let pool = pools.first { $0.name == name }!
            perform(pool.reconfigure(new.pool(named: name)!, now: now, using: &random), for: pool)
        }
        for name in diff.removed {
            let pool = pools.first { $0.name == name }!
            perform(pool.remove(now: now, using: &random), for: pool)
        }
        for name in diff.added {
            if let leaving = pools.first(where: { $0.name == name && $0.removed }) {
                perform(leaving.restore(new.pool(named: name)!, now: now, using: &random), for: leaving)
            } else {
                pools.append(Pool(config: new.pool(named: name)!))
            }
        }
        for key in diff.needsRestart { say("reload: \(key) changed; restart solo to apply it (the old value stays in force)") }
        var kept = new
        kept.global = config.global
        kept.global.metricsListen = new.global.metricsListen
        kept.global.dashboardListen = new.global.dashboardListen
        kept.global.dashboardReadonly = new.global.dashboardReadonly
        config = kept
        configureSchedules()
        openMetrics()
        openDashboard()
        feeder.reconfigure(pools: pools)
        afterReload()
        say("reloaded: \(diff.added.count) added, \(diff.changed.count) changed, \(diff.removed.count) removed, \(diff.unchanged.count) unchanged")
        return .object([("ok", .bool(true)), ("changes", diff.json)])
    }

    /// Removed pools leave once their last worker has.
    func dropRemovedPools() {
        guard pools.contains(where: { $0.removed && $0.isIdle }) else { return }
        for pool in pools where pool.removed && pool.isIdle { say("pool \(pool.name): removed") }
        pools.removeAll { $0.removed && $0.isIdle }
        feeder.reconfigure(pools: pools)
        letGoOfUnusedServers()
    }

    @discardableResult
    func scale(_ pool: Pool, to workers: Int, why: String) -> JSON {
        let target = min(max(workers, 0), 4096)
        if target != pool.desiredWorkers { say("pool \(pool.name): \(pool.desiredWorkers) → \(target) workers (\(why))") }
        perform(pool.scale(to: target, now: Moment.now(), using: &random), for: pool)
        if target == 0 { feeder.releaseAhead(of: pool) }
        return .object([("ok", .bool(true)), ("workers", .number(Int64(target)))])
    }

    /// The whole picture as JSON; `solo status` renders it.
    func status(_ selected: [Pool], now: Moment) -> JSON {
        let orphans = leftovers.orphansBySession()
        let pools: [JSON] = selected.map { pool in
            var workers: [JSON] = []
            for worker in pool.workers.values.sorted(by: { ($0.slot, $0.id) < ($1.slot, $1.id) }) {
                var fields: [(String, JSON)] = [
                    ("slot", .number(Int64(worker.slot))), ("pid", .number(Int64(worker.pid))), ("state", .string(pool.stateName(of: worker))),
                    ("uptime_ms", .number((now - worker.started).nanoseconds / 1_000_000)), ("jobs", .number(Int64(worker.jobsDone))),
                    ("job_limit", .optional(worker.jobLimit)),
                    ("rss", leftovers.treeResidentBytes(of: worker, orphans: orphans).map { .number(Int64($0)) } ?? .null),
                    ("restarts", .number(Int64(worker.slot < pool.slots.count ? pool.slots[worker.slot].restarts : 0))),
                    ("last_exit", .optional(worker.slot < pool.slots.count ? pool.slots[worker.slot].lastExit : nil)),
                    ("status", .optional(worker.statusText)),
                ]
                if let job = worker.job, let started = worker.jobStarted {
                    fields.append(("job", .object([("id", .number(job.id)), ("attempt", .number(Int64(job.attempts))),
                                                   ("age_ms", .number((now - started).nanoseconds / 1_000_000))])))
                }
                if let ahead = worker.ahead { fields.append(("ahead", .number(ahead.id))) }
                if let reason = worker.retireReason { fields.append(("leaving", .string(reason.description))) }
                workers.append(.object(fields))
            }
            for (index, slot) in pool.slots.enumerated() where slot.current == nil && pool.config.fastcgi == nil {
                let state = pool.state(ofEmpty: slot)
                var fields: [(String, JSON)] = [("slot", .number(Int64(index))), ("state", .string(state)),
                                                ("restarts", .number(Int64(slot.restarts))), ("last_exit", .optional(slot.lastExit))]
                if let restart = slot.restartAt { fields.append(("restart_in_ms", .number(max(0, (restart - now).nanoseconds / 1_000_000)))) }
                workers.append(.object(fields))
            }
            var fields: [(String, JSON)] = [
                ("name", .string(pool.name)), ("mode", .string(pool.config.fastcgi != nil ? "fastcgi" : pool.config.queue.feedsJobs ? "feed" : "poll")),
                ("state", .string(pool.standingBy ? "standby" : pool.stopping ? "stopping" : pool.paused ? "stopped" : "running")),
                ("workers_wanted", .number(Int64(pool.desiredWorkers))),
                ("scaling", pool.autoscaler.map { .object([("min", .number(Int64($0.range.lowerBound))), ("max", .number(Int64($0.range.upperBound)))]) } ?? .null),
                ("workers_running", .number(Int64(pool.servingWorkers.count))),
                ("jobs_per_second", .double((pool.jobRate.perSecond(now: now) * 10).rounded() / 10)),
                ("memory_limit", pool.config.memoryLimit.map { .number(Int64($0)) } ?? .null),
                ("memory_kill", pool.config.memoryKill.map { .number(Int64($0)) } ?? .null),
                ("rolling_restart", .number(Int64(pool.rolling.count + (pool.rollingSlot == nil ? 0 : 1)))),
                ("workers", .array(workers)),
                ("alerts", .array([alerts.alert(of: pool)].compactMap { $0.map(JSON.string) })),
            ]
            if let fastcgi = fastCGIStatus(of: pool, now: now) { fields.append(("fastcgi", fastcgi)) }
            if let queue = feeder.status(of: pool) {
                var queueFields: [(String, JSON)] = [("name", .string(pool.config.queueName)), ("file", .string(queue.path)),
                                                     ("backend", .string(pool.config.queue.backend))]
                if let counts = queue.counts {
                    queueFields += [("ready", .number(Int64(counts.ready))), ("delayed", .number(Int64(counts.delayed))),
                                    ("reserved", .number(Int64(counts.reserved))), ("dead", .number(Int64(counts.dead))),
                                    ("held_key_concurrency", .number(Int64(counts.heldByKeyConcurrency))),
                                    ("held_key_rate_limit", .number(Int64(counts.heldByKeyRate))),
                                    ("oldest_waiting_ms", counts.oldestWaitingMs.map { .number($0) } ?? .null)]
                }
                let limits = pool.config.jobLimits
                queueFields += [("limited_by", .optional(queue.limitedBy?.rawValue)),
                                ("concurrency", limits.concurrency.map { .number(Int64($0)) } ?? .null),
                                ("rate_limit", .optional(limits.rate?.description)),
                                ("key_concurrency", limits.keyConcurrency.map { .number(Int64($0)) } ?? .null),
                                ("key_rate_limit", .optional(limits.keyRate?.description))]
                queueFields.append(("problem", .optional(queue.problem)))
                fields.append(("queue", .object(queueFields)))
            }
            return .object(fields)
        }
        var fields: [(String, JSON)] = [("ok", .bool(true)), ("pid", .number(Int64(Processes.ownPID))), ("config", .string(config.file)),
                                        ("uptime_ms", .number((now - started).nanoseconds / 1_000_000)), ("pools", .array(pools))]
        if let fleetLock { fields.append(("fleet_lock", fleetLock.statusJSON)) }
        return .object(fields)
    }
}
