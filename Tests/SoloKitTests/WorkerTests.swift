import Glibc
import Testing
@testable import SoloKit

/// The worker state machine, event by event, without processes.
@Suite struct WorkerTests {
    let t0 = Moment(nanoseconds: 1_000_000_000_000)

    func policy(_ configure: (inout PoolConfig) -> Void = { _ in }) -> WorkerPolicy {
        var pool = PoolConfig(name: "p", file: "f", line: 1)
        pool.stopTimeout = .seconds(30)
        configure(&pool)
        return WorkerPolicy(pool: pool)
    }

    func worker(jobLimit: Int? = 3, lifetime: Duration? = nil) -> Worker {
        Worker(id: 1, slot: 0, pid: 4242, started: t0, jobLimit: jobLimit, lifetimeLimit: lifetime, policy: policy())
    }

    @Test func becomesReadyOnItsLineOrAfterTheGrace() {
        let w = worker()
        #expect(w.state == .starting)
        _ = w.handle(.message(.ready), now: t0, policy: policy())
        #expect(w.state == .ready)

        let quiet = worker()
        _ = quiet.handle(.timeout, now: t0 + .milliseconds(500), policy: policy())
        #expect(quiet.state == .starting)
        _ = quiet.handle(.timeout, now: t0 + .seconds(1), policy: policy())
        #expect(quiet.state == .ready)
    }

    @Test func aQuietFeedWorkerIsReadyOnceSeenWaitingOnItsStdin() {
        let fed = policy { $0.queue = .sqlite(path: "/tmp/q.db") }
        let w = Worker(id: 1, slot: 0, pid: 4242, started: t0, jobLimit: nil, lifetimeLimit: nil, policy: fed)
        #expect(w.nextDeadline == t0 + .milliseconds(5))
        #expect(w.handle(.timeout, now: t0 + .milliseconds(5), policy: fed) == [.probeInput])
        #expect(w.state == .starting && w.nextDeadline == t0 + .milliseconds(10))
        #expect(w.handle(.waitingForInput, now: t0 + .milliseconds(7), policy: fed).isEmpty)
        #expect(w.state == .ready && w.nextDeadline == nil)
        // Poll mode gives no job, so there is nothing to look for.
        #expect(worker().nextDeadline == t0 + .seconds(1))
    }

    @Test func readsTheSystemCallAProcessSleepsIn() {
        #expect(ProcFS.parseSyscall("0 0x0 0x55fa4b000e70 0x2000 0x7f97e007da58 0x0 0x0 0x7fff92cc1b28 0x7f97e03162ad\n")! == (0, 0))
        #expect(ProcFS.parseSyscall("7 0x7ffd2a 0x1 0xffffffff 0x0 0x0 0x0 0x7ffd 0x7f1\n")! == (7, 0x7ffd2a))
        #expect(ProcFS.parseSyscall("running\n") == nil)
        #expect(ProcFS.parseSyscall("-1 0x7ffd 0x7f\n")! == (-1, 0x7ffd))
    }

    @Test func recyclesAtItsJobLimitWithAReplacementAndTheStopLadder() {
        let w = worker(jobLimit: 3)
        #expect(w.handle(.message(.ok(nil)), now: t0, policy: policy()).isEmpty)
        #expect(w.handle(.message(.fail("x")), now: t0, policy: policy()).isEmpty)
        let actions = w.handle(.message(.retry(nil)), now: t0 + .seconds(2), policy: policy())
        #expect(actions == [.log("recycling worker 0 (pid 4242): 3 jobs done (limit 3)"), .replace, .signal(SIGTERM)])
        #expect(w.state == .draining && w.jobsDone == 3)
        #expect(w.retireReason == .jobs(done: 3, limit: 3))
        #expect(w.stageDeadline == t0 + .seconds(32))
        // Further outcomes while draining are counted, but start nothing new.
        #expect(w.handle(.message(.ok(nil)), now: t0 + .seconds(3), policy: policy()).isEmpty)
        #expect(w.handle(.timeout, now: t0 + .seconds(10), policy: policy()).isEmpty, "not due yet")
        #expect(w.handle(.timeout, now: t0 + .seconds(32), policy: policy()) == [.signal(SIGKILL)])
        #expect(w.state == .stopping)
        _ = w.handle(.exited(.signaled(SIGKILL)), now: t0 + .seconds(32), policy: policy())
        #expect(w.state == .exited && w.ending.wasPlanned)
        #expect(w.ending.lastExit == "recycled: jobs (signal KILL)")
    }

    @Test func memoryLimitIsGracefulAndMemoryKillIsNot() {
        let limits = policy { $0.memoryLimit = 100; $0.memoryKill = 200 }
        let soft = worker()
        #expect(soft.handle(.memory(99, own: 99), now: t0, policy: limits).isEmpty)
        let recycle = soft.handle(.memory(150, own: 150), now: t0, policy: limits)
        #expect(recycle.contains(.replace) && recycle.contains(.signal(SIGTERM)))
        #expect(soft.retireReason == .memory(bytes: 150, limit: 100))
        // A draining worker that keeps growing is killed at the hard limit.
        #expect(soft.handle(.memory(250, own: 250), now: t0, policy: limits).contains(.signal(SIGKILL)))
        _ = soft.handle(.exited(.signaled(SIGKILL)), now: t0, policy: limits)
        #expect(soft.ending.lastExit == "killed: memory_kill (signal KILL)")
        let recycled = worker()
        _ = recycled.handle(.memory(150, own: 150), now: t0, policy: limits)
        _ = recycled.handle(.exited(.exited(0)), now: t0, policy: limits)
        #expect(recycled.ending.lastExit == "recycled: memory (exit status 0)", "not the exit status alone")

        let hard = worker()
        let kill = hard.handle(.memory(300, own: 300), now: t0, policy: limits)
        #expect(kill.contains(.signal(SIGKILL)) && !kill.contains(.replace))
        #expect(hard.killedForMemory == 300)
        _ = hard.handle(.exited(.signaled(SIGKILL)), now: t0, policy: limits)
        #expect(!hard.ending.wasPlanned && hard.ending.blamesWorker, "a memory kill before any job counts toward back-off")
    }

