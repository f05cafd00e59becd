import Glibc
import Testing
@testable import SoloKit

/// Warm replacements: when a spare boots, what it waits for, and what happens when it fails.
@Suite struct SpareTests {
    let t0 = Moment(nanoseconds: 1_000_000_000_000)
    let boot = Duration.milliseconds(20)
    let job = ReservedJob(id: 7, payload: "p", priority: 0, attempts: 1, maxAttempts: nil, group: nil)

    func makePool(workers: Int = 1, _ configure: (inout PoolConfig) -> Void = { _ in }) -> Pool {
        PoolTests().makePool(workers: workers) { config in
            config.queue = .sqlite(path: "/tmp/q.db")
            config.maxJobs = 100...100
            configure(&config)
        }
    }

    func spawn(_ pool: Pool, _ commands: [PoolCommand], now: Moment, nextID: inout UInt64) -> [UInt64] {
        PoolTests().spawnAll(pool, commands, now: now, nextID: &nextID)
    }

    /// A one-worker pool whose worker booted in 20ms and has done `jobs` jobs: the worker, and the time.
    func started(_ pool: Pool, jobs: Int, nextID: inout UInt64, random: inout SplitMix64) -> (UInt64, Moment) {
        let old = spawn(pool, pool.reconcile(now: t0, using: &random), now: t0, nextID: &nextID)[0]
        _ = pool.handle(old, .message(.ready), now: t0 + boot, using: &random)
        return (old, work(pool, old, jobs: jobs, from: t0 + boot, random: &random))
    }

    func spareOrders(_ commands: [PoolCommand]) -> [SpawnOrder] {
        commands.compactMap { if case .spawn(let order) = $0, order.spare { return order } else { return nil } }
    }

    /// Boots in 20ms, then does a job every millisecond; returns the time after `jobs` jobs.
    func work(_ pool: Pool, _ id: UInt64, jobs: Int, from start: Moment, random: inout SplitMix64) -> Moment {
        var now = start
        for _ in 0..<jobs {
            _ = pool.handle(id, .assigned(job), now: now, using: &random)
            now = now + .milliseconds(1)
            _ = pool.handle(id, .message(.ok(nil)), now: now, using: &random)
        }
        return now
    }

    @Test func aSpareBootsAheadOfTheJobLimitAndTakesTheSlotTheMomentTheOldOneLeaves() {
        var random = SplitMix64(state: 1)
        let pool = makePool()
        var id: UInt64 = 1
        // 10 jobs of 1ms leave 90ms: more than three times its 20ms boot (and 20ms), so no spare yet.
        var (old, now) = started(pool, jobs: 10, nextID: &id, random: &random)
        #expect(spareOrders(pool.reconcile(now: now, using: &random)).isEmpty)
        // 80 more leave 10ms: the spare boots now, and only one.
        now = work(pool, old, jobs: 80, from: now, random: &random)
        let orders = pool.reconcile(now: now, using: &random)
        #expect(spareOrders(orders).count == 1 && orders.count == 1)
        let spare = spawn(pool, orders, now: now, nextID: &id)[0]
        #expect(spareOrders(pool.reconcile(now: now, using: &random)).isEmpty, "one spare at a time")
        _ = pool.handle(spare, .message(.ready), now: now + boot, using: &random)
        #expect(pool.idleWorkers == [old], "the spare takes no job while the old worker works")
        #expect(pool.stateName(of: pool.workers[spare]!) == "spare", "status and metrics tell it from the slot's worker")
        #expect(pool.servingWorkers.map(\.id) == [old], "the spare is not counted as a running worker")
        // The old worker's last job: the spare is the slot's worker at once, and nothing is spawned.
        now = work(pool, old, jobs: 10, from: now + boot, random: &random)
        #expect(pool.workers[old]?.isLeaving == true)
        #expect(pool.slots[0].current == spare && pool.slots[0].spare == nil)
        #expect(pool.idleWorkers == [spare])
        #expect(pool.stateName(of: pool.workers[spare]!) == "ready")
        #expect(pool.servingWorkers.map(\.id) == [spare])
        #expect(pool.reconcile(now: now, using: &random).isEmpty)
        let exit = pool.handle(old, .exited(.exited(0)), now: now + .milliseconds(5), using: &random)
        #expect(exit.count == 1 && exit[0] == .log("worker 0 (pid 1001) finished recycling: exit status 0 after 145ms, 100 jobs"))
    }

