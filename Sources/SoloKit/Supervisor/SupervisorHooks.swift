/// The supervisor's events told to the outside: `on_event` hooks (HookRunner) and the queue
/// alerts (QueueAlerts) that are among their events.
extension Supervisor {
    func makeHookRunner() -> HookRunner {
        HookRunner(epoll: epoll, guardian: guardian, settings: { [unowned self] in
            HookRunner.Settings(timeout: self.config.global.hookTimeout, concurrency: self.config.global.hookConcurrency,
                                environment: self.inherited)
        }, say: { [unowned self] message, poolName in
            self.say(message, alsoTo: poolName.flatMap { name in self.pools.first { $0.name == name } })
        })
    }

    func makeQueueAlerts() -> QueueAlerts {
        QueueAlerts(pools: { [unowned self] in self.pools }, oldestWaitingMs: { [unowned self] pool in
            self.feeder.status(of: pool)?.counts.map { $0.oldestWaitingMs }
        }, fire: { [unowned self] pool, kind, reason in
            self.say("pool \(pool.name): queue \(pool.config.queueName): \(kind == .alert ? "alert" : "alert cleared"): \(reason)", alsoTo: pool)
            self.fire(HookEvent(kind, pool: pool.name, reason: reason, queue: pool.config.queueName))
        })
    }

    /// Runs the hook for the event: its pool's `on_event`, else [global]'s; none when neither
    /// has one (or the pool says none).
    func fire(_ event: HookEvent) {
        let pool = event.pool.flatMap { name in pools.first { $0.name == name } }
        guard let command = pool?.config.onEvent ?? config.global.onEvent, !command.isEmpty else { return }
        hooks.fire(HookRunner.Order(event: event, command: command, directory: pool?.config.directory ?? Path.directory(of: config.file)))
    }
}