    @Test func memoryIsCheckedAfterEveryOutcomeWithTheTreeOfTheLastSample() {
        let limits = policy { $0.memoryLimit = 100; $0.memoryKill = 200 }
        let w = worker(jobLimit: nil)
        // The full sample: 60 in all, 20 of them the worker's children.
        #expect(w.handle(.memory(60, own: 40), now: t0, policy: limits).isEmpty)
        #expect(w.handle(.ownMemory(79), now: t0, policy: limits).isEmpty)
        #expect(w.residentBytes == 99)
        // One job later its own memory, with the children as last seen, is over the limit.
        let recycle = w.handle(.ownMemory(85), now: t0, policy: limits)
        #expect(recycle.contains(.replace) && recycle.contains(.signal(SIGTERM)))
        #expect(w.retireReason == .memory(bytes: 105, limit: 100))
        // Leaving: only memory_kill still acts.
        #expect(w.handle(.ownMemory(150), now: t0, policy: limits).isEmpty)
        #expect(w.handle(.ownMemory(185), now: t0, policy: limits) == [.log("killing worker 0 (pid 4242): memory 205 over memory_kill 200"), .signal(SIGKILL)])
    }

    @Test func lifetimeRecycles() {
        let w = worker(jobLimit: nil, lifetime: .seconds(60))
        _ = w.handle(.message(.ready), now: t0, policy: policy())
        #expect(w.nextDeadline == t0 + .seconds(60))
        let actions = w.handle(.timeout, now: t0 + .seconds(60), policy: policy())
        #expect(actions.contains(.replace) && actions.contains(.signal(SIGTERM)))
        #expect(w.retireReason == .lifetime(age: .seconds(60), limit: .seconds(60)))
    }

    @Test func shutdownHasNoReplacementAndKillIsOnce() {
        let w = worker()
        #expect(w.handle(.retire(.shutdown), now: t0, policy: policy()) == [.signal(SIGTERM)])
        #expect(w.handle(.retire(.shutdown), now: t0, policy: policy()).isEmpty)
        #expect(w.handle(.kill, now: t0, policy: policy()) == [.signal(SIGKILL)])
        #expect(w.handle(.kill, now: t0, policy: policy()).isEmpty)
    }

    @Test func stopSignalKillSkipsStraightToKill() {
        let p = policy { $0.stopSignal = SIGKILL }
        let w = worker()
        #expect(w.handle(.retire(.restart), now: t0, policy: p) == [.log("recycling worker 0 (pid 4242): restart requested"), .replace, .signal(SIGKILL)])
    }

    @Test func aWorkerThatWritesInvalidLinesIsStoppedAsBroken() {
        let w = worker()
        var actions: [WorkerAction] = []
        for _ in 0..<10 { actions += w.handle(.message(.invalid("garbage")), now: t0, policy: policy()) }
        #expect(actions.filter { if case .log(let line) = $0 { line.contains("wrote an invalid line") } else { false } }.count == 3, "three logged")
        #expect(actions.contains(.log("stopping worker 0 (pid 4242): broke the fd 3 protocol: 3 invalid lines on fd 3")))
        #expect(!actions.contains(.replace), "no replacement while it leaves: its slot backs off")
        #expect(w.invalidLines == 10 && w.jobsDone == 0 && w.isLeaving)
        _ = w.handle(.exited(.exited(0)), now: t0, policy: policy())
        #expect(!w.ending.wasPlanned && w.ending.blamesWorker, "counted as a failure, so a worker that is broken from the start backs off")
        #expect(w.ending.lastExit == "stopped: broke the fd 3 protocol: 3 invalid lines on fd 3 (exit status 0)")
    }

    @Test func aLineOverTheLimitStopsTheWorkerAtOnce() {
        let w = worker()
        let actions = w.handle(.brokeProtocol("it wrote a line over 64K on fd 3"), now: t0, policy: policy())
        #expect(actions.first == .log("stopping worker 0 (pid 4242): broke the fd 3 protocol: it wrote a line over 64K on fd 3"))
        #expect(w.isLeaving && w.retireReason == .protocolError("it wrote a line over 64K on fd 3"))
        #expect(w.handle(.brokeProtocol("again"), now: t0, policy: policy()).isEmpty, "once is enough")
    }

    @Test func linesReadAfterTheExitAreCountedButStartNothing() {
        let w = worker(jobLimit: 2)
        _ = w.handle(.message(.ok(nil)), now: t0, policy: policy())
        #expect(w.handle(.finalMessage(.ok(nil)), now: t0, policy: policy()).isEmpty, "no recycle, no signal to a reaped pid")
        _ = w.handle(.exited(.exited(0)), now: t0, policy: policy())
        #expect(w.jobsDone == 2 && w.ending.wasPlanned && w.retireReason == nil)
    }

    @Test func aLadderClimbsStepByStep() {
        var ladder = StopLadder(policy().gracefulLadder)
        #expect(ladder.climb(now: t0)?.action == .signal(SIGTERM))
        #expect(ladder.deadline == t0 + .seconds(30) && !ladder.killSent)
        #expect(ladder.climb(now: t0 + .seconds(30))?.action == .signal(SIGKILL))
        #expect(ladder.killSent && ladder.isExhausted)
        #expect(ladder.climb(now: t0 + .seconds(40)) == nil && ladder.deadline == nil)
    }

