import Foundation
import Glibc
import SoloKit
import Testing

/// `solo stop|start|restart POOL...|all [--wait]` and `solo shutdown`, against a real supervisor.
@Suite struct SteeringTests {
    /// Pools of sleepers (poll mode, one worker each, ready at once).
    func setUp(_ scratch: Scratch, port: UInt16, _ names: [String], extra: String = "") {
        scratch.write("sleeper.sh", "#!/bin/sh\necho ready >&3\nexec sleep 600\n", executable: true)
        scratch.config(port: port, names.map { "[\($0)]\ncommand = ./sleeper.sh\nqueue = none\n\(extra)" }.joined(separator: "\n"))
    }

    func solo(_ arguments: [String], _ scratch: Scratch, seconds: Double = 15) throws -> (status: Int32, stdout: String, stderr: String) {
        try runSolo(arguments + ["--config", "solo.conf"], in: scratch, seconds: seconds)
    }

    struct NoStatus: Error { let stderr: String }

    /// Each pool's state and the pids of its workers that are ready or busy.
    func pools(_ scratch: Scratch) throws -> [String: (state: String, ready: Set<Int>, pids: Set<Int>)] {
        let result = try solo(["status", "--json"], scratch)
        guard result.status == 0 else { throw NoStatus(stderr: result.stderr) }
        var pools: [String: (state: String, ready: Set<Int>, pids: Set<Int>)] = [:]
        for pool in try JSON.parse(result.stdout.trimmed)["pools"]?.arrayValue ?? [] {
            let workers = pool["workers"]?.arrayValue ?? []
            let ready = workers.filter { ["ready", "busy"].contains($0["state"]?.stringValue ?? "") }.compactMap { $0["pid"]?.intValue }
            pools[pool["name"]?.stringValue ?? ""] = (pool["state"]?.stringValue ?? "", Set(ready), Set(workers.compactMap { $0["pid"]?.intValue }))
        }
        return pools
    }

    @Test func restartStartsAStoppedPool() throws {
        let scratch = Scratch()
        setUp(scratch, port: try freePort(), ["a"])
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        #expect(try solo(["stop", "a"], scratch).status == 0)
        try waitFor("a stopped, its worker gone") { (try? pools(scratch)["a"]).map { $0.state == "stopped" && $0.pids.isEmpty } == true }
        let restart = try solo(["restart", "a"], scratch)
        #expect(restart.status == 0, "\(restart.stderr)")
        try waitFor("a running again") { (try? pools(scratch)["a"]).map { $0.state == "running" && $0.ready.count == 1 } == true }
        #expect(supervisor.log.contains("pool a: starting it (solo restart)"))
        #expect(try supervisor.stop() == 0)
    }

    @Test func severalPoolsAllAndWaiting() throws {
        let scratch = Scratch()
        setUp(scratch, port: try freePort(), ["a", "b", "c"])
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("three ready workers") { (try? pools(scratch)).map { $0.values.allSatisfy { $0.ready.count == 1 } } == true }
        let before = try pools(scratch)

        // A name that is no pool: refused, and nothing done to the others.
        let typo = try solo(["stop", "a", "bee"], scratch)
        #expect(typo.status == 1 && typo.stderr.contains("no pool bee (did you mean b?)"), "\(typo.stderr)")
        #expect(try pools(scratch)["a"]?.state == "running")

        // --wait returns once the workers are gone: no polling needed after it.
        let stop = try solo(["stop", "a", "b", "--wait"], scratch)
        #expect(stop.status == 0, "\(stop.stderr)")
        var now = try pools(scratch)
        #expect(now["a"]?.state == "stopped" && now["a"]?.pids.isEmpty == true && now["b"]?.state == "stopped" && now["b"]?.pids.isEmpty == true)
        #expect(now["c"]?.pids == before["c"]?.pids, "c untouched")

        let start = try solo(["start", "all", "--wait"], scratch)
        #expect(start.status == 0, "\(start.stderr)")
        now = try pools(scratch)
        #expect(now.values.allSatisfy { $0.state == "running" && $0.ready.count == 1 }, "\(now)")

        // A restart with --wait returns once every worker is replaced and the old ones are gone.
        let restart = try solo(["restart", "all", "--wait"], scratch)
        #expect(restart.status == 0, "\(restart.stderr)")
        let after = try pools(scratch)
        for name in ["a", "b", "c"] {
            #expect(after[name]?.ready.count == 1 && after[name]?.pids == after[name]?.ready, "\(name): only new, ready workers")
            #expect(after[name]?.pids.isDisjoint(with: now[name]!.pids) == true, "\(name) restarted")
        }
        for pid in now.values.flatMap(\.pids) { #expect(!isRunning(pid_t(pid)), "old worker \(pid) gone") }
        #expect(try supervisor.stop() == 0)
    }

    @Test func waitGivesUpAfterItsTimeout() throws {
        let scratch = Scratch()
        scratch.write("stubborn.sh", "#!/bin/sh\ntrap '' TERM\necho ready >&3\nwhile :; do sleep 0.1; done\n", executable: true)
        scratch.config(port: try freePort(), "[stubborn]\ncommand = ./stubborn.sh\nqueue = none\nstop_timeout = 60s\n")
        let supervisor = try RunningSupervisor(scratch)
        defer {
            // Two TERMs: the second kills the worker that ignores the first.
            supervisor.child.signal(SIGTERM)
            try? supervisor.waitForLog("stopping every pool")
            supervisor.child.signal(SIGTERM)
            _ = try? supervisor.child.wait()
        }
        try supervisor.waitForLog("started worker 0")
        let started = Date()
        let stop = try solo(["stop", "stubborn", "--wait", "--timeout", "1s"], scratch)
        #expect(stop.status == 124 && stop.stderr.contains("solo stop: not done within 1s"), "\(stop.status) \(stop.stderr)")
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try pools(scratch)["stubborn"].map { $0.state == "stopped" && $0.pids.count == 1 } == true, "still stopping")
        let bad = try solo(["stop", "stubborn", "--timeout", "1s"], scratch)
        #expect(bad.status == 2 && bad.stderr.contains("--timeout goes with --wait"))
    }

