import Glibc

/// One worker process: its counters, limits and state machine. Pure: events in, actions out,
/// no system calls, so every transition is tested without processes. (A class, so that the
/// pool updates it in place: the loop handles an event per job.)
public final class Worker {
    public let id: UInt64
    public let slot: Int
    public let pid: pid_t
    public let started: Moment
    public let jobLimit: Int?
    public let lifetimeLimit: Duration?

    public private(set) var state: WorkerState = .starting
    public private(set) var jobsDone = 0
    public private(set) var retireReason: RetireReason?
    /// The tree RSS that triggered memory_kill, if that is how it ended.
    public private(set) var killedForMemory: UInt64?
    public private(set) var exitStatus: ExitStatus?
    public private(set) var residentBytes: UInt64?
    /// What the tree's other members (children, orphans of its session) held at the last full sample.
    private var othersBytes: UInt64 = 0
    /// When it left `starting`: its boot time, which its warm replacement will likely take too.
    public private(set) var readyAt: Moment?
    /// Feed mode: when it was handed its first job, from which its pace counts (a warm
    /// replacement waits idle between `ready` and its first job).
    private var firstJobAt: Moment?
    /// The first memory figure and the jobs done then: its growth per job since.
    private var memoryBaseline: (bytes: UInt64, jobs: Int)?
    public private(set) var statusText: String?
    public private(set) var invalidLines = 0
    public private(set) var stageDeadline: Moment?
    /// Feed mode: the job in hand, and when it times out.
    public private(set) var job: ReservedJob?
    public private(set) var jobStarted: Moment?
    public private(set) var jobDeadline: Moment?
    /// Set when the job in hand outlived job_timeout and the worker was killed for it.
    public private(set) var jobTimedOut = false
    /// Feed mode, prefetch: the job written to its stdin behind the one in hand, not begun.
    public private(set) var ahead: ReservedJob?
    /// Feed mode: when a worker that closed fd 3 is stopped, unless it has exited by then.
    public private(set) var controlClosedDeadline: Moment?
    /// Feed mode, while starting: when to look next whether it waits on its stdin.
    public private(set) var probeDeadline: Moment?
    /// Whether it has been said that this worker prints outcomes instead of writing them to fd 3.
    public private(set) var toldOfPrintedOutcome = false
    private var ladder = StopLadder([])

    /// Invalid lines on fd 3 after which a worker is stopped as broken (and the first ones logged).
    public static let invalidLineLimit = 3

    public init(id: UInt64, slot: Int, pid: pid_t, started: Moment, jobLimit: Int?, lifetimeLimit: Duration?, policy: WorkerPolicy) {
        self.id = id
        self.slot = slot
        self.pid = pid
        self.started = started
        self.jobLimit = jobLimit
        self.lifetimeLimit = lifetimeLimit
        stageDeadline = started + policy.startGrace
        if policy.feedsJobs { probeDeadline = started + policy.inputProbeInterval }
    }

    public var isAlive: Bool { state != .exited && state != .backoff }
    public var isLeaving: Bool { state == .draining || state == .stopping }
    public var lifetimeDeadline: Moment? { lifetimeLimit.map { started + $0 } }

    /// The earliest moment at which this worker wants a `.timeout`.
    public var nextDeadline: Moment? {
        let lifetime = isLeaving || !isAlive ? nil : lifetimeDeadline
        let timeout = isAlive && !jobTimedOut ? jobDeadline : nil
        let controlClosed = isAlive && !isLeaving ? controlClosedDeadline : nil
        let probe = state == .starting ? probeDeadline : nil
        // No array: asked of every worker on every turn of the loop, a turn a job when feeding.
        return earlier(earlier(earlier(stageDeadline, lifetime), earlier(timeout, controlClosed)), probe)
    }

    /// Feed mode: ready for a job (alive, not leaving, holding none).
    public var isIdle: Bool { state == .ready && job == nil && ahead == nil }

    /// Feed mode, prefetch: running a job with none written behind it, and with room under its
    /// job limit for one more (a job is never written past the drawn limit).
    public var wantsAhead: Bool {
        state == .busy && job != nil && ahead == nil && (jobLimit.map { jobsDone + 2 <= $0 } ?? true)
    }