    @Test func anUnplannedExitIsACrash() {
        let w = worker(jobLimit: 10)
        _ = w.handle(.message(.ok(nil)), now: t0, policy: policy())
        _ = w.handle(.exited(.exited(1)), now: t0, policy: policy())
        #expect(!w.ending.wasPlanned && w.ending.lastExit == "crashed: exit status 1")
        #expect(!w.ending.blamesWorker, "it got through a job: not a broken start, so no back-off")
        #expect(w.handle(.message(.ok(nil)), now: t0, policy: policy()).isEmpty, "an exited worker ignores events")

        let selfRecycled = worker(jobLimit: 1)
        _ = selfRecycled.handle(.exited(.exited(0)), now: t0, policy: policy())
        #expect(!selfRecycled.ending.wasPlanned && selfRecycled.ending.blamesWorker)
        #expect(selfRecycled.ending.lastExit == "exited unasked: exit status 0")
    }
}

@Suite struct PoolTests {
    let t0 = Moment(nanoseconds: 1_000_000_000_000)

    func makePool(workers: Int = 2, _ configure: (inout PoolConfig) -> Void = { _ in }) -> Pool {
        var config = PoolConfig(name: "mailer", file: "f", line: 1)
        config.workers = workers
        config.maxJobs = 5...8
        configure(&config)
        return Pool(config: config)
    }

    /// Spawns every order, as the supervisor would; returns the worker ids.
    func spawnAll(_ pool: Pool, _ commands: [PoolCommand], now: Moment, nextID: inout UInt64) -> [UInt64] {
        var ids: [UInt64] = []
        for case .spawn(let order) in commands {
            pool.spawned(order, id: nextID, pid: pid_t(1000 + nextID), now: now)
            ids.append(nextID)
            nextID += 1
        }
        return ids
    }

    @Test func fillsEverySlotWithDistinctLimits() {
        var random = SplitMix64(state: 7)
        let pool = makePool(workers: 3)
        let orders = pool.reconcile(now: t0, using: &random)
        #expect(orders.count == 3)
        var id: UInt64 = 1
        _ = spawnAll(pool, orders, now: t0, nextID: &id)
        #expect(pool.reconcile(now: t0, using: &random).isEmpty, "nothing to do once full")
        for case .spawn(let order) in orders { #expect((5...8).contains(order.jobLimit!)) }
    }

    @Test func aRecycleStartsTheReplacementBeforeTheOldOneLeaves() {
        var random = SplitMix64(state: 8)
        let pool = makePool(workers: 1)
        var id: UInt64 = 1
        let first = spawnAll(pool, pool.reconcile(now: t0, using: &random), now: t0, nextID: &id)[0]
        let limit = pool.workers[first]!.jobLimit!
        var commands: [PoolCommand] = []
        for _ in 0..<limit { commands += pool.handle(first, .message(.ok(nil)), now: t0, using: &random) }
        #expect(commands.contains(.signal(worker: first, pid: 1001, signal: SIGTERM)))
        let replacement = pool.reconcile(now: t0, using: &random)
        #expect(replacement.count == 1, "the slot is free while the old worker drains")
        _ = spawnAll(pool, replacement, now: t0, nextID: &id)
        #expect(pool.workers.count == 2)
        let exit = pool.handle(first, .exited(.exited(0)), now: t0 + .seconds(1), using: &random)
        #expect(exit == [.log("worker 0 (pid 1001) finished recycling: exit status 0 after 1.0s, \(limit) jobs")])
        #expect(pool.workers.count == 1)
        #expect(pool.slots[0].restarts == 0)
    }

    @Test func crashesBackOffAndSayWhy() {
        var random = SplitMix64(state: 9)
        let pool = makePool(workers: 1)
        var id: UInt64 = 1
        var now = t0
        var logs: [String] = []
        for round in 0..<4 {
            let orders = pool.reconcile(now: now, using: &random)
            #expect(orders.count == 1, "round \(round)")
            let worker = spawnAll(pool, orders, now: now, nextID: &id)[0]
            for case .log(let line) in pool.handle(worker, .exited(.exited(3)), now: now + .milliseconds(10), using: &random) { logs.append(line) }
            now = pool.slots[0].restartAt ?? now
            _ = pool.expire(now: now, using: &random) { _ in nil }
        }
        #expect(logs[0].contains("died: exit status 3 after 10ms, 0 jobs; restarting now"))
        #expect(logs[1].contains("restarting in 1"), "\(logs[1])")
        #expect(logs[3].contains("(4 quick deaths in a row)"))
        #expect(pool.slots[0].restarts == 4)
        #expect(pool.slots[0].lastExit == "crashed: exit status 3")
    }

    @Test func spawnFailuresWaitAtLeastTheMinimum() {
        var random = SplitMix64(state: 10)
        let pool = makePool(workers: 1)
        guard case .spawn(let order) = pool.reconcile(now: t0, using: &random)[0] else { Issue.record("no order"); return }
        let logs = pool.spawnFailed(order, error: "cannot execute ./w: No such file or directory", now: t0, using: &random)
        #expect(logs == [.log("worker 0 cannot start: cannot execute ./w: No such file or directory (retrying in 100ms)")])
        #expect(pool.reconcile(now: t0, using: &random).isEmpty)
        #expect(pool.nextDeadline == t0 + .milliseconds(100))
        _ = pool.expire(now: t0 + .milliseconds(100), using: &random) { _ in nil }
        #expect(pool.reconcile(now: t0 + .milliseconds(100), using: &random).count == 1)
    }

    @Test func stoppingStopsEveryoneAndStartsNoOne() {
        var random = SplitMix64(state: 11)
        let pool = makePool(workers: 2)
        var id: UInt64 = 1
        let ids = spawnAll(pool, pool.reconcile(now: t0, using: &random), now: t0, nextID: &id)
        let commands = pool.stop(now: t0, using: &random)
        #expect(commands == ids.map { .signal(worker: $0, pid: pid_t(1000 + $0), signal: SIGTERM) })
        for worker in ids { _ = pool.handle(worker, .exited(.exited(0)), now: t0, using: &random) }
        #expect(pool.isIdle)
        #expect(pool.reconcile(now: t0, using: &random).isEmpty)
    }

    @Test func memoryIsSampledOnlyWhenLimited() {
        var random = SplitMix64(state: 12)
        let unlimited = makePool(workers: 1)
        var id: UInt64 = 1
        _ = spawnAll(unlimited, unlimited.reconcile(now: t0, using: &random), now: t0, nextID: &id)
        #expect(unlimited.nextMemorySample == nil)

        let limited = makePool(workers: 1) { $0.memoryKill = 1000; $0.memoryInterval = .milliseconds(250) }
        let worker = spawnAll(limited, limited.reconcile(now: t0, using: &random), now: t0, nextID: &id)[0]
        #expect(limited.nextMemorySample == t0 + .milliseconds(250))
        let commands = limited.expire(now: t0 + .milliseconds(250), using: &random) { _ in (5000, 5000) }
        #expect(commands.contains(.signal(worker: worker, pid: pid_t(1000 + worker), signal: SIGKILL)))
        #expect(limited.nextMemorySample == t0 + .milliseconds(500))
    }
}

/// Feed mode: one job at a time on stdin, its outcome on fd 3.
@Suite struct FeedWorkerTests {
    let t0 = Moment(nanoseconds: 1_000_000_000_000)
    let job = ReservedJob(id: 7, payload: "p", priority: 0, attempts: 1, maxAttempts: nil, group: nil)

