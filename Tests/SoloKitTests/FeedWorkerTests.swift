import Glibc
import Testing
@testable import SoloKit

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
    /// down): from the tenth death in a row with a new job in hand and none done, the slot backs off
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
        func dieHoldingAJob(_ n: Int, attempt: Int = 1) -> String {
            let held = ReservedJob(id: Int64(n), payload: "x", priority: 0, attempts: attempt, maxAttempts: nil, group: nil)
            _ = pool.handle(id, .assigned(held), now: now, using: &random)
            now = now + .milliseconds(20)
            let commands = pool.handle(id, .exited(.exited(1)), now: now, using: &random)
            return commands.compactMap { if case .log(let line) = $0 { return line }; return nil }.first ?? ""
        }
        let k = WorkerEnding.jobDeathsBlamingWorker
        // Poison jobs back for their later attempts, in a row once the good ones are done,
        // are not a broken deploy: only deaths on a job's first attempt count.
        for n in 1...(2 * k) {
            _ = dieHoldingAJob(1000 + n, attempt: 2 + n % 2)
            #expect(pool.slots[0].jobDeaths == 0 && pool.slots[0].restartAt == nil && pool.slots[0].backoff.failures == 0)
            next()
        }
        for n in 1..<k {
            _ = dieHoldingAJob(n)
            #expect(pool.slots[0].jobDeaths == n && pool.slots[0].restartAt == nil && pool.slots[0].backoff.failures == 0)
            next()
        }
        let kth = dieHoldingAJob(k)
        #expect(kth.contains("restarting now (\(k) deaths in a row holding a new job, and no job done since: the worker is blamed"), "\(kth)")
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