    @Test func noSpareWhenTurnedOffStoppedOrBackingOff() {
        for configure: (inout PoolConfig) -> Void in [{ $0.spare = 0 }, { _ in }] {
            var random = SplitMix64(state: 2)
            let pool = makePool(workers: 2, configure)
            var id: UInt64 = 1
            let ids = spawn(pool, pool.reconcile(now: t0, using: &random), now: t0, nextID: &id)
            for worker in ids { _ = pool.handle(worker, .message(.ready), now: t0 + boot, using: &random) }
            // The second worker dies twice at once: its slot backs off.
            _ = pool.handle(ids[1], .exited(.exited(1)), now: t0 + boot, using: &random)
            let again = spawn(pool, pool.reconcile(now: t0 + boot, using: &random), now: t0 + boot, nextID: &id)
            _ = pool.handle(again[0], .exited(.exited(1)), now: t0 + boot, using: &random)
            #expect(pool.slots[1].restartAt != nil)
            let now = work(pool, ids[0], jobs: 95, from: t0 + boot, random: &random)
            #expect(spareOrders(pool.reconcile(now: now, using: &random)).isEmpty, "spare = 0, or a slot backing off")
            if pool.config.spare == 1 {
                _ = pool.expire(now: now + .seconds(120), using: &random) { _ in nil }
                _ = pool.reconcile(now: now + .seconds(120), using: &random)
                _ = pool.pause(now: now + .seconds(120), using: &random)
                #expect(pool.reconcile(now: now + .seconds(120), using: &random).isEmpty, "a stopped pool starts nothing")
            }
        }
    }

    @Test func noSpareInPollMode() {
        // A poll worker would start working at once: an extra worker, not a spare.
        var random = SplitMix64(state: 5)
        let pool = makePool { $0.queue = .none }
        var id: UInt64 = 1
        let worker = spawn(pool, pool.reconcile(now: t0, using: &random), now: t0, nextID: &id)[0]
        _ = pool.handle(worker, .message(.ready), now: t0 + boot, using: &random)
        for n in 1...95 { _ = pool.handle(worker, .message(.ok(nil)), now: t0 + boot + .milliseconds(n), using: &random) }
        #expect(pool.reconcile(now: t0 + .milliseconds(120), using: &random).isEmpty)
    }

    @Test func aSpareThatCannotStartOrDiesLeavesTheRecycleAsBefore() {
        var random = SplitMix64(state: 3)
        let pool = makePool()
        var id: UInt64 = 1
        var (old, now) = started(pool, jobs: 95, nextID: &id, random: &random)
        let order = spareOrders(pool.reconcile(now: now, using: &random))[0]
        let failed = pool.spawnFailed(order, error: "no such file", now: now, using: &random)
        #expect(failed == [.log("worker 0's warm replacement cannot start: no such file (the worker is recycled without one)")])
        #expect(pool.slots[0].restartAt == nil, "no back-off")
        #expect(pool.reconcile(now: now, using: &random).isEmpty, "not tried again for this worker")
        now = work(pool, old, jobs: 5, from: now, random: &random)
        let replacement = pool.reconcile(now: now, using: &random)
        #expect(replacement.count == 1 && spareOrders(replacement).isEmpty, "the recycle starts a replacement, as before")

        // A spare that dies at boot is logged, and its worker is recycled without one.
        let next = spawn(pool, replacement, now: now, nextID: &id)[0]
        _ = pool.handle(next, .message(.ready), now: now + boot, using: &random)
        now = work(pool, next, jobs: 95, from: now + boot, random: &random)
        let spare = spawn(pool, pool.reconcile(now: now, using: &random), now: now, nextID: &id)[0]
        let died = pool.handle(spare, .exited(.exited(3)), now: now, using: &random)
        #expect(died == [.log("worker 0's warm replacement (pid \(1000 + spare)) died before it was needed: exit status 3; the worker is recycled without one")])
        #expect(pool.slots[0].restartAt == nil && pool.slots[0].current == next)
        #expect(pool.reconcile(now: now, using: &random).isEmpty)
    }