    /// Refused before any supervisor is asked: the count's problem, not the generic usage.
    @Test func scaleSaysTheLimit() throws {
        let scratch = Scratch()
        setUp(scratch, port: try freePort(), ["a"])
        let scale = try solo(["scale", "a", "5000"], scratch)
        #expect(scale.status == 2 && scale.stderr == "solo scale: 5000 workers is too many: a pool runs at most 4096\n", "\(scale.stderr)")
    }

    @Test func shutdownReturnsOnceTheSupervisorHasExited() throws {
        let scratch = Scratch()
        setUp(scratch, port: try freePort(), ["a", "b"])
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("two ready workers") { (try? pools(scratch)).map { $0.values.allSatisfy { $0.ready.count == 1 } } == true }
        let workers = try pools(scratch).values.flatMap(\.pids)
        let shutdown = try solo(["shutdown"], scratch)
        #expect(shutdown.status == 0, "\(shutdown.stderr)")
        #expect(!isRunning(supervisor.pid), "the supervisor has exited when shutdown returns")
        for pid in workers { #expect(!isRunning(pid_t(pid)), "worker \(pid) gone") }
        #expect(try supervisor.child.wait() == 0)
        #expect(supervisor.log.contains("solo shutdown: stopping every pool gracefully"))
        let again = try solo(["shutdown"], scratch)
        #expect(again.status == 3 && again.stderr.contains("no supervisor runs for"), "\(again.stderr)")
    }
}

/// What workers write reaches a terminal escaped (`solo status`, `solo logs`, solo's log).
@Suite struct HostileOutputTests {
    @Test func escapesFromAWorkerAreShownEscaped() throws {
        let scratch = Scratch()
        scratch.write("hostile.sh", """
            #!/bin/sh
            printf 'status \\033]0;pwned\\007\\033[2J\\n' >&3
            printf 'garb\\000age \\033[31m\\n' >&3
            printf 'out \\033[2J\\n'
            echo ready >&3
            exec sleep 600
            """, executable: true)
        scratch.config(port: try freePort(), "[hostile]\ncommand = ./hostile.sh\nqueue = none\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("invalid line on fd 3")
        try supervisor.waitForLog("out \\x1b[2J")

        let status = try runSolo(["status", "--config", "solo.conf"], in: scratch)
        #expect(status.status == 0 && status.stdout.contains("status: \\x1b]0;pwned\\x07\\x1b[2J"), "\(status.stdout)")
        #expect(!status.stdout.contains("\u{1B}"), "no raw ESC in solo status")
        let json = try runSolo(["status", "--json", "--config", "solo.conf"], in: scratch)
        #expect(json.stdout.contains(#""status":"\u001b]0;pwned\u0007\u001b[2J""#), "JSON stays exact: \(json.stdout)")

        #expect(supervisor.log.contains("garb\\x00age \\x1b[31m"), "\(supervisor.log)")
        #expect(!supervisor.log.contains("\u{1B}") && !supervisor.log.contains("\u{0}"), "no raw ESC or NUL in solo's log")
        let logs = try runSolo(["logs", "hostile", "--config", "solo.conf"], in: scratch)
        #expect(logs.stdout.contains("out \\x1b[2J") && !logs.stdout.contains("\u{1B}"), "\(logs.stdout)")
        #expect(try supervisor.stop() == 0)
    }
}