    /// Jobs left before the limit (nil: no limit).
    public var jobsRemaining: Int? { jobLimit.map { max(0, $0 - jobsDone) } }

    /// How long it took to boot (until `ready`), once it has.
    public var bootDuration: Duration? { readyAt.map { $0 - started } }

    /// How long until it is likely recycled: its jobs left at its pace since its first job, its
    /// lifetime left, or the jobs until memory_limit at its growth per job so far (nil: no end
    /// in sight).
    public func timeToRecycle(now: Moment, memoryLimit: UInt64?) -> Duration? {
        var left = lifetimeDeadline.map { $0 - now }
        // Its pace counts only against a job or memory limit: asked on every loop turn, a turn a
        // job when feeding, a worker with neither skips the division.
        guard jobLimit != nil || memoryLimit != nil, let since = firstJobAt ?? readyAt, jobsDone > 0, now > since else { return left }
        let perJob = (now - since) / jobsDone
        if let remaining = jobsRemaining { left = min(left ?? perJob * remaining, perJob * remaining) }
        if let memoryLimit, let baseline = memoryBaseline, let bytes = residentBytes, bytes > baseline.bytes, jobsDone > baseline.jobs {
            let growth = (bytes - baseline.bytes) / UInt64(jobsDone - baseline.jobs)
            let jobs = bytes >= memoryLimit ? 0 : Int(min((memoryLimit - bytes) / max(growth, 1), UInt64(Int32.max)))
            left = min(left ?? perJob * jobs, perJob * jobs)
        }
        return left
    }

