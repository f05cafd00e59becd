import Glibc

/// One pool: `workers` slots, each kept filled with a worker. What the pool wants (how many
/// workers, or none when stopping) is kept apart from what is (the live workers), and
/// `reconcile` closes the gap, as runit's and s6's supervisors do.
public final class Pool {
    public private(set) var config: PoolConfig
    public private(set) var policy: WorkerPolicy
    /// Set when a reload removed the pool: it drains, stops, and is dropped once idle.
    public private(set) var removed = false
    /// What is wanted: how many workers, and whether the pool runs at all (`solo stop POOL`).
    public private(set) var desiredWorkers: Int
    public private(set) var paused = false
    /// Queue-depth scaling (`workers = MIN-MAX`, or `solo scale POOL MIN-MAX`); nil for a fixed count.
    public private(set) var autoscaler: Autoscaler?
    public private(set) var slots: [Slot]
    /// A rolling restart: the workers still to replace, in slot order, and the slot whose new
    /// worker must be ready before the next one goes.
    public private(set) var rolling: [UInt64] = []
    public private(set) var rollingSlot: Int?
    /// Every live worker: the slots' current ones and those still draining.
    public private(set) var workers: [UInt64: Worker] = [:]
    public private(set) var stopping = false
    /// Set while the fleet lock (cluster_lock) is another supervisor's: no worker runs, and
    /// none starts until it is this one's.
    public private(set) var standingBy = false
    public private(set) var nextMemorySample: Moment?
    /// Outcomes per second, for `solo status`.
    public var jobRate = RateMeter()
    /// Starts, exits and jobs since solo started, for the metrics.
    public internal(set) var counters = PoolCounters()
    /// A fastcgi pool's requests on their way to PHP-FPM or awaiting its answer (it has no workers).
    public internal(set) var requestsInFlight = 0

    public var name: String { config.name }

    /// What a slot without a worker is doing, as status and metrics show it.
    public func state(ofEmpty slot: Slot) -> String {
        standingBy ? "standby" : paused || stopping ? "stopped" : slot.restartAt == nil ? "starting" : WorkerState.backoff.rawValue
    }
    public var isIdle: Bool { workers.isEmpty && requestsInFlight == 0 }
    public var samplesMemory: Bool { config.memoryLimit != nil || config.memoryKill != nil }

    public init(config: PoolConfig) {
        self.config = config
        policy = WorkerPolicy(pool: config)
        desiredWorkers = config.workers
        autoscaler = config.scalingRange.map { Autoscaler(range: $0, cooldown: config.scaleCooldown) }
        let backoff = Backoff(minimum: config.backoffMin, maximum: config.backoffMax, reset: config.backoffReset)
        slots = Array(repeating: Slot(backoff: backoff), count: config.workers)
    }

    // MARK: - wanting

    /// Spawn orders for every empty slot that is not waiting out a back-off.
    public func reconcile(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        // A fastcgi pool has no workers: PHP-FPM runs its jobs (see FastCGIExecutor).
        guard !stopping && !paused && !standingBy && config.fastcgi == nil else { return [] }
        var orders = advanceRollingRestart(now: now, using: &random)
        var drawnJobs: [Int] = []
        var drawnLifetimes: [Duration] = []
        func order(slot: Int, spare: Bool) -> PoolCommand {
            let others = workers.values.filter { !$0.isLeaving }
            // A spare starts counting when the slot's worker leaves: its recycle is spread from
            // the others' as seen from then.
            let head = spare ? slots[slot].current.flatMap { workers[$0]?.jobsRemaining } ?? 0 : 0
            let jobLimit = config.maxJobs.map { range in
                RecyclePolicy.drawJobLimit(range, othersRemaining: (others.compactMap(\.jobsRemaining) + drawnJobs).map { $0 - head }, using: &random)
            }
            let lifetime = config.maxLifetime.map { range in
                RecyclePolicy.drawLifetime(range, othersRemaining: others.compactMap { $0.lifetimeDeadline.map { $0 - now } } + drawnLifetimes, using: &random)
            }
            jobLimit.map { drawnJobs.append($0) }
            lifetime.map { drawnLifetimes.append($0) }
            return .spawn(SpawnOrder(slot: slot, jobLimit: jobLimit, lifetime: lifetime, spare: spare))
        }
        for index in 0..<min(desiredWorkers, slots.count) where slots[index].current == nil && slots[index].restartAt == nil {
            // A warm replacement already booted takes the slot (after a crash, once its back-off is over).
            promoteSpare(of: index)
            if slots[index].current == nil { orders.append(order(slot: index, spare: false)) }
        }
        if let index = slotWantingSpare(now: now) { orders.append(order(slot: index, spare: true)) }
        return orders
    }