    func feedPolicy(_ configure: (inout PoolConfig) -> Void = { _ in }) -> WorkerPolicy {
        var pool = PoolConfig(name: "p", file: "f", line: 1)
        pool.queue = .sqlite(path: "/tmp/q.db")
        pool.stopTimeout = .seconds(30)
        pool.jobTimeout = .seconds(60)
        configure(&pool)
        return WorkerPolicy(pool: pool)
    }

    func readyWorker(jobLimit: Int? = 3) -> Worker {
        let w = Worker(id: 1, slot: 0, pid: 4242, started: t0, jobLimit: jobLimit, lifetimeLimit: nil, policy: feedPolicy())
        _ = w.handle(.message(.ready), now: t0, policy: feedPolicy())
        return w
    }

    /// A feed pool "mailer" of one worker (id 1, pid 1001), started and ready at t0.
    func readyFeedPool(using random: inout SplitMix64, _ configure: (inout PoolConfig) -> Void = { _ in }) -> Pool {
        var config = PoolConfig(name: "mailer", file: "f", line: 1)
        config.queue = .sqlite(path: "/tmp/q.db")
        configure(&config)
        let pool = Pool(config: config)
        guard case .spawn(let order) = pool.reconcile(now: t0, using: &random).first else {
            Issue.record("no worker to start")
            return pool
        }
        pool.spawned(order, id: 1, pid: 1001, now: t0)
        _ = pool.handle(1, .message(.ready), now: t0, using: &random)
        return pool
    }

    @Test func holdsOneJobAndReportsItsOutcome() {
        let w = readyWorker()
        #expect(w.isIdle)
        _ = w.handle(.assigned(job), now: t0, policy: feedPolicy())
        #expect(w.state == .busy && !w.isIdle && w.jobDeadline == t0 + .seconds(60))
        #expect(w.handle(.message(.ok("r")), now: t0, policy: feedPolicy()) == [.finished(job, .ok("r"))])
        #expect(w.isIdle && w.jobsDone == 1)
    }

    @Test func anOutcomeWithoutAJobIsInvalid() {
        let w = readyWorker()
        let actions = w.handle(.message(.ok(nil)), now: t0, policy: feedPolicy())
        #expect(actions.count == 1 && w.jobsDone == 0 && w.invalidLines == 1)
        if case .log(let line) = actions.first { #expect(line.contains("ok while holding no job")) } else { Issue.record("no log") }
    }

    @Test func theLastJobEndsWithEOFOnStdin() {
        let w = readyWorker(jobLimit: 1)
        _ = w.handle(.assigned(job), now: t0, policy: feedPolicy())
        let actions = w.handle(.message(.ok(nil)), now: t0, policy: feedPolicy())
        #expect(actions == [.finished(job, .ok(nil)), .log("recycling worker 0 (pid 4242): 1 jobs done (limit 1)"), .replace, .closeInput])
        #expect(w.state == .draining)
        #expect(w.handle(.timeout, now: t0 + .seconds(30), policy: feedPolicy()) == [.signal(SIGTERM)])
        #expect(w.handle(.timeout, now: t0 + .seconds(60), policy: feedPolicy()) == [.signal(SIGKILL)])
    }

    @Test func aWorkerThatClosesFd3IsStoppedUnlessItIsDying() {
        let w = readyWorker()
        _ = w.handle(.assigned(job), now: t0, policy: feedPolicy())
        #expect(w.handle(.controlClosed, now: t0, policy: feedPolicy()).isEmpty)
        #expect(w.nextDeadline == t0 + .seconds(1), "a dying worker closes fd 3 first: it gets the start grace to exit")
        let actions = w.handle(.timeout, now: t0 + .seconds(1), policy: feedPolicy())
        #expect(actions == [.log("stopping worker 0 (pid 4242): broke the fd 3 protocol: it closed fd 3, so it can report no job"), .closeInput])

        let dying = readyWorker()
        _ = dying.handle(.controlClosed, now: t0, policy: feedPolicy())
        _ = dying.handle(.exited(.signaled(SIGSEGV)), now: t0 + .milliseconds(5), policy: feedPolicy())
        #expect(dying.retireReason == nil && !dying.ending.wasPlanned, "a crash, not a protocol error")

        let retired = readyWorker()
        _ = retired.handle(.controlClosed, now: t0, policy: feedPolicy())
        _ = retired.handle(.retire(.scaledDown), now: t0 + .milliseconds(10), policy: feedPolicy())
        #expect(retired.controlClosedDeadline == nil && retired.nextDeadline == t0 + .milliseconds(10) + .seconds(30),
                 "leaving for another reason: only its stop ladder's deadline is left, none already due")

        let polling = Worker(id: 2, slot: 0, pid: 4243, started: t0, jobLimit: nil, lifetimeLimit: nil, policy: WorkerPolicy(pool: PoolConfig(name: "p", file: "f", line: 1)))
        _ = polling.handle(.controlClosed, now: t0, policy: WorkerPolicy(pool: PoolConfig(name: "p", file: "f", line: 1)))
        #expect(polling.controlClosedDeadline == nil, "a worker that polls its own queue need not speak on fd 3")
    }