    @Test func aCrashIsNotARecycleTheSpareWaitsOutTheBackOff() {
        var random = SplitMix64(state: 4)
        let pool = makePool { $0.backoffMin = .milliseconds(100) }
        var id: UInt64 = 1
        let (old, now) = started(pool, jobs: 95, nextID: &id, random: &random)
        let spare = spawn(pool, pool.reconcile(now: now, using: &random), now: now, nextID: &id)[0]
        _ = pool.handle(old, .exited(.signaled(SIGSEGV)), now: now, using: &random)
        #expect(pool.slots[0].current == nil && pool.slots[0].spare == spare)
        #expect(pool.idleWorkers.isEmpty)
        if let restartAt = pool.slots[0].restartAt {
            #expect(pool.reconcile(now: now, using: &random).isEmpty, "backing off")
            _ = pool.expire(now: restartAt, using: &random) { _ in nil }
        }
        #expect(pool.reconcile(now: now + .seconds(60), using: &random).isEmpty, "the spare takes the slot: nothing to spawn")
        #expect(pool.slots[0].current == spare)
    }

    @Test func theTimeToARecycleComesFromJobsLifetimeOrMemory() {
        var pool = PoolConfig(name: "p", file: "f", line: 1)
        pool.queue = .sqlite(path: "/tmp/q.db")
        pool.memoryLimit = 100 << 20
        let policy = WorkerPolicy(pool: pool)
        let w = Worker(id: 1, slot: 0, pid: 1, started: t0, jobLimit: 1000, lifetimeLimit: .seconds(60), policy: policy)
        #expect(w.timeToRecycle(now: t0, memoryLimit: pool.memoryLimit) == .seconds(60), "no pace yet: the lifetime")
        _ = w.handle(.message(.ready), now: t0 + boot, policy: policy)
        #expect(w.bootDuration == boot)
        _ = w.handle(.memory(10 << 20, own: 10 << 20), now: t0 + boot, policy: policy)
        for n in 1...100 {
            _ = w.handle(.assigned(job), now: t0 + boot + .milliseconds(n - 1), policy: policy)
            _ = w.handle(.message(.ok(nil)), now: t0 + boot + .milliseconds(n), policy: policy)
        }
        let now = t0 + boot + .milliseconds(100)
        #expect(w.timeToRecycle(now: now, memoryLimit: nil) == .milliseconds(900), "900 jobs left at 1ms")
        // 40M over 100 jobs, 50M left: 125 jobs at 1ms.
        _ = w.handle(.ownMemory(50 << 20), now: now, policy: policy)
        #expect(w.timeToRecycle(now: now, memoryLimit: pool.memoryLimit) == .milliseconds(125))
    }

    @Test func withoutAJobOrMemoryLimitOnlyTheLifetimeEndsAWorker() {
        var pool = PoolConfig(name: "p", file: "f", line: 1)
        pool.queue = .sqlite(path: "/tmp/q.db")
        let policy = WorkerPolicy(pool: pool)
        let timed = Worker(id: 1, slot: 0, pid: 1, started: t0, jobLimit: nil, lifetimeLimit: .seconds(60), policy: policy)
        let endless = Worker(id: 2, slot: 1, pid: 2, started: t0, jobLimit: nil, lifetimeLimit: nil, policy: policy)
        for w in [timed, endless] {
            _ = w.handle(.message(.ready), now: t0, policy: policy)
            for n in 1...10 {
                _ = w.handle(.assigned(job), now: t0 + .milliseconds(n - 1), policy: policy)
                _ = w.handle(.message(.ok(nil)), now: t0 + .milliseconds(n), policy: policy)
            }
        }
        let now = t0 + .seconds(10)
        #expect(timed.timeToRecycle(now: now, memoryLimit: nil) == .seconds(50), "its pace counts for nothing: the lifetime left")
        #expect(endless.timeToRecycle(now: now, memoryLimit: nil) == nil, "no end in sight")
    }

    @Test func aSparesJobLimitIsSpreadFromWhenItTakesTheSlot() throws {
        // The spare starts counting when its slot's worker leaves, 150 jobs from now: its
        // recycle falls 150 + its limit from now, to be kept apart from the other worker's.
        var checked = 0
        for seed in 1...30 as ClosedRange<UInt64> {
            var random = SplitMix64(state: seed)
            let pool = makePool(workers: 2) { $0.maxJobs = 200...400 }
            var id: UInt64 = 1
            let ids = spawn(pool, pool.reconcile(now: t0, using: &random), now: t0, nextID: &id)
            // A 100ms boot: the spare starts 320ms ahead, 150 jobs of 1ms are within it.
            for worker in ids { _ = pool.handle(worker, .message(.ready), now: t0 + .milliseconds(100), using: &random) }
            let other = pool.workers[ids[1]]!.jobsRemaining!
            guard other >= 340 else { continue }
            let now = work(pool, ids[0], jobs: pool.workers[ids[0]]!.jobsRemaining! - 150, from: t0 + .milliseconds(100), random: &random)
            let orders = spareOrders(pool.reconcile(now: now, using: &random))
            try #require(orders.count == 1 && orders[0].slot == 0)
            let end = 150 + orders[0].jobLimit!
            #expect(abs(end - other) >= 60, "seed \(seed): the spare recycles \(end) jobs from now, the other worker \(other)")
            checked += 1
        }
        #expect(checked >= 5, "only \(checked) seeds drew the other worker a limit of 340 or more")
    }