    // MARK: - warm replacements (what decides them: Pool+Spares.swift)

    /// The spare, if alive and not leaving, becomes the slot's worker.
    private func promoteSpare(of index: Int) {
        guard let spare = slots[index].spare else { return }
        slots[index].spare = nil
        if workers[spare]?.isLeaving == false { slots[index].current = spare }
    }

    /// Stops every worker gracefully and starts no more.
    public func stop(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        stopping = true
        for index in slots.indices { slots[index].restartAt = nil }
        return workers.keys.sorted().flatMap { handle($0, .retire(.shutdown), now: now, using: &random) }
    }

    // MARK: - steering (solo stop, start, restart, scale)

    /// Stops every worker gracefully; the pool stays defined and starts again with `start`.
    public func pause(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        paused = true
        return retireAll(.poolStopped, now: now, using: &random)
    }

    /// The fleet lock is another supervisor's: every worker stops gracefully, none starts.
    public func standBy(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        standingBy = true
        return retireAll(.standby, now: now, using: &random)
    }

    /// Every worker leaves gracefully, and no slot waits to start one (the caller has said why).
    private func retireAll(_ reason: RetireReason, now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        rolling = []
        rollingSlot = nil
        for index in slots.indices { slots[index].restartAt = nil }
        return workers.keys.sorted().flatMap { handle($0, .retire(reason), now: now, using: &random) }
    }

    /// The fleet lock is about to run out: whatever still runs is killed, so that the next
    /// holder never works beside it.
    public func killStandingBy(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        killWorkers(now: now, using: &random)
    }

    private func killWorkers(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        workers.keys.sorted().flatMap { handle($0, .kill, now: now, using: &random) }
    }

    /// The fleet lock is this supervisor's: the pool runs again.
    public func endStandby() {
        standingBy = false
    }

    /// `solo start`: the pool runs again if it was stopped, and its slots try at once.
    public func resume() {
        paused = false
        forgetBackoff()
    }

    /// `solo start` and `solo restart` mean "try now" (after a fixed deploy, say): no slot
    /// waits out a back-off that the workers before earned.
    private func forgetBackoff() {
        for index in slots.indices {
            slots[index].restartAt = nil
            slots[index].backoff.forget()
            slots[index].jobDeaths = 0
        }
    }

    /// A reload brought back a pool that a reload before had removed, while its workers were
    /// still leaving: it is the same pool again (its counters go on), with the new config.
    public func restore(_ new: PoolConfig, now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        removed = false
        paused = false
        return reconfigure(new, now: now, using: &random)
    }

    /// A reload changed the pool: new workers start with `new`; the running ones are rolled
    /// (one at a time) unless only the worker count changed. Returns what to do now.
    public func reconfigure(_ new: PoolConfig, now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        let onlyCount = ConfigDiff.sameExceptCount(config, new)
        config = new
        policy = WorkerPolicy(pool: new)
        let backoff = Backoff(minimum: new.backoffMin, maximum: new.backoffMax, reset: new.backoffReset)
        for index in slots.indices { slots[index].backoff = backoff }
        // A scaling pool keeps its present size, within the new range; a fixed one takes the new count.
        autoscaler = new.scalingRange.map { Autoscaler(range: $0, cooldown: new.scaleCooldown) }
        let target = new.scalingRange.map { min(max(desiredWorkers, $0.lowerBound), $0.upperBound) } ?? new.workers
        var commands = scale(to: target, now: now, using: &random)
        // Turned into a fastcgi pool: PHP-FPM runs its jobs now, and its workers leave.
        if new.fastcgi != nil { return commands + retireAll(.restart, now: now, using: &random) }
        if !onlyCount {
            // A spare booted with the old config.
            for spare in slots.compactMap(\.spare) { commands += handle(spare, .retire(.restart), now: now, using: &random) }
            commands += restartRolling(now: now, using: &random)
        }
        return commands
    }