    @Test func aJobOverItsTimeoutKillsTheWorker() {
        let w = readyWorker()
        _ = w.handle(.assigned(job), now: t0, policy: feedPolicy())
        #expect(w.handle(.timeout, now: t0 + .seconds(59), policy: feedPolicy()).isEmpty)
        let actions = w.handle(.timeout, now: t0 + .seconds(60), policy: feedPolicy())
        #expect(actions.contains(.signal(SIGKILL)) && w.jobTimedOut)
        _ = w.handle(.exited(.signaled(SIGKILL)), now: t0 + .seconds(60), policy: feedPolicy())
        #expect(w.job == job, "the pool retries the job it held")
        #expect(w.ending.wasPlanned && !w.ending.blamesWorker, "no back-off for the slot: the job was slow, not the worker")
        #expect(w.ending.lastExit == "killed: job_timeout (signal KILL)")
        #expect(!w.ending.blamesWorker(jobDeaths: 100), "a job over its timeout never counts toward the streak")
    }

    @Test func deathsHoldingAJobBlameTheWorkerFromTheTenthInARow() {
        let w = readyWorker()
        _ = w.handle(.assigned(job), now: t0, policy: feedPolicy())
        _ = w.handle(.exited(.exited(1)), now: t0, policy: feedPolicy())
        #expect(w.ending.diedHoldingJob && !w.ending.blamesWorker)
        #expect(!w.ending.blamesWorker(jobDeaths: WorkerEnding.jobDeathsBlamingWorker - 1), "the job's fault")
        #expect(w.ending.blamesWorker(jobDeaths: WorkerEnding.jobDeathsBlamingWorker), "shown otherwise: no job gets through")
        let idle = readyWorker()
        _ = idle.handle(.assigned(job), now: t0, policy: feedPolicy())
        _ = idle.handle(.message(.ok(nil)), now: t0, policy: feedPolicy())
        _ = idle.handle(.exited(.exited(1)), now: t0, policy: feedPolicy())
        #expect(!idle.ending.diedHoldingJob && !idle.ending.blamesWorker(jobDeaths: 100), "it got through a job")
    }

    @Test func thePoolRetriesTheJobOfAWorkerThatDied() {
        var random = SplitMix64(state: 21)
        let pool = readyFeedPool(using: &random) {
            $0.workers = 1
            $0.retryDelay = .seconds(1)...(.seconds(8))
        }
        #expect(pool.idleWorkers == [1])
        let held = ReservedJob(id: 9, payload: "x", priority: 0, attempts: 3, maxAttempts: nil, group: nil)
        _ = pool.handle(1, .assigned(held), now: t0, using: &random)
        #expect(pool.idleWorkers.isEmpty)
        let commands = pool.handle(1, .exited(.exited(255)), now: t0 + .seconds(1), using: &random)
        guard case .finish(let job, .retry(_, let error, let delay, _)) = commands.first else { Issue.record("\(commands)"); return }
        #expect(job == held && error.contains("exited (exit status 255) while running it"))
        #expect(delay >= .milliseconds(3200) && delay <= .milliseconds(4800), "third attempt: 1s doubled twice, give or take a fifth")
        #expect(pool.retryDelay(after: 20, using: &random) <= .seconds(8) + .milliseconds(1600))
    }

    @Test func aWorkerThatDiesHoldingAJobRestartsAtOnceAndTheJobWaitsItsRetryDelay() {
        var random = SplitMix64(state: 25)
        let pool = readyFeedPool(using: &random) {
            $0.workers = 1
            $0.maxAttempts = 3
            $0.retryDelay = .seconds(1)...(.seconds(1))
            $0.backoffMin = .seconds(1)
        }
        var now = t0
        var id: UInt64 = 1
        // Three poison jobs in a row, each in the hands of a fresh worker: the jobs are blamed.
        for attempt in 1...3 {
            let poison = ReservedJob(id: Int64(10 + attempt), payload: "x", priority: 0, attempts: attempt, maxAttempts: nil, group: nil)
            _ = pool.handle(id, .assigned(poison), now: now, using: &random)
            now = now + .milliseconds(20)
            let commands = pool.handle(id, .exited(.exited(1)), now: now, using: &random)
            guard case .finish(poison, .retry(_, _, let delay, _)) = commands.first else { Issue.record("\(commands)"); return }
            #expect(delay >= .milliseconds(800), "the job waits its retry delay before it is handed out again")
            let log = commands.compactMap { if case .log(let line) = $0 { return line }; return nil }.first ?? ""
            #expect(log.contains("died: exit status 1 after 20ms, 0 jobs, holding job \(10 + attempt) (attempt \(attempt) of 3: "), "\(log)")
            #expect(log.contains(attempt == 3 ? "no attempt left: dead); restarting now" : "back in "), "\(log)")
            #expect(pool.slots[0].restartAt == nil && pool.slots[0].backoff.failures == 0, "no back-off")
            #expect(pool.slots[0].lastExit == "crashed: exit status 1")
            guard case .spawn(let order) = pool.reconcile(now: now, using: &random).first else { Issue.record("no prompt restart"); return }
            id += 1
            pool.spawned(order, id: id, pid: pid_t(1000 + id), now: now)
            _ = pool.handle(id, .message(.ready), now: now, using: &random)
        }
        #expect(pool.slots[0].restarts == 3)
        // A worker that dies at boot, holding nothing, still backs off from its second death.
        _ = pool.handle(id, .exited(.exited(1)), now: now, using: &random)
        #expect(pool.slots[0].restartAt == nil, "the first death restarts at once")
        guard case .spawn(let order) = pool.reconcile(now: now, using: &random).first else { Issue.record("no restart"); return }
        pool.spawned(order, id: id + 1, pid: 2000, now: now)
        _ = pool.handle(id + 1, .exited(.exited(1)), now: now + .milliseconds(5), using: &random)
        #expect(pool.slots[0].restartAt.map { $0 >= now + .seconds(1) } == true, "a broken start backs off")
    }