    @Test func thePaceCountsFromTheFirstJobNotFromReady() {
        // A warm replacement waits ready, idle, until its slot is free: that wait is no part of
        // its pace, or its own replacement would boot late.
        var pool = PoolConfig(name: "p", file: "f", line: 1)
        pool.queue = .sqlite(path: "/tmp/q.db")
        let policy = WorkerPolicy(pool: pool)
        let w = Worker(id: 1, slot: 0, pid: 1, started: t0, jobLimit: 1000, lifetimeLimit: nil, policy: policy)
        _ = w.handle(.message(.ready), now: t0 + boot, policy: policy)
        let promoted = t0 + boot + .milliseconds(500)
        for n in 1...100 {
            _ = w.handle(.assigned(job), now: promoted + .milliseconds(n - 1), policy: policy)
            _ = w.handle(.message(.ok(nil)), now: promoted + .milliseconds(n), policy: policy)
        }
        #expect(w.timeToRecycle(now: promoted + .milliseconds(100), memoryLimit: nil) == .milliseconds(900), "900 jobs left at 1ms")
    }
}

/// Spread: the per-worker draws keep a pool of 8 from recycling together, generation after generation.
@Suite struct SpreadTests {
    let t0 = Moment(nanoseconds: 1_000_000_000_000)

    /// Every worker does a job per tick; a worker at its limit leaves at once and its slot is
    /// filled again. Returns the ticks at which workers were recycled.
    func recycleTicks(_ pool: Pool, ticks: Int, random: inout SplitMix64) -> [Int] {
        var id: UInt64 = 1
        var recycles: [Int] = []
        for tick in 0..<ticks {
            let now = t0 + .milliseconds(tick)
            _ = PoolTests().spawnAll(pool, pool.reconcile(now: now, using: &random), now: now, nextID: &id)
            for worker in pool.workers.keys.sorted() {
                _ = pool.handle(worker, .message(.ok(nil)), now: now, using: &random)
                if pool.workers[worker]?.isLeaving == true {
                    recycles.append(tick)
                    _ = pool.handle(worker, .exited(.exited(0)), now: now, using: &random)
                }
            }
        }
        return recycles
    }

    @Test func aPoolOfEightRecyclesItsWorkersApart() {
        var random = SplitMix64(state: 8)
        let pool = PoolTests().makePool(workers: 8) { $0.maxJobs = 1000...2000; $0.spare = 0 }
        let recycles = recycleTicks(pool, ticks: 20_000, random: &random)
        #expect(recycles.count > 80, "about 8 × 20000 / 1500 recycles: \(recycles.count)")
        let gaps = zip(recycles, recycles.dropFirst()).map { $1 - $0 }
        // Evenly spread, 8 workers of 1500 jobs would recycle every 187 jobs; never two within 10.
        #expect(gaps.min()! >= 10, "two workers recycled within \(gaps.min()!) jobs of each other")
        #expect(gaps.filter { $0 < 40 }.count * 10 < gaps.count, "gaps under 40 jobs are rare: \(gaps.sorted().prefix(12))")
    }

    @Test func lifetimesOfAPoolOfEightAreDrawnApart() {
        var random = SplitMix64(state: 9)
        let pool = PoolTests().makePool(workers: 8) { $0.maxJobs = nil; $0.maxLifetime = .seconds(3600)...(.seconds(7200)); $0.spare = 0 }
        var id: UInt64 = 1
        _ = PoolTests().spawnAll(pool, pool.reconcile(now: t0, using: &random), now: t0, nextID: &id)
        let ends = pool.workers.values.compactMap(\.lifetimeDeadline).sorted()
        #expect(ends.count == 8)
        let gaps = zip(ends, ends.dropFirst()).map { $1 - $0 }
        #expect(gaps.min()! >= .seconds(120), "two lifetimes end \(gaps.min()!) apart")
    }
}