    /// A reload removed the pool: stop its workers; it goes once they are gone.
    public func remove(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        removed = true
        return pause(now: now, using: &random)
    }

    /// Replaces every worker, one at a time: each new worker must be ready before the next old
    /// one is asked to drain, so capacity never drops to zero. Slots in back-off start at once.
    public func restartRolling(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        forgetBackoff()
        rolling = slots.compactMap(\.current).filter { workers[$0]?.isLeaving == false }
        rollingSlot = nil
        return advanceRollingRestart(now: now, using: &random)
    }

    private func advanceRollingRestart(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        if let slot = rollingSlot {
            // A slot scaled away has nothing to wait for.
            if slot >= desiredWorkers { rollingSlot = nil }
        }
        if let slot = rollingSlot {
            guard slot < slots.count, let current = slots[slot].current, let worker = workers[current] else {
                return []  // its replacement is not running yet (starting, or backing off)
            }
            guard worker.state == .ready || worker.state == .busy else { return [] }
            rollingSlot = nil
        }
        while !rolling.isEmpty {
            let id = rolling.removeFirst()
            guard let worker = workers[id], !worker.isLeaving else { continue }
            rollingSlot = worker.slot
            return handle(id, .retire(.restart), now: now, using: &random)
        }
        return []
    }

    /// Grows or shrinks the pool. New slots start at once; the workers of slots taken away
    /// drain and stop, highest slot first; the others are not touched.
    public func scale(to count: Int, now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        desiredWorkers = max(0, count)
        let backoff = Backoff(minimum: config.backoffMin, maximum: config.backoffMax, reset: config.backoffReset)
        while slots.count < desiredWorkers { slots.append(Slot(backoff: backoff)) }
        var commands: [PoolCommand] = []
        for index in slots.indices.reversed() where index >= desiredWorkers {
            slots[index].restartAt = nil
            for id in [slots[index].current, slots[index].spare].compactMap({ $0 }) where workers[id]?.isLeaving == false {
                commands += handle(id, .retire(.scaledDown), now: now, using: &random)
            }
        }
        dropEmptySlots()
        return commands
    }

    /// `solo scale`: `count` alone pins the pool at it (it scales no more until a reload
    /// changes its section); with `maximum`, it scales between the two. Returns the count to
    /// scale to now.
    public func setScaling(_ count: Int, upTo maximum: Int?) -> Int {
        guard let maximum, maximum > count else {
            autoscaler = nil
            return count
        }
        autoscaler = Autoscaler(range: count...maximum, cooldown: config.scaleCooldown)
        return min(max(desiredWorkers, count), maximum)
    }

    /// Queue-depth scaling's verdict, given the jobs waiting in the pool's queue: a new count
    /// and why, or nil to leave the pool as it is.
    public func autoscale(waiting: Int, now: Moment) -> (workers: Int, why: String)? {
        guard !stopping, !paused, !removed, !standingBy, var scaler = autoscaler else { return nil }
        // Workers still in their slot with a job: a draining one's slot is being filled anew.
        let busy = workers.values.filter { $0.job != nil && !$0.isLeaving }.count
        // A job written ahead to a busy worker waits for a worker as much as one in the queue.
        let ahead = workers.values.filter { $0.ahead != nil }.count
        defer { autoscaler = scaler }
        return scaler.decide(current: desiredWorkers, busy: busy, waiting: waiting + ahead, now: now)
    }

    /// Slots beyond the wanted count go once their workers are gone.
    private func dropEmptySlots() {
        while slots.count > desiredWorkers, slots.last?.current == nil,
              !workers.values.contains(where: { $0.slot == slots.count - 1 }) {
            slots.removeLast()
        }
    }

    /// Kills every worker at once (a second TERM during a stop).
    public func kill(now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        stopping = true
        return killWorkers(now: now, using: &random)
    }

    // MARK: - what happened

    public func spawned(_ order: SpawnOrder, id: UInt64, pid: pid_t, now: Moment) {
        workers[id] = Worker(id: id, slot: order.slot, pid: pid, started: now, jobLimit: order.jobLimit,
                             lifetimeLimit: order.lifetime, policy: policy)
        if order.spare { slots[order.slot].spare = id } else { slots[order.slot].current = id }
        counters.started()
        if samplesMemory && nextMemorySample == nil { nextMemorySample = now + config.memoryInterval }
    }