    /// A deploy whose workers boot but die on every job (a database they connect to lazily is
    /// down): from the tenth death in a row with a job in hand and none done, the slot backs off
    /// as for a boot death; a job done anywhere in the pool makes the deaths the jobs' fault again.
    @Test func aSlotWhoseWorkersDieOnEveryJobBacksOffAfterTenInARow() {
        var random = SplitMix64(state: 27)
        let pool = readyFeedPool(using: &random) {
            $0.workers = 1
            $0.backoffMin = .seconds(1)
        }
        var now = t0
        var id: UInt64 = 1
        func next() {
            now = now + .milliseconds(20)
            let commands = pool.reconcile(now: now, using: &random)
            guard case .spawn(let order) = commands.first else { Issue.record("no restart: \(commands)"); return }
            id += 1
            pool.spawned(order, id: id, pid: pid_t(1000 + id), now: now)
            _ = pool.handle(id, .message(.ready), now: now, using: &random)
        }
        func dieHoldingAJob(_ n: Int) -> String {
            let held = ReservedJob(id: Int64(n), payload: "x", priority: 0, attempts: 1, maxAttempts: nil, group: nil)
            _ = pool.handle(id, .assigned(held), now: now, using: &random)
            now = now + .milliseconds(20)
            let commands = pool.handle(id, .exited(.exited(1)), now: now, using: &random)
            return commands.compactMap { if case .log(let line) = $0 { return line }; return nil }.first ?? ""
        }
        let k = WorkerEnding.jobDeathsBlamingWorker
        for n in 1..<k {
            _ = dieHoldingAJob(n)
            #expect(pool.slots[0].jobDeaths == n && pool.slots[0].restartAt == nil && pool.slots[0].backoff.failures == 0)
            next()
        }
        let kth = dieHoldingAJob(k)
        #expect(kth.contains("restarting now (\(k) deaths in a row holding a job, and no job done since: the worker is blamed"), "\(kth)")
        #expect(pool.slots[0].restartAt == nil && pool.slots[0].backoff.failures == 1, "the first failure restarts at once")
        next()
        let after = dieHoldingAJob(k + 1)
        #expect(after.contains("restarting in 1"), "\(after)")
        #expect(pool.slots[0].restartAt.map { $0 >= now + .seconds(1) } == true, "backs off as a broken deploy")
        // The back-off ends; this worker gets a job done: the next death is the job's fault again.
        _ = pool.expire(now: now + .seconds(2), using: &random, sample: { _ in nil })
        now = now + .seconds(2)
        next()
        _ = pool.handle(id, .assigned(job), now: now, using: &random)
        _ = pool.handle(id, .message(.ok(nil)), now: now, using: &random)
        #expect(pool.slots[0].jobDeaths == 0)
        _ = dieHoldingAJob(k + 2)
        #expect(pool.slots[0].restartAt == nil && pool.slots[0].backoff.failures == 0 && pool.slots[0].jobDeaths == 1)
    }

    @Test func lastExitSaysHowTheSlotsLastWorkerEnded() {
        var random = SplitMix64(state: 26)
        let pool = readyFeedPool(using: &random) { $0.workers = 1; $0.memoryLimit = 100 }
        _ = pool.handle(1, .assigned(job), now: t0, using: &random)
        _ = pool.handle(1, .exited(.exited(1)), now: t0 + .seconds(1), using: &random)
        #expect(pool.slots[0].lastExit == "crashed: exit status 1")
        guard case .spawn(let order) = pool.reconcile(now: t0 + .seconds(1), using: &random).first else { Issue.record("no restart"); return }
        pool.spawned(order, id: 2, pid: 1002, now: t0 + .seconds(1))
        _ = pool.handle(2, .message(.ready), now: t0 + .seconds(1), using: &random)
        // A memory recycle: the replacement takes the slot, then the old worker exits 0.
        #expect(pool.handle(2, .memory(150, own: 150), now: t0 + .seconds(2), using: &random).contains(.closeInput(worker: 2)))
        guard case .spawn(let next) = pool.reconcile(now: t0 + .seconds(2), using: &random).first else { Issue.record("no replacement"); return }
        pool.spawned(next, id: 3, pid: 1003, now: t0 + .seconds(2))
        _ = pool.handle(2, .exited(.exited(0)), now: t0 + .seconds(3), using: &random)
        #expect(pool.slots[0].lastExit == "recycled: memory (exit status 0)", "not the crash before it")
    }

    @Test func aWorkerThatPrintsItsOutcomeIsToldOnceWhereOutcomesGo() {
        #expect(WorkerMessage.outcomeWord(printed: Array("ok".utf8)) == "ok")
        #expect(WorkerMessage.outcomeWord(printed: Array("fail\r".utf8)) == "fail")
        #expect(WorkerMessage.outcomeWord(printed: Array("ok, sending mail".utf8)) == nil)
        #expect(WorkerMessage.outcomeWord(printed: Array("ready".utf8)) == nil)
        let w = readyWorker()
        #expect(w.handle(.printedOutcome("ok"), now: t0, policy: feedPolicy()).isEmpty, "no job in hand: not an answer")
        _ = w.handle(.assigned(job), now: t0, policy: feedPolicy())
        #expect(w.handle(.printedOutcome("ok"), now: t0, policy: feedPolicy())
                == [.log("worker 0 (pid 4242) printed 'ok' on stdout or stderr; outcomes go to fd 3 ($SOLO_FD)")])
        #expect(w.handle(.printedOutcome("ok"), now: t0, policy: feedPolicy()).isEmpty, "once per worker")
        #expect(w.state == .busy && w.job == job, "the job still waits for its outcome")
    }