    public func handle(_ event: WorkerEvent, now: Moment, policy: WorkerPolicy) -> [WorkerAction] {
        switch (state, event) {
        case (.exited, _), (.backoff, _):
            return []

        case (_, .printedOutcome(let word)):
            // Once per worker, and only with a job in hand: then it is most likely its answer.
            guard job != nil, !toldOfPrintedOutcome else { return [] }
            toldOfPrintedOutcome = true
            return [.log("worker \(slot) (pid \(pid)) printed '\(word)' on stdout or stderr; outcomes go to fd 3 ($SOLO_FD)")]

        case (_, .exited(let status)):
            state = .exited
            exitStatus = status
            stageDeadline = nil
            // A job written ahead of one it held never began; one written ahead of an answered
            // job may have (its outcome is what counts; it is retried as any job in hand).
            guard let next = ahead else { return [] }
            if job == nil { return beginAhead(now: now, policy: policy) }
            ahead = nil
            return [.givenBack(next)]

        case (_, .finalMessage(let message)):
            if case .status(let text) = message { statusText = text }
            guard message.isOutcome else { return [] }
            jobsDone += 1
            let began = job == nil ? beginAhead(now: now, policy: policy) : []
            guard let held = job else { return [] }
            job = nil
            jobDeadline = nil
            return began + [.finished(held, message)]

        case (.ready, .assigned(let next)):
            job = next
            jobStarted = now
            if firstJobAt == nil { firstJobAt = now }
            state = .busy
            jobDeadline = policy.jobTimeout.map { now + $0 }
            return []

        case (.busy, .assignedAhead(let next)):
            precondition(job != nil && ahead == nil, "a job was written ahead to worker \(slot) (pid \(pid)) with \(job == nil ? "none" : "one") in hand")
            ahead = next
            return []

        case (.starting, .assignedAhead), (.ready, .assignedAhead), (.draining, .assignedAhead), (.stopping, .assignedAhead):
            preconditionFailure("a job was written ahead to worker \(slot) (pid \(pid)) in state \(state)")

        case (_, .aheadBegun):
            guard job == nil else { return [] }
            return beginAhead(now: now, policy: policy)

        case (_, .aheadTakenBack), (_, .aheadHandedOver):
            guard let next = ahead else { return [] }
            ahead = nil
            if job == nil && state == .busy { state = .ready }
            if case .aheadHandedOver = event { return [] }
            return [.givenBack(next)]

        case (_, .jobTakenBack):
            guard let held = job else { return [] }
            job = nil
            jobDeadline = nil
            return [.givenBack(held)]

        case (.starting, .waitingForInput):
            becomeReady(now: now)
            return []

        case (.ready, .waitingForInput), (.busy, .waitingForInput), (.draining, .waitingForInput), (.stopping, .waitingForInput):
            return []

        case (.starting, .assigned), (.busy, .assigned), (.draining, .assigned), (.stopping, .assigned):
            preconditionFailure("a job was given to worker \(slot) (pid \(pid)) in state \(state)")

        case (.starting, .message(let message)), (.ready, .message(let message)), (.busy, .message(let message)),
             (.draining, .message(let message)), (.stopping, .message(let message)):
            return receive(message, now: now, policy: policy)

        case (.starting, .memory(let bytes, let own)), (.ready, .memory(let bytes, let own)), (.busy, .memory(let bytes, let own)),
             (.draining, .memory(let bytes, let own)), (.stopping, .memory(let bytes, let own)):
            othersBytes = bytes > own ? bytes - own : 0
            return measured(bytes, now: now, policy: policy)

        case (.starting, .ownMemory(let own)), (.ready, .ownMemory(let own)), (.busy, .ownMemory(let own)),
             (.draining, .ownMemory(let own)), (.stopping, .ownMemory(let own)):
            return measured(own + othersBytes, now: now, policy: policy)

        case (.starting, .timeout), (.ready, .timeout), (.busy, .timeout):
            if let timedOut = timeOutJob(now: now, policy: policy) { return timedOut }
            if let deadline = controlClosedDeadline, now >= deadline {
                controlClosedDeadline = nil
                return retire(.protocolError("it closed fd 3, so it can report no job"), replace: false, now: now, policy: policy)
            }
            if let lifetime = lifetimeLimit, let deadline = lifetimeDeadline, now >= deadline {
                return retire(.lifetime(age: now - started, limit: lifetime), replace: true, now: now, policy: policy)
            }
            if state == .starting, let deadline = stageDeadline, now >= deadline {
                becomeReady(now: now)
                return []
            }
            if state == .starting, let probe = probeDeadline, now >= probe {
                probeDeadline = now + policy.inputProbeInterval
                return [.probeInput]
            }
            return []

        case (.draining, .timeout), (.stopping, .timeout):
            if let timedOut = timeOutJob(now: now, policy: policy) { return timedOut }
            guard let deadline = stageDeadline, now >= deadline else { return [] }
            return climbLadder(now: now)

        case (.starting, .retire(let reason)), (.ready, .retire(let reason)), (.busy, .retire(let reason)):
            return retire(reason, replace: reason.startsReplacement, now: now, policy: policy)

        case (.draining, .retire), (.stopping, .retire):
            return []

        case (.starting, .brokeProtocol(let why)), (.ready, .brokeProtocol(let why)), (.busy, .brokeProtocol(let why)):
            return retire(.protocolError(why), replace: false, now: now, policy: policy)

        case (.draining, .brokeProtocol), (.stopping, .brokeProtocol):
            return []

        case (.starting, .controlClosed), (.ready, .controlClosed), (.busy, .controlClosed):
            if policy.feedsJobs { controlClosedDeadline = now + policy.startGrace }
            return []

        case (.draining, .controlClosed), (.stopping, .controlClosed):
            return []

        case (.starting, .kill), (.ready, .kill), (.busy, .kill), (.draining, .kill), (.stopping, .kill):
            if ladder.killSent { return [] }
            if retireReason == nil { retireReason = .shutdown }
            return start(policy.killLadder, now: now)
        }
    }

    private func receive(_ message: WorkerMessage, now: Moment, policy: WorkerPolicy) -> [WorkerAction] {
        switch message {
        case .ready:
            if state == .starting { becomeReady(now: now) }
            return []
        case .status(let text):
            statusText = text
            return []
        case .invalid(let line):
            invalidLines += 1
            guard invalidLines <= Self.invalidLineLimit else { return [] }
            let shown = line.count > 120 ? String(line.prefix(120)) + "..." : line
            let log = WorkerAction.log("worker \(slot) (pid \(pid)) wrote an invalid line on fd 3: \(quoted(shown)); expected ok, fail, retry, ready or status")
            guard invalidLines == Self.invalidLineLimit, !isLeaving else { return [log] }
            return [log] + retire(.protocolError("\(invalidLines) invalid lines on fd 3"), replace: false, now: now, policy: policy)
        case .ok, .fail, .retry:
            var actions: [WorkerAction] = []
            if policy.feedsJobs {
                if job == nil { actions += beginAhead(now: now, policy: policy) }
                guard let held = job else {
                    return receive(.invalid("\(message.verb) while holding no job"), now: now, policy: policy)
                }
                job = nil
                jobDeadline = nil
                actions.append(.finished(held, message))
            }
            jobsDone += 1
            if state == .starting { becomeReady(now: now) }
            // With a job written ahead it stays busy until that one begins or is taken back.
            if state == .busy && ahead == nil { state = .ready }
            if let jobLimit, jobsDone >= jobLimit, !isLeaving {
                actions += retire(.jobs(done: jobsDone, limit: jobLimit), replace: true, now: now, policy: policy)
            }
            return actions
        }
    }