    /// A worker that could not start counts as a death at once: the slot backs off.
    public func spawnFailed(_ order: SpawnOrder, error: String, now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        counters.failedToStart()
        if order.spare {
            slots[order.slot].spareRefusedFor = slots[order.slot].current
            return [.log("worker \(order.slot)'s warm replacement cannot start: \(error) (the worker is recycled without one)")]
        }
        let delay = slots[order.slot].backoff.delay(afterExitWith: .zero, workerAtFault: true, using: &random)
        slots[order.slot].restartAt = now + max(delay, config.backoffMin)
        slots[order.slot].lastExit = "cannot start: \(error)"
        let wait = Values.formatElapsed(max(delay, config.backoffMin))
        return [.log("worker \(order.slot) cannot start: \(error) (retrying in \(wait))")]
    }

    public func handle(_ id: UInt64, _ event: WorkerEvent, now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        guard let worker = workers[id] else { return [] }
        let before = worker.jobsDone
        let jobStarted = worker.jobStarted
        let actions = worker.handle(event, now: now, policy: policy)
        switch event {
        case .assigned(let job), .assignedAhead(let job): if let waited = job.waited { counters.handedOut(waited: waited) }
        default: break
        }
        if worker.jobsDone > before {
            jobRate.record(worker.jobsDone - before, now: now)
            // A job got through: the pool can run jobs, so the deaths before were the jobs' fault.
            for index in slots.indices { slots[index].jobDeaths = 0 }
            // Poll mode counts every answer; feed mode the answers about a job in hand (below).
            switch event {
            case .message(let message) where !policy.feedsJobs, .finalMessage(let message) where !policy.feedsJobs:
                counters.answered(message, duration: nil)
            default: break
            }
        }
        var commands: [PoolCommand] = []
        for action in actions {
            switch action {
            case .signal(let signal): commands.append(.signal(worker: id, pid: worker.pid, signal: signal))
            case .closeInput: commands.append(.closeInput(worker: id))
            case .probeInput: commands.append(.probeInput(worker: id, pid: worker.pid))
            case .replace:
                if slots[worker.slot].current == id {
                    slots[worker.slot].current = nil
                    promoteSpare(of: worker.slot)
                }
            case .finished(let job, let message):
                // A job written ahead begins in the same event as its answer: its own start.
                let started = actions.contains(.began(job)) ? worker.jobStarted : jobStarted
                counters.answered(message, duration: started.map { now - $0 })
                commands.append(.finish(job, outcome(of: job, message, using: &random)))
            case .began(let job): commands.append(.began(job, worker: id))
            case .givenBack(let job): commands.append(.giveBack(job))
            case .log(let message): commands.append(.log(message))
            }
        }
        if case .exited = event { commands += exited(worker, now: now, using: &random) }
        return commands
    }

    /// Delivers `.timeout` to every worker whose deadline has passed, ends back-offs that
    /// are over, and takes a memory sample when one is due (`sample` measures a worker's tree
    /// and its own process).
    public func expire(now: Moment, using random: inout some RandomNumberGenerator, sample: (Worker) -> (tree: UInt64, own: UInt64)?) -> [PoolCommand] {
        var commands: [PoolCommand] = []
        var due: [UInt64] = []
        for (id, worker) in workers { if let deadline = worker.nextDeadline, deadline <= now { due.append(id) } }
        for id in due.sorted() { commands += handle(id, .timeout, now: now, using: &random) }
        for index in slots.indices {
            if let restartAt = slots[index].restartAt, restartAt <= now { slots[index].restartAt = nil }
        }
        if let due = nextMemorySample, due <= now {
            nextMemorySample = workers.isEmpty ? nil : now + config.memoryInterval
            for (id, worker) in workers.sorted(by: { $0.key < $1.key }) where worker.isAlive {
                if let bytes = sample(worker) { commands += handle(id, .memory(bytes.tree, own: bytes.own), now: now, using: &random) }
            }
        }
        return commands
    }

    public var nextDeadline: Moment? {
        var earliest = nextMemorySample
        // A lifetime nearing its end: the spare starts ahead of it.
        if mayBootSpare {
            for slot in slots {
                guard let id = slot.current, slot.spareRefusedFor != id, let worker = workers[id], !worker.isLeaving,
                      let end = worker.lifetimeDeadline, let lead = Self.spareLead(worker) else { continue }
                earliest = earlier(earliest, end + (.zero - lead))
            }
        }
        for worker in workers.values { earliest = earlier(earliest, worker.nextDeadline) }
        for slot in slots { earliest = earlier(earliest, slot.restartAt) }
        return earliest
    }