    @Test func thePoolCountsStartsExitsOutcomesAndDurations() {
        var random = SplitMix64(state: 23)
        let pool = readyFeedPool(using: &random) { $0.maxJobs = 2...2 }
        _ = pool.handle(1, .assigned(job), now: t0, using: &random)
        _ = pool.handle(1, .message(.ok(nil)), now: t0 + .milliseconds(30), using: &random)
        _ = pool.handle(1, .assigned(job), now: t0 + .seconds(1), using: &random)
        _ = pool.handle(1, .message(.fail("no")), now: t0 + .seconds(3), using: &random)
        _ = pool.handle(1, .exited(.exited(0)), now: t0 + .seconds(4), using: &random)
        #expect(pool.counters.jobs == ["done": 1, "failed": 1])
        #expect(pool.counters.jobSeconds.count == 2 && pool.counters.jobSeconds.sum == 2.03)
        #expect(pool.counters.exits == ["job_limit": 1], "recycled at its limit of 2 jobs")

        guard case .spawn(let next) = pool.reconcile(now: t0 + .seconds(4), using: &random)[0] else { Issue.record("no replacement"); return }
        pool.spawned(next, id: 2, pid: 1002, now: t0 + .seconds(4))
        _ = pool.handle(2, .message(.ready), now: t0 + .seconds(4), using: &random)
        _ = pool.handle(2, .assigned(job), now: t0 + .seconds(4), using: &random)
        _ = pool.handle(2, .exited(.signaled(SIGSEGV)), now: t0 + .seconds(5), using: &random)
        #expect(pool.counters.starts == 2)
        #expect(pool.counters.exits == ["job_limit": 1, "died": 1])
        #expect(pool.counters.jobs == ["done": 1, "failed": 1, "worker_died": 1])
        _ = pool.expire(now: t0 + .seconds(60), using: &random) { _ in nil }
        guard case .spawn(let third) = pool.reconcile(now: t0 + .seconds(60), using: &random).first else { Issue.record("no restart"); return }
        _ = pool.spawnFailed(third, error: "cannot execute", now: t0 + .seconds(60), using: &random)
        #expect(pool.counters.failedStarts == 1 && pool.counters.starts == 2)
    }

    @Test func aWorkerThatLeavesByItselfAtItsLimitCountsAsRecycledAndLateLinesAsNothing() {
        var random = SplitMix64(state: 24)
        let pool = readyFeedPool(using: &random) { $0.maxJobs = 1...1 }
        _ = pool.handle(1, .assigned(job), now: t0, using: &random)
        // Its answer is read only once it has been reaped, as a worker that exits at
        // $SOLO_MAX_JOBS may have it; and a stray ok follows, about no job.
        _ = pool.handle(1, .finalMessage(.ok(nil)), now: t0 + .milliseconds(20), using: &random)
        _ = pool.handle(1, .finalMessage(.ok(nil)), now: t0 + .milliseconds(20), using: &random)
        _ = pool.handle(1, .exited(.exited(0)), now: t0 + .milliseconds(20), using: &random)
        #expect(pool.counters.exits == ["job_limit": 1])
        #expect(pool.counters.jobs == ["done": 1], "the stray ok held no job")
        #expect(pool.counters.jobSeconds.count == 1 && pool.counters.jobSeconds.sum == 0.02)
    }

    @Test func answersBecomeOutcomes() {
        var random = SplitMix64(state: 22)
        let pool = readyFeedPool(using: &random)
        let maxAttempts = pool.config.maxAttempts
        for (message, expected) in [(WorkerMessage.ok("r"), JobOutcome.done(id: job.id, result: "r")), (.fail(nil), .dead(id: job.id, error: "failed")),
                                    (.retry(.seconds(30)), .retry(id: job.id, error: "the worker asked for a retry", delay: .seconds(30), maxAttempts: maxAttempts))] {
            _ = pool.handle(1, .assigned(job), now: t0, using: &random)
            let commands = pool.handle(1, .message(message), now: t0, using: &random)
            #expect(commands.contains(.finish(job, expected)), "\(message)")
        }
    }
}

/// `solo stop`, `start`, `restart` and `scale` on the pure pool.
@Suite struct PoolSteeringTests {
    let t0 = Moment(nanoseconds: 1_000_000_000_000)

    func runningPool(workers: Int) -> (Pool, SplitMix64, UInt64) {
        var random = SplitMix64(state: 31)
        var config = PoolConfig(name: "p", file: "f", line: 1)
        config.workers = workers
        let pool = Pool(config: config)
        var id: UInt64 = 1
        for case .spawn(let order) in pool.reconcile(now: t0, using: &random) {
            pool.spawned(order, id: id, pid: pid_t(1000 + id), now: t0)
            _ = pool.handle(id, .message(.ready), now: t0, using: &random)
            id += 1
        }
        return (pool, random, id)
    }

    @Test func stopAndStartAPool() {
        var (pool, random, _) = runningPool(workers: 2)
        let stop = pool.pause(now: t0, using: &random)
        #expect(stop.filter { if case .signal(_, _, SIGTERM) = $0 { return true }; return false }.count == 2)
        #expect(!stop.contains { if case .log(let line) = $0 { return line.contains("recycling") }; return false })
        for id: UInt64 in [1, 2] {
            let exit = pool.handle(id, .exited(.exited(0)), now: t0, using: &random)
            #expect(exit.contains { if case .log(let line) = $0 { return line.contains("stopped") }; return false })
        }
        #expect(pool.reconcile(now: t0, using: &random).isEmpty, "a stopped pool starts nothing")
        pool.resume()
        #expect(pool.reconcile(now: t0, using: &random).count == 2)
    }