    /// The tree's memory against the limits: memory_kill acts at once, even while the worker
    /// leaves; memory_limit retires a worker that is not leaving yet.
    private func measured(_ bytes: UInt64, now: Moment, policy: WorkerPolicy) -> [WorkerAction] {
        residentBytes = bytes
        if memoryBaseline == nil { memoryBaseline = (bytes, jobsDone) }
        if let kill = policy.memoryKill, bytes >= kill, !ladder.killSent { return killForMemory(bytes, kill, now: now, policy: policy) }
        if let limit = policy.memoryLimit, bytes >= limit, !isLeaving {
            return retire(.memory(bytes: bytes, limit: limit), replace: true, now: now, policy: policy)
        }
        return []
    }

    /// The job written ahead becomes the one in hand: its clock starts now.
    private func beginAhead(now: Moment, policy: WorkerPolicy) -> [WorkerAction] {
        guard let next = ahead else { return [] }
        ahead = nil
        job = next
        jobStarted = now
        jobDeadline = policy.jobTimeout.map { now + $0 }
        if state == .ready { state = .busy }
        return [.began(next)]
    }

    private func becomeReady(now: Moment) {
        readyAt = now
        state = .ready
        stageDeadline = nil
        probeDeadline = nil
    }

    /// Kills a worker whose job has outlived job_timeout; the job is retried when it exits.
    private func timeOutJob(now: Moment, policy: WorkerPolicy) -> [WorkerAction]? {
        guard let held = job, let deadline = jobDeadline, now >= deadline, !jobTimedOut, let limit = policy.jobTimeout else { return nil }
        jobTimedOut = true
        if retireReason == nil { retireReason = .jobTimedOut }
        let log = WorkerAction.log("worker \(slot) (pid \(pid)) has run job \(held.id) for over job_timeout \(Values.formatDuration(limit)); killing it")
        return [log] + start(policy.killLadder, now: now)
    }

    private func retire(_ reason: RetireReason, replace: Bool, now: Moment, policy: WorkerPolicy) -> [WorkerAction] {
        retireReason = reason
        var actions: [WorkerAction] = []
        if reason != .shutdown {
            let verb = replace ? "recycling" : "stopping"
            actions.append(.log("\(verb) worker \(slot) (pid \(pid)): \(reason)"))
        }
        if replace { actions.append(.replace) }
        return actions + start(policy.gracefulLadder, now: now)
    }

    private func killForMemory(_ bytes: UInt64, _ kill: UInt64, now: Moment, policy: WorkerPolicy) -> [WorkerAction] {
        killedForMemory = bytes
        let log = WorkerAction.log("killing worker \(slot) (pid \(pid)): memory \(Values.formatSize(bytes)) over memory_kill \(Values.formatSize(kill))")
        return [log] + start(policy.killLadder, now: now)
    }

    private func start(_ steps: [StopStep], now: Moment) -> [WorkerAction] {
        // Leaving already: a closed fd 3 no longer needs a verdict (its deadline would be due
        // for ever, and the loop would spin on it).
        controlClosedDeadline = nil
        ladder = StopLadder(steps)
        return climbLadder(now: now)
    }

    /// Takes the next step of the stop ladder.
    private func climbLadder(now: Moment) -> [WorkerAction] {
        guard let step = ladder.climb(now: now) else {
            stageDeadline = nil
            return [.log("worker \(slot) (pid \(pid)) is still alive after SIGKILL (stuck in the kernel?); waiting for it")]
        }
        state = step.state
        stageDeadline = ladder.deadline
        switch step.action {
        case .closeInput: return [.closeInput]
        case .signal(let signal): return [.signal(signal)]
        }
    }
}
