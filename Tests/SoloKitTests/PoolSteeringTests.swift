import Glibc
import Testing
@testable import SoloKit

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

    @Test func aPoolTurnedIntoAFastCGIPoolLetsItsWorkersGo() {
        var (pool, random, _) = runningPool(workers: 2)
        var config = pool.config
        config.fastcgi = .unix(path: "/run/fpm.sock")
        config.script = "/srv/job.php"
        _ = pool.reconfigure(config, now: t0, using: &random)
        #expect(pool.workers.count == 2 && pool.workers.values.allSatisfy(\.isLeaving))
        for id: UInt64 in [1, 2] { _ = pool.handle(id, .exited(.exited(0)), now: t0, using: &random) }
        #expect(pool.reconcile(now: t0, using: &random).isEmpty && pool.isIdle, "and none starts again")
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