    // MARK: - deaths

    private func exited(_ worker: Worker, now: Moment, using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        workers[worker.id] = nil
        counters.exited(worker)
        // A worker that dies with a job in hand has not finished it: at least once means again,
        // after its retry delay, so that a job that kills its worker does not come straight back.
        var lost: [PoolCommand] = []
        var held = ""
        if let job = worker.job {
            let why = worker.jobTimedOut
                ? "it ran over job_timeout (\(config.jobTimeout.map(Values.formatDuration) ?? "none")) and its worker was killed"
                : "its worker exited (\(worker.exitStatus?.description ?? "unknown")) while running it"
            let delay = retryDelay(after: job.attempts, using: &random)
            lost.append(.finish(job, .retry(id: job.id, error: why, delay: delay, maxAttempts: config.maxAttempts)))
            let limit = job.maxAttempts ?? config.maxAttempts
            let fate = job.attempts >= limit ? "no attempt left: dead" : "back in \(Values.formatElapsed(delay))"
            held = ", holding job \(job.id) (attempt \(job.attempts) of \(limit): \(fate))"
        }
        if isSpare(worker) {
            slots[worker.slot].spare = nil
            slots[worker.slot].spareRefusedFor = slots[worker.slot].current
            let status = worker.exitStatus ?? .exited(-1)
            if stopping || paused || worker.retireReason != nil { return lost + [.log("worker \(worker.slot)'s warm replacement (pid \(worker.pid)) stopped: \(status)")] }
            return lost + [.log("worker \(worker.slot)'s warm replacement (pid \(worker.pid)) died before it was needed: \(status); the worker is recycled without one")]
        }
        return lost + scheduleRestart(after: worker, holding: held, now: now, using: &random)
    }

    /// Records how the slot's worker ended (LAST EXIT), decides when the slot starts the next
    /// one (at once, or after a back-off when the death blames the worker), and says so.
    private func scheduleRestart(after worker: Worker, holding held: String, now: Moment,
                                 using random: inout some RandomNumberGenerator) -> [PoolCommand] {
        let ending = worker.ending
        let status = ending.status
        let uptime = now - worker.started
        let summary = "after \(Values.formatElapsed(uptime)), \(worker.jobsDone) job\(worker.jobsDone == 1 ? "" : "s")\(held)"
        let who = "worker \(worker.slot) (pid \(worker.pid))"

        defer { dropEmptySlots() }
        if worker.slot < slots.count { slots[worker.slot].lastExit = ending.lastExit }
        guard worker.slot < slots.count, slots[worker.slot].current == worker.id else {
            // Already replaced: a recycle finishing, or a worker stopped by a shutdown.
            if worker.retireReason == .shutdown || stopping { return [.log("\(who) stopped: \(status) \(summary)")] }
            return [.log("\(who) finished recycling: \(status) \(summary)")]
        }
        slots[worker.slot].current = nil
        if stopping || paused || worker.slot >= desiredWorkers {
            return [.log("\(who) stopped: \(status) \(summary)")]
        }

        if ending.diedHoldingNewJob { slots[worker.slot].jobDeaths += 1 }
        let jobDeaths = slots[worker.slot].jobDeaths
        let atFault = ending.blamesWorker(jobDeaths: jobDeaths)
        let delay = slots[worker.slot].backoff.delay(afterExitWith: uptime, workerAtFault: atFault, using: &random)
        if delay > .zero { slots[worker.slot].restartAt = now + delay }
        let next = delay > .zero ? "restarting in \(Values.formatElapsed(delay))" : "restarting now"
        if !ending.wasPlanned { slots[worker.slot].restarts += 1 }
        let failures = slots[worker.slot].backoff.failures
        let streak = atFault && !ending.blamesWorker
            ? " (\(jobDeaths) deaths in a row holding a new job, and no job done since: the worker is blamed, as for a broken deploy)"
            : failures > 1 ? " (\(failures) quick deaths in a row)" : ""

        return [.log(ending.restartLine(who: who, summary: summary, next: next, streak: streak))]
    }
}
