import Glibc
import Testing
@testable import SoloKit

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
