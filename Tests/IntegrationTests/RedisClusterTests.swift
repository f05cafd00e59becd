import Foundation
import Glibc
import SoloKit
import Testing

/// Several supervisors (as on several hosts: each its own state directory and lock port) on
/// one Redis: a shared queue that survives the loss of a whole host, the list of live
/// supervisors, and the fleet-wide lock.
@Suite struct RedisClusterTests {
    let scratch = Scratch()
    let redis: RedisServer

    init() throws { redis = try RedisServer(scratch) }

    /// Writes NAME/solo.conf (its own state and lock port) and starts its supervisor.
    func supervisor(_ name: String, global: String = "", pools: String) throws -> RunningSupervisor {
        let port = try freePort()
        scratch.write("\(name)/solo.conf", "[global]\nlock_port = \(port)\nstate_dir = state\n\(global)\n\(pools)\n")
        return try RunningSupervisor(scratch, config: "\(name)/solo.conf", name: "supervisor-\(name)")
    }

    func status(_ name: String) throws -> JSON {
        let result = try runSolo(["status", "--json", "--config", "\(name)/solo.conf"], in: scratch)
        try #require(result.status == 0, "\(result.stderr)")
        return try JSON.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func cluster(_ name: String) throws -> [JSON] {
        let result = try runSolo(["status", "--cluster", "--json", "--config", "\(name)/solo.conf"], in: scratch)
        try #require(result.status == 0, "\(result.stderr)")
        return try JSON.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).arrayValue ?? []
    }

    @Test func threeSupervisorsShareAQueueAndLoseAHostWithoutLosingAJob() throws {
        scratch.write("work/worker.sh", RedisFaultTests.slowWorker, executable: true)
        let pool = "[feed]\ncommand = ./worker.sh\ndirectory = \(scratch.file("work"))\nworkers = 2\nqueue = \(redis.url)\n"
        let names = ["a", "b", "c"]
        var supervisors: [String: RunningSupervisor] = [:]
        for name in names { supervisors[name] = try supervisor(name, global: "lease = 3s", pools: pool) }
        let jobs = (1...1500).map { "job\($0)" }
        let push = try runSolo(["push", "--config", "a/solo.conf"], in: scratch, input: Array((jobs.joined(separator: "\n") + "\n").utf8))
        try #require(push.status == 0, "\(push.stderr)")

        try waitFor("three supervisors in solo status --cluster", seconds: 10) { (try? cluster("a").count) == 3 }
        let listed = try cluster("b")
        #expect(Set(listed.compactMap { $0["pools"]?.arrayValue?.first?["workers_running"]?.intValue }) == [2])
        let table = try runSolo(["status", "--cluster", "--config", "a/solo.conf"], in: scratch)
        #expect(table.stdout.hasPrefix("SUPERVISOR") && table.stdout.split(separator: "\n").count == 4, "\(table.stdout)")

        let handled = { FeedModeTests().handled(self.scratch).map(\.payload) }
        try waitFor("300 jobs done", seconds: 30) { handled().count >= 300 }
        let doomed = try ControlTests().livePids(status("c"), "feed")
        // A whole host dies: its supervisor SIGKILLed (its guardian takes its workers with it).
        supervisors["c"]!.child.signal(SIGKILL)
        try supervisors["c"]!.child.wait()
        try waitFor("c's workers gone") { doomed.allSatisfy { !isRunning(pid_t($0)) } }

        try waitFor("every job done", seconds: 90) { (try? redis.command("ZCARD", "solo:{feed}:done").integer) == 1500 }
        #expect(Set(handled()) == Set(jobs), "none lost")
        #expect(try redis.command("ZCARD", "solo:{feed}:dead").integer == 0)
        let tookBack = (supervisors["a"]!.lines(containing: "lease ran out") + supervisors["b"]!.lines(containing: "lease ran out"))
        #expect(!tookBack.isEmpty, "the others took c's jobs back after its lease")
        #expect(handled().count - 1500 <= 2 + 64, "at most c's jobs in hand and taken ahead ran twice")
        try waitFor("c gone from the list", seconds: 10) { (try? cluster("a").count) == 2 }
        for name in ["a", "b"] { #expect(try supervisors[name]!.stop() == 0) }
    }

    /// A worker for the lock tests: it notes when it starts and stops, with its fencing number.
    func lockWorker() -> String {
        scratch.write("work/locked.sh", """
            #!/bin/sh
            echo "start $SOLO_FENCE $(date +%s%N)" >> \(scratch.file("work/turns"))
            trap 'echo "stop $SOLO_FENCE $(date +%s%N)" >> \(scratch.file("work/turns")); exit 0' TERM
            while :; do sleep 0.05; done
            """, executable: true)
    }

    struct Turn { let start: Bool; let fence: Int; let ns: Int64 }

    func turns() -> [Turn] {
        scratch.read("work/turns").split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 3, let fence = Int(parts[1]), let ns = Int64(parts[2]) else { return nil }
            return Turn(start: parts[0] == "start", fence: fence, ns: ns)
        }
    }