    @Test func startAndRestartEndABackoff() {
        var (pool, random, nextID) = runningPool(workers: 1)
        let t1 = t0 + .seconds(20)
        // Workers that die at boot: the slot backs off from the second death.
        var id: UInt64 = 1
        for _ in 0..<3 {
            _ = pool.handle(id, .exited(.exited(1)), now: t1, using: &random)
            guard case .spawn(let order) = pool.reconcile(now: t1, using: &random).first else { break }
            pool.spawned(order, id: nextID, pid: pid_t(1000 + nextID), now: t1)
            id = nextID
            nextID += 1
        }
        #expect(pool.slots[0].restartAt != nil && pool.reconcile(now: t1, using: &random).isEmpty, "backing off")
        _ = pool.restartRolling(now: t1, using: &random)
        #expect(pool.slots[0].restartAt == nil && pool.slots[0].backoff.failures == 0)
        #expect(pool.reconcile(now: t1, using: &random).count == 1, "solo restart starts the slot at once")

        let (stopped, _, _) = runningPool(workers: 1)
        _ = stopped.handle(1, .exited(.exited(1)), now: t1, using: &random)
        _ = stopped.pause(now: t1, using: &random)
        stopped.resume()
        #expect(stopped.slots[0].backoff.failures == 0, "solo start: a crash before the stop is forgotten")
        #expect(stopped.reconcile(now: t1, using: &random).count == 1)
    }

    @Test func aRollingRestartReplacesOneWorkerAtATime() {
        var (pool, random, nextID) = runningPool(workers: 3)
        var commands = pool.restartRolling(now: t0, using: &random)
        #expect(commands.filter { if case .signal = $0 { return true }; return false }.count == 1, "one at a time")
        commands += pool.reconcile(now: t0, using: &random)
        for _ in 0..<3 {
            // The replacement is ordered; until it is ready, nobody else goes.
            let orders = commands.compactMap { if case .spawn(let order) = $0 { return order }; return nil }
            #expect(orders.count == 1)
            pool.spawned(orders[0], id: nextID, pid: pid_t(1000 + nextID), now: t0)
            #expect(pool.reconcile(now: t0, using: &random).isEmpty, "waits for the new worker to be ready")
            _ = pool.handle(nextID, .message(.ready), now: t0, using: &random)
            nextID += 1
            commands = pool.reconcile(now: t0, using: &random)
        }
        #expect(commands.isEmpty && pool.rolling.isEmpty && pool.rollingSlot == nil)
        #expect(Set(pool.slots.compactMap(\.current)) == [4, 5, 6])
    }

    @Test func aScalingPoolCountsItsBusyWorkersAndCanBePinned() {
        var random = SplitMix64(state: 5)
        var start = PoolConfig(name: "p", file: "f", line: 1)
        start.workers = 1
        start.maxWorkers = 4
        start.queue = .sqlite(path: "/tmp/q.db")
        let pool = Pool(config: start)
        #expect(pool.autoscaler?.range == 1...4 && pool.desiredWorkers == 1)
        guard case .spawn(let order) = pool.reconcile(now: t0, using: &random).first else { Issue.record("no spawn"); return }
        pool.spawned(order, id: 1, pid: 1001, now: t0)
        _ = pool.handle(1, .message(.ready), now: t0, using: &random)
        _ = pool.handle(1, .assigned(ReservedJob(id: 1, payload: "x", priority: 0, attempts: 1, maxAttempts: nil, group: nil)),
                        now: t0, using: &random)
        #expect(pool.autoscale(waiting: 5, now: t0)?.workers == 2, "one busy, five waiting: double")
        // solo scale POOL 3 pins it; solo scale POOL 2-8 makes it scale again, from where it is.
        #expect(pool.setScaling(3, upTo: nil) == 3 && pool.autoscaler == nil)
        #expect(pool.autoscale(waiting: 50, now: t0 + .seconds(5)) == nil)
        #expect(pool.setScaling(2, upTo: 8) == 2 && pool.autoscaler?.range == 2...8, "its count (1) brought into the range")
        // A reload that changes only the range keeps the present count, within the new range.
        _ = pool.scale(to: 5, now: t0, using: &random)
        var config = pool.config
        config.workers = 1
        config.maxWorkers = 3
        _ = pool.reconfigure(config, now: t0, using: &random)
        #expect(pool.desiredWorkers == 3 && pool.autoscaler?.range == 1...3 && pool.rolling.isEmpty, "scaled, not rolled")
        _ = pool.pause(now: t0, using: &random)
        #expect(pool.autoscale(waiting: 50, now: t0 + .seconds(9)) == nil, "a stopped pool does not scale")
    }

    @Test func scalingLeavesTheOtherWorkersAlone() {
        var (pool, random, _) = runningPool(workers: 2)
        #expect(pool.scale(to: 4, now: t0, using: &random).isEmpty)
        #expect(pool.reconcile(now: t0, using: &random).count == 2, "two new slots")
        let down = pool.scale(to: 1, now: t0, using: &random)
        #expect(down == [.log("stopping worker 1 (pid 1002): scaled down"), .signal(worker: 2, pid: 1002, signal: SIGTERM)])
        #expect(pool.slots.count == 2, "slot 1 stays until its worker is gone")
        _ = pool.handle(2, .exited(.exited(0)), now: t0, using: &random)
        #expect(pool.slots.count == 1 && pool.reconcile(now: t0, using: &random).isEmpty)
    }
}

@Suite struct RateMeterTests {
    @Test func countsPerSecondOverTenSeconds() {
        var meter = RateMeter()
        let t0 = Moment(nanoseconds: 100_000_000_000)
        for second in 0..<9 { meter.record(18, now: t0 + .seconds(Int64(second))) }
        #expect(meter.perSecond(now: t0 + .seconds(9)) == 18)
        #expect(meter.perSecond(now: t0 + .seconds(60)) == 0, "old seconds fall out")
    }
}
