import Glibc
import Testing
@testable import SoloKit

/// Prefetch: a busy worker's next job is written behind the one it runs; it begins when the
/// first is answered, or goes back with its attempt if it never does.
@Suite struct PrefetchWorkerTests {
    let t0 = Moment(nanoseconds: 1_000_000_000_000)
    let first = ReservedJob(id: 7, payload: "a", priority: 0, attempts: 1, maxAttempts: nil, group: nil)
    let second = ReservedJob(id: 8, payload: "b", priority: 0, attempts: 1, maxAttempts: nil, group: nil)

    var policy: WorkerPolicy {
        var pool = PoolConfig(name: "p", file: "f", line: 1)
        pool.queue = .sqlite(path: "/tmp/q.db")
        pool.jobTimeout = .seconds(60)
        pool.memoryLimit = 100
        pool.prefetch = 1
        return WorkerPolicy(pool: pool)
    }

    func busyWorker(jobLimit: Int? = nil) -> Worker {
        let w = Worker(id: 1, slot: 0, pid: 4242, started: t0, jobLimit: jobLimit, lifetimeLimit: nil, policy: policy)
        _ = w.handle(.message(.ready), now: t0, policy: policy)
        _ = w.handle(.assigned(first), now: t0, policy: policy)
        return w
    }

    @Test func theJobAheadBeginsWhenTheFirstIsAnsweredAndItsClockStartsThen() {
        let w = busyWorker()
        #expect(w.wantsAhead && !w.isIdle)
        #expect(w.handle(.assignedAhead(second), now: t0, policy: policy).isEmpty)
        #expect(!w.wantsAhead && w.ahead == second)
        let later = t0 + .seconds(5)
        #expect(w.handle(.message(.ok(nil)), now: later, policy: policy) == [.finished(first, .ok(nil))])
        #expect(w.state == .busy && w.job == nil && !w.isIdle, "busy until the job ahead begins or is taken back")
        #expect(w.handle(.aheadBegun, now: later, policy: policy) == [.began(second)])
        #expect(w.job == second && w.ahead == nil && w.jobDeadline == later + .seconds(60) && w.wantsAhead)
    }

    @Test func aJobTakenBackGoesBackAndLeavesTheWorkerIdle() {
        let w = busyWorker()
        _ = w.handle(.assignedAhead(second), now: t0, policy: policy)
        _ = w.handle(.message(.ok(nil)), now: t0, policy: policy)
        #expect(w.handle(.aheadTakenBack, now: t0, policy: policy) == [.givenBack(second)])
        #expect(w.isIdle && w.ahead == nil)
        #expect(w.handle(.aheadBegun, now: t0, policy: policy).isEmpty, "nothing left to begin")
    }

    /// memory_limit's check after the outcome retires the worker before the job ahead begins:
    /// it is then taken back if it can be (the supervisor tries), and the worker drains.
    @Test func aWorkerOverItsMemoryLimitLeavesBeforeTheJobAhead() {
        let w = busyWorker()
        _ = w.handle(.assignedAhead(second), now: t0, policy: policy)
        _ = w.handle(.message(.ok(nil)), now: t0, policy: policy)
        let actions = w.handle(.ownMemory(200), now: t0, policy: policy)
        #expect(actions.contains(.closeInput) && w.isLeaving)
        #expect(w.handle(.aheadTakenBack, now: t0, policy: policy) == [.givenBack(second)])
        #expect(w.state == .draining && w.job == nil)
    }

    @Test func aJobIsNeverWrittenPastTheDrawnLimit() {
        let w = busyWorker(jobLimit: 2)
        #expect(w.wantsAhead, "the first and the one ahead make 2")
        _ = w.handle(.assignedAhead(second), now: t0, policy: policy)
        _ = w.handle(.message(.ok(nil)), now: t0, policy: policy)
        _ = w.handle(.aheadBegun, now: t0, policy: policy)
        #expect(!w.wantsAhead, "a third would pass the limit")
        let actions = w.handle(.message(.ok(nil)), now: t0, policy: policy)
        #expect(actions.contains(.closeInput) && w.jobsDone == 2)
        #expect(busyWorker(jobLimit: 1).wantsAhead == false)
    }

    /// A worker that dies holding a job never began the one behind it: that one goes back with
    /// its attempt. One that dies after answering may have begun it: it is the job in hand.
    @Test func anExitGivesBackAJobAheadOnlyIfItNeverBegan() {
        let holding = busyWorker()
        _ = holding.handle(.assignedAhead(second), now: t0, policy: policy)
        #expect(holding.handle(.exited(.signaled(SIGKILL)), now: t0, policy: policy) == [.givenBack(second)])
        #expect(holding.job == first && holding.ahead == nil)

        let answered = busyWorker()
        _ = answered.handle(.assignedAhead(second), now: t0, policy: policy)
        _ = answered.handle(.finalMessage(.ok(nil)), now: t0, policy: policy)
        #expect(answered.handle(.exited(.signaled(SIGKILL)), now: t0, policy: policy) == [.began(second)])
        #expect(answered.job == second)
    }

    /// Its last words read after it was reaped may answer both jobs.
    @Test func answersReadAfterTheExitCoverTheJobAheadToo() {
        let w = busyWorker()
        _ = w.handle(.assignedAhead(second), now: t0, policy: policy)
        #expect(w.handle(.finalMessage(.ok(nil)), now: t0, policy: policy) == [.finished(first, .ok(nil))])
        #expect(w.handle(.finalMessage(.ok("r")), now: t0, policy: policy) == [.began(second), .finished(second, .ok("r"))])
        #expect(w.jobsDone == 2 && w.job == nil && w.ahead == nil)
    }

    /// Answered before the supervisor settled it (two answers in one read): it began.
    @Test func anAnswerWithOnlyAJobAheadAnswersIt() {
        let w = busyWorker()
        _ = w.handle(.assignedAhead(second), now: t0, policy: policy)
        _ = w.handle(.message(.ok(nil)), now: t0, policy: policy)
        #expect(w.handle(.message(.fail("no")), now: t0, policy: policy) == [.began(second), .finished(second, .fail("no"))])
        #expect(w.isIdle)
    }

    @Test func thePoolWritesAheadOnlyWithPrefetchAndGivesBackOnExit() {
        var random = SplitMix64(state: 1)
        for prefetch in [0, 1] {
            var config = PoolConfig(name: "mailer", file: "f", line: 1)
            config.queue = .sqlite(path: "/tmp/q.db")
            config.maxJobs = nil
            config.prefetch = prefetch
            let pool = Pool(config: config)
            guard case .spawn(let order) = pool.reconcile(now: t0, using: &random).first else {
                Issue.record("no worker to start")
                return
            }
            pool.spawned(order, id: 1, pid: 1001, now: t0)
            _ = pool.handle(1, .message(.ready), now: t0, using: &random)
            _ = pool.handle(1, .assigned(first), now: t0, using: &random)
            #expect(pool.workersWantingAhead == (prefetch == 1 ? [1] : []))
            guard prefetch == 1 else { continue }
            _ = pool.handle(1, .assignedAhead(second), now: t0, using: &random)
            #expect(pool.workersWantingAhead.isEmpty)
            let commands = pool.handle(1, .exited(.signaled(SIGKILL)), now: t0, using: &random)
            #expect(commands.first == PoolCommand.giveBack(second))
            #expect(commands.contains { if case .finish(let job, .retry) = $0 { job == first } else { false } }, "\(commands)")
        }
    }
}