    /// The supervisor's fleet lock role; nil while it does not answer (yet), without failing.
    func role(_ name: String) -> String? {
        guard let result = try? runSolo(["status", "--json", "--config", "\(name)/solo.conf"], in: scratch), result.status == 0 else { return nil }
        return (try? JSON.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))?["fleet_lock"]?["role"]?.stringValue
    }

    @Test func theFleetLockRunsThePoolsOnOneSupervisorAndPassesOnWhenItDies() throws {
        let worker = lockWorker()
        let global = "cluster_lock = nightly\ncluster_lock_ttl = 3s"
        let pool = "[report]\ncommand = \(worker)\nqueue = none\n"
        var supervisors: [String: RunningSupervisor] = [:]
        for name in ["a", "b", "c"] {
            supervisors[name] = try supervisor(name, global: global + "\ncluster_redis = \(redis.url)", pools: pool)
        }
        try waitFor("one holder", seconds: 10) { ["a", "b", "c"].filter { role($0) == "holding" }.count == 1 }
        try waitFor("its worker") { turns().count == 1 }
        let holder = ["a", "b", "c"].first { role($0) == "holding" }!
        for name in ["a", "b", "c"] where name != holder {
            #expect(role(name) == "standby")
            let pools = try status(name)["pools"]?.arrayValue ?? []
            #expect(pools.first?["workers_running"]?.intValue == 0 && pools.first?["state"]?.stringValue == "standby")
        }
        let text = try runSolo(["status", "--config", "\(holder)/solo.conf"], in: scratch)
        #expect(text.stdout.contains("fleet lock nightly: holding (fence \(turns()[0].fence))"), "\(text.stdout)")

        // The holder's host dies.
        let killed = Int64(Date().timeIntervalSince1970 * 1e9)
        supervisors[holder]!.child.signal(SIGKILL)
        try supervisors[holder]!.child.wait()
        let rest = ["a", "b", "c"].filter { $0 != holder }
        try waitFor("a new holder within the TTL (3s) and a bit", seconds: 6) { rest.filter { role($0) == "holding" }.count == 1 }
        try waitFor("its worker") { turns().filter(\.start).count == 2 }
        let second = turns().filter(\.start)[1]
        #expect(second.fence > turns()[0].fence, "a higher fencing number")
        #expect(second.ns > killed, "never two at once: the new worker started after the old one died")
        #expect(Double(second.ns - killed) / 1e9 < 4.5, "taken over \(Double(second.ns - killed) / 1e9)s after the holder died")

        // A clean stop frees the lock at once for the last one.
        let next = rest.first { role($0) == "holding" }!
        let last = rest.first { $0 != next }!
        #expect(try supervisors[next]!.stop() == 0)
        try waitFor("the last supervisor takes over", seconds: 3) { role(last) == "holding" }
        try waitFor("its worker") { turns().filter(\.start).count == 3 }
        let history = turns()
        let stop = try #require(history.first { !$0.start && $0.fence == second.fence })
        let third = history.filter(\.start)[2]
        #expect(third.fence > second.fence && third.ns > stop.ns, "the next worker starts after the last one stopped")
        #expect(Double(third.ns - stop.ns) / 1e9 < 1.5, "a released lock is taken at once, not after its TTL")
        #expect(try supervisors[last]!.stop() == 0)
        #expect(try redis.command("EXISTS", RedisScripts.lockKey("nightly")).integer == 0, "released at the stop")
    }

    /// A network split cuts the holder off from Redis while another supervisor still reaches
    /// it: the holder stops its worker before its lock runs out, and the other starts its own
    /// only after that, with a higher fencing number.
    @Test func aHolderCutOffFromRedisStopsBeforeAnotherTakesOver() throws {
        let worker = lockWorker()
        let relay = try SeverableRelay(to: redis.port)
        let pool = "[report]\ncommand = \(worker)\nqueue = none\n"
        let global = "cluster_lock = nightly\ncluster_lock_ttl = 3s\ncluster_redis = "
        let cutOff = try supervisor("a", global: global + "redis://127.0.0.1:\(relay.port)", pools: pool)
        try waitFor("a holds the lock", seconds: 10) { role("a") == "holding" }
        let other = try supervisor("b", global: global + redis.url, pools: pool)
        try waitFor("b stands by", seconds: 10) { role("b") == "standby" }
        try waitFor("a's worker") { turns().count == 1 }

        let cut = Int64(Date().timeIntervalSince1970 * 1e9)
        relay.sever()
        try waitFor("b takes over", seconds: 8) { role("b") == "holding" }
        try waitFor("b's worker") { turns().filter(\.start).count == 2 }
        let history = turns()
        let first = history[0]
        let stopped = try #require(history.first { !$0.start && $0.fence == first.fence }, "a's worker was stopped, not left running")
        let started = history.filter(\.start)[1]
        #expect(stopped.ns - cut < 3_000_000_000, "a stopped its worker within the TTL of the cut")
        #expect(started.fence > first.fence && started.ns > stopped.ns, "b's worker starts only after a's stopped")
        #expect(cutOff.log.contains("fleet lock nightly: no renewal for"), "\(cutOff.log)")
        #expect(role("a") == "standby")
        #expect(try other.stop() == 0)
        #expect(try cutOff.stop() == 0)
    }

    /// Redis restarts without its data: the holder takes its lock again as soon as it is back,
    /// and the standby, cut off too, waits a TTL before it tries, so it never starts a second set
    /// of workers.
    @Test func aRedisThatForgotTheLockGivesItBackToItsHolder() throws {
        let worker = lockWorker()
        let pool = "[report]\ncommand = \(worker)\nqueue = none\n"
        let global = "cluster_lock = nightly\ncluster_lock_ttl = 3s\ncluster_redis = \(redis.url)"
        let holder = try supervisor("a", global: global, pools: pool)
        try waitFor("a holds the lock", seconds: 10) { role("a") == "holding" }
        let standby = try supervisor("b", global: global, pools: pool)
        try waitFor("b stands by", seconds: 10) { role("b") == "standby" }
        try redis.kill()
        try redis.start()
        try holder.waitForLog("Redis had lost it", seconds: 10)
        for _ in 0..<20 {
            #expect(role("b") == "standby" && role("a") == "holding")
            usleep(200_000)
        }
        #expect(turns().filter(\.start).count == 1, "one worker, never two")
        #expect(try standby.stop() == 0)
        #expect(try holder.stop() == 0)
    }
}
