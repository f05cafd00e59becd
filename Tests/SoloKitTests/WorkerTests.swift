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
