import Foundation
import Glibc
import SoloKit
import Testing

/// Steering a running supervisor through its control socket.
@Suite struct ControlTests {
    func setUp(_ scratch: Scratch, port: UInt16, pools: String) {
        scratch.write("work/worker.sh", FeedModeTests.worker(), executable: true)
        scratch.config(port: port, pools)
    }

    func status(_ scratch: Scratch, _ pool: String? = nil) throws -> JSON {
        let result = try runSolo(["status", "--json", "--config", "solo.conf"] + (pool.map { [$0] } ?? []), in: scratch)
        try #require(result.status == 0, "\(result.stderr)")
        return try JSON.parse(result.stdout.trimmed)
    }

    func workers(_ status: JSON, _ pool: String) -> [JSON] {
        status["pools"]?.arrayValue?.first { $0["name"]?.stringValue == pool }?["workers"]?.arrayValue ?? []
    }

    func livePids(_ status: JSON, _ pool: String) -> Set<Int> {
        Set(workers(status, pool).filter { ["ready", "busy", "starting"].contains($0["state"]?.stringValue ?? "") }.compactMap { $0["pid"]?.intValue })
    }

    @Test func statusShowsPoolsWorkersAndQueues() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port, pools: """
            [feed]
            command = ./worker.sh
            directory = work
            queue = sqlite:queue.db
            workers = 2
            memory_limit = 500M
            [poll]
            command = sleep 600
            queue = none
            """)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker", count: 3)
        #expect(try runSolo(["push", "--config", "solo.conf", "--queue", "feed", "slow"], in: scratch).status == 0)
        try waitFor("a busy worker") { (try? workers(status(scratch), "feed").contains { $0["state"]?.stringValue == "busy" }) == true }
        let json = try status(scratch)
        #expect(json["pid"]?.intValue == Int(supervisor.pid))
        let feed = try #require(json["pools"]?.arrayValue?.first)
        #expect(feed["name"]?.stringValue == "feed" && feed["mode"]?.stringValue == "feed" && feed["state"]?.stringValue == "running")
        #expect(feed["workers_wanted"]?.intValue == 2 && feed["workers_running"]?.intValue == 2)
        #expect(feed["queue"]?["reserved"]?.intValue == 1 && feed["queue"]?["ready"]?.intValue == 0)
        let busy = try #require(workers(json, "feed").first { $0["state"]?.stringValue == "busy" })
        #expect(busy["job"]?["id"]?.intValue == 1 && (busy["rss"]?.intValue ?? 0) > 100_000 && busy["job_limit"]?.intValue != nil)
        let text = try runSolo(["status", "--config", "solo.conf"], in: scratch)
        #expect(text.stdout.contains("feed: running, 2/2 workers, feed mode"))
        #expect(text.stdout.contains("queue feed: 0 ready, 0 delayed, 1 reserved, 0 dead"))
        #expect(text.stdout.contains("poll: running, 1/1 workers, poll mode"))
        #expect(text.stdout.contains("/500M"), "RSS against the limit")
        let unknown = try runSolo(["status", "fed", "--config", "solo.conf"], in: scratch)
        #expect(unknown.status == 1 && unknown.stderr.contains("no pool fed (did you mean feed?)"))
        #expect(try supervisor.stop() == 0)
        let gone = try runSolo(["status", "--config", "solo.conf"], in: scratch)
        #expect(gone.status == 3 && gone.stderr.contains("no supervisor runs for"))
    }

    @Test func stopStartAndScale() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port, pools: "[feed]\ncommand = ./worker.sh\ndirectory = work\nqueue = sqlite:queue.db\nworkers = 2\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker", count: 2)
        let before = try livePids(status(scratch), "feed")

        #expect(try runSolo(["scale", "feed", "4", "--config", "solo.conf"], in: scratch).status == 0)
        try waitFor("four workers") { (try? livePids(status(scratch), "feed").count) == 4 }
        #expect(try livePids(status(scratch), "feed").isSuperset(of: before), "scaling up leaves the others alone")
        #expect(try runSolo(["scale", "feed", "1", "--config", "solo.conf"], in: scratch).status == 0)
        try waitFor("one worker") { (try? workers(status(scratch), "feed").count) == 1 }
        #expect(try livePids(status(scratch), "feed").isSubset(of: before), "the lowest slot stayed")

        supervisor.child.signal(SIGTTIN)
        try waitFor("SIGTTIN adds one") { (try? livePids(status(scratch), "feed").count) == 2 }
        supervisor.child.signal(SIGTTOU)
        try waitFor("SIGTTOU takes one") { (try? workers(status(scratch), "feed").count) == 1 }

        #expect(try runSolo(["stop", "feed", "--config", "solo.conf"], in: scratch).status == 0)
        try waitFor("the pool stopped") {
            (try? status(scratch)).map { $0["pools"]?.arrayValue?.first?["state"]?.stringValue == "stopped" && livePids($0, "feed").isEmpty } == true
        }
        #expect(try runSolo(["push", "--config", "solo.conf", "kept"], in: scratch).status == 0)
        #expect(try status(scratch)["pools"]?.arrayValue?.first?["queue"]?["ready"]?.intValue == 1, "jobs wait while the pool is stopped")
        #expect(try runSolo(["start", "feed", "--config", "solo.conf"], in: scratch).status == 0)
        try waitFor("the job after start") { scratch.read("work/handled").contains(" kept ") }
        #expect(try supervisor.stop() == 0)
    }

    @Test func aRollingRestartNeverLeavesThePoolEmpty() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port, pools: "[feed]\ncommand = ./worker.sh\ndirectory = work\nqueue = sqlite:queue.db\nworkers = 3\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker", count: 3)
        let old = try livePids(status(scratch), "feed")
        let jobs = Array((1...300).map { "j\($0)" }.joined(separator: "\n").utf8) + [10]
        #expect(try runSolo(["push", "--config", "solo.conf"], in: scratch, input: jobs).status == 0)
        #expect(try runSolo(["restart", "feed", "--config", "solo.conf"], in: scratch).status == 0)
        var fewest = 3
        try waitFor("every worker replaced") {
            guard let now = try? status(scratch) else { return false }
            let live = livePids(now, "feed")
            fewest = min(fewest, live.count)
            return live.count == 3 && live.isDisjoint(with: old)
        }
        #expect(fewest >= 2, "one worker at a time: at least two of three stayed up (fewest \(fewest))")
        let restarts = supervisor.lines(containing: "restart requested")
        #expect(restarts.count == 3)
        try waitFor("every job done") { scratch.read("work/handled").split(separator: "\n").count == 300 }
        #expect(try supervisor.stop() == 0)
    }

    /// One request with a lone UTF-16 surrogate once killed the supervisor (an overflow in the
    /// JSON parser), and the guardian then every worker: now it is an error reply.
    @Test func aMalformedRequestGetsAnErrorAndTheSupervisorRunsOn() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port, pools: "[poll]\ncommand = sleep 600\nqueue = none\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        let socket = try UnixSocket.connect(to: scratch.file("state/run/solo.sock"))
        defer { socket.close() }
        try socket.writeAll(#"{"command":"status","pool":"\ud800\u0041"}"# + "\n")
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        try waitFor("a reply line") {
            if Poll.wait(socket, milliseconds: 10).any, case .bytes(let n)? = try? socket.read(into: &chunk) { reply += chunk[0..<n] }
            return reply.contains(UInt8(ascii: "\n")) || !isRunning(supervisor.pid)
        }
        let answer = try JSON.parse(String(decoding: reply, as: UTF8.self).trimmed)
        #expect(answer["ok"]?.boolValue == false && answer["error"]?.stringValue?.contains("surrogate") == true, "\(answer.text)")
        #expect(isRunning(supervisor.pid))
        #expect(try runSolo(["status", "--config", "solo.conf"], in: scratch).status == 0)
        #expect(try supervisor.stop() == 0)
    }

    @Test(.enabled(if: getuid() == 0, "needs root to be a second user"))
    func onlyRootAndSolosOwnUserMaySteerIt() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o755)
        let port = try freePort()
        setUp(scratch, port: port, pools: "[poll]\ncommand = sleep 600\nqueue = none\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        let socket = scratch.file("state/run/solo.sock")
        var info = stat()
        #expect(stat(socket, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(stat(scratch.file("state/run"), &info) == 0 && info.st_mode & 0o777 == 0o700)

        func asNobody() throws -> (status: SoloKit.ExitStatus?, output: String) {
            let output = try FileDescriptor.open(scratch.file("nobody.out"), O_WRONLY | O_CREAT | O_TRUNC, mode: 0o666)
            defer { output.close() }
            var request = SpawnRequest(path: soloBinary, arguments: [soloBinary, "status", "--config", scratch.file("solo.conf")],
                                       environment: ["PATH=/usr/bin:/bin"], directory: "/", descriptors: [nil, output, output])
            request.credentials = Credentials(uid: 65534, gid: 65534, groups: [65534])
            return (Processes.wait(for: try spawn(request)), scratch.read("nobody.out"))
        }
        // The file modes keep another user out...
        let denied = try asNobody()
        #expect(denied.status == .exited(1) && denied.output.contains("Permission denied"), "\(denied.output)")
        // ...and so does the peer check behind them, should the modes be opened.
        chmod(scratch.file("state"), 0o755)
        chmod(scratch.file("state/run"), 0o777)
        chmod(socket, 0o777)
        let refused = try asNobody()
        #expect(refused.status == .exited(1) && refused.output.contains("permission denied: uid 65534 may not steer this solo"), "\(refused.output)")
        try supervisor.waitForLog("control socket: refused uid 65534")
        #expect(try runSolo(["status", "--config", "solo.conf"], in: scratch).status == 0, "root still may")
        #expect(try supervisor.stop() == 0)
    }
}

@Suite struct LogsCommandTests {
    @Test func recentOutputAndFollowing() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("talk.sh", "#!/bin/sh\nn=0\nwhile :; do n=$((n + 1)); echo \"line $n\"; sleep 0.05; done\n", executable: true)
        scratch.config(port: port, "[talk]\ncommand = ./talk.sh\nqueue = none\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("talk[0]", count: 5)
        let recent = try runSolo(["logs", "talk", "-n", "3", "--config", "solo.conf"], in: scratch)
        #expect(recent.status == 0)
        let lines = recent.stdout.split(separator: "\n")
        #expect(lines.count == 3 && lines.allSatisfy { $0.contains(" talk[0] ") && $0.contains(": line ") }, "\(lines)")

        let follower = try Child(["logs", "talk", "-n", "0", "-f", "--config", "solo.conf"], in: scratch, name: "follower")
        try waitFor("followed lines") { follower.stdout.split(separator: "\n").count >= 5 }
        #expect(follower.stdout.split(separator: "\n").allSatisfy { $0.contains(": line ") })
        #expect(try supervisor.stop() == 0)
        #expect(try follower.wait() == 0, "following ends when the supervisor stops")
        #expect(follower.stdout.contains("solo: pool talk: worker 0"), "solo's own lines about the pool are there too")

        let afterStop = try runSolo(["logs", "talk", "--config", "solo.conf"], in: scratch)
        #expect(afterStop.status == 3 && afterStop.stderr.contains("no supervisor runs"))
    }
}

@Suite struct ReloadTests {
    func pools(_ scratch: Scratch) throws -> [String: Set<Int>] {
        let result = try runSolo(["status", "--json", "--config", "solo.conf"], in: scratch)
        try #require(result.status == 0, "\(result.stderr)")
        var live: [String: Set<Int>] = [:]
        for pool in try JSON.parse(result.stdout.trimmed)["pools"]?.arrayValue ?? [] {
            let workers = (pool["workers"]?.arrayValue ?? []).filter { ["ready", "busy", "starting"].contains($0["state"]?.stringValue ?? "") }
            live[pool["name"]?.stringValue ?? ""] = Set(workers.compactMap { $0["pid"]?.intValue })
        }
        return live
    }

    /// Pools of two sleepers; "name:key = value" adds (or, for workers, replaces) a key.
    func config(_ scratch: Scratch, port: UInt16, _ sections: [String]) {
        scratch.config(port: port, sections.map { section in
            let parts = section.split(separator: ":", maxSplits: 1).map(String.init)
            let extra = parts.count > 1 ? parts[1] + "\n" : ""
            let workers = extra.hasPrefix("workers") ? "" : "workers = 2\n"
            return "[\(parts[0])]\ncommand = sleep 600\nqueue = none\n\(workers)\(extra)"
        }.joined(separator: "\n"))
    }

    @Test func reloadAppliesOnlyWhatChanged() throws {
        let scratch = Scratch()
        let port = try freePort()
        config(scratch, port: port, ["same", "changed:environment = A=1", "gone"])
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker", count: 6)
        let before = try pools(scratch)

        config(scratch, port: port, ["same", "changed:environment = A=2", "added"])
        let reload = try runSolo(["reload", "--config", "solo.conf"], in: scratch)
        #expect(reload.status == 0, "\(reload.stderr)")
        #expect(reload.stdout == "started: added\nrolled: changed\nstopping: gone\nleft alone: same\n")
        try waitFor("the new state") {
            guard let now = try? pools(scratch) else { return false }
            return now["gone"] == nil && now["added"]?.count == 2 && now["changed"]?.count == 2 && now["changed"]!.isDisjoint(with: before["changed"]!)
        }
        let after = try pools(scratch)
        #expect(after["same"] == before["same"], "an unchanged pool's workers survive")
        #expect(supervisor.log.contains("pool gone: removed"))

        // A broken config is refused with file:line, and nothing changes.
        scratch.write("solo.conf", scratch.read("solo.conf") + "\n[broken]\ncommand = x\nworkers = lots\n")
        let refused = try runSolo(["reload", "--config", "solo.conf"], in: scratch)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("solo.conf:") && refused.stderr.contains("workers: \"lots\" is not a whole number"))
        #expect(refused.stderr.contains("nothing changed"))
        #expect(try pools(scratch) == after)

        // SIGHUP does the same as solo reload.
        config(scratch, port: port, ["same", "changed:environment = A=2", "added:workers = 3"])
        supervisor.child.signal(SIGHUP)
        try waitFor("SIGHUP's scaling") { (try? pools(scratch)["added"]?.count) == 3 }
        #expect(try pools(scratch)["added"]!.isSuperset(of: after["added"]!), "a count change only scales: the others stay")
        #expect(try supervisor.stop() == 0)
    }

    /// A job a worker holds when a reload moves its pool to another queue file, or removes the
    /// pool, is finished in the file it came from: not lost, not run again.
    @Test func jobsInHandFinishInTheFileTheyCameFrom() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("work/holder.sh", """
            #!/bin/sh
            echo ready >&3
            while IFS= read -r job; do
                echo "$job" >> handled
                n=0; while [ ! -e release ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done
                echo "ok $job" >&3
            done
            """, executable: true)
        func section(_ name: String, _ file: String, _ queueName: String) -> String {
            "[\(name)]\ncommand = ./holder.sh\ndirectory = work\nqueue = sqlite:\(file)\nqueue_name = \(queueName)\nworkers = 1\n"
        }
        scratch.config(port: port, section("mover", "a.db", "moving") + section("leaver", "a.db", "leaving"))
        let supervisor = try RunningSupervisor(scratch)
        for queue in ["moving", "leaving"] {
            let push = try runSolo(["push", "--config", "solo.conf", "--queue", queue, "held-\(queue)"], in: scratch)
            try #require(push.status == 0, "\(push.stderr)")
        }
        try waitFor("both jobs in hand") { scratch.read("work/handled").split(separator: "\n").count == 2 }

        scratch.config(port: port, section("mover", "b.db", "moving"))
        let reload = try runSolo(["reload", "--config", "solo.conf"], in: scratch)
        #expect(reload.stdout == "rolled: mover\nstopping: leaver\n", "\(reload.stderr)")
        scratch.write("work/release", "")
        let store = try JobStore(path: scratch.file("a.db"), create: false, busyTimeout: 5000)
        func states() -> [String: [Int]] {
            Dictionary(uniqueKeysWithValues: ((try? store.counts()) ?? []).map { ($0.queue, [$0.ready, $0.reserved, $0.done]) })
        }
        try waitFor("both jobs done in a.db") { states() == ["moving": [0, 0, 1], "leaving": [0, 0, 1]] }
        try waitFor("the pool removed") { supervisor.log.contains("pool leaver: removed") }
        #expect(scratch.read("work/handled").split(separator: "\n").count == 2, "no job ran twice")
        #expect(try supervisor.stop() == 0)
    }
}

@Suite struct AutoscalingTests {
    func pool(_ scratch: Scratch) throws -> JSON {
        let result = try runSolo(["status", "--json", "--config", "solo.conf"], in: scratch)
        try #require(result.status == 0, "\(result.stderr)")
        return try #require(try JSON.parse(result.stdout.trimmed)["pools"]?.arrayValue?.first)
    }

    /// `workers = 1-4`: a filled queue grows the pool to 4, doubling; once it is empty and a
    /// cooldown has passed, the pool shrinks back to 1. `solo scale` pins it or sets a new range.
    @Test func aPoolGrowsWithItsQueueAndShrinksWhenIdle() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("work/slow.sh", """
            #!/bin/sh
            echo ready >&3
            while IFS= read -r job; do sleep 0.15; echo ok >&3; done
            """, executable: true)
        scratch.config(port: port, "[scaled]\ncommand = ./slow.sh\ndirectory = work\nqueue = sqlite:queue.db\nworkers = 1-4\nscale_cooldown = 1s\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker")
        var status = try pool(scratch)
        #expect(status["scaling"]?["min"]?.intValue == 1 && status["scaling"]?["max"]?.intValue == 4)
        #expect(status["workers_wanted"]?.intValue == 1)

        let push = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array((1...60).map { "job\($0)\n" }.joined().utf8))
        try #require(push.status == 0, "\(push.stderr)")
        try waitFor("the pool to grow to 4 workers, all running") {
            guard let now = try? pool(scratch) else { return false }
            return now["workers_wanted"]?.intValue == 4 && now["workers_running"]?.intValue == 4
        }
        #expect(supervisor.log.contains("pool scaled: 1 → 2 workers ("), "\(supervisor.log)")
        #expect(supervisor.log.contains("pool scaled: 2 → 4 workers ("), "doubling, not one at a time")
        try waitFor("the queue to be done", seconds: 20) {
            guard let queue = try? pool(scratch)["queue"] else { return false }
            return queue["ready"]?.intValue == 0 && queue["reserved"]?.intValue == 0
        }
        try waitFor("the pool to shrink back to 1 after its cooldown") { (try? pool(scratch)["workers_wanted"]?.intValue) == 1 }
        #expect(supervisor.log.contains("pool scaled: 4 → 1 workers (at most"), "\(supervisor.log)")

        // solo scale N pins the pool; solo scale MIN-MAX makes it scale again.
        let pin = try runSolo(["scale", "scaled", "2", "--config", "solo.conf"], in: scratch)
        #expect(pin.status == 0, "\(pin.stderr)")
        status = try pool(scratch)
        #expect(status["scaling"] == .null && status["workers_wanted"]?.intValue == 2)
        let range = try runSolo(["scale", "scaled", "3-5", "--config", "solo.conf"], in: scratch)
        #expect(range.status == 0, "\(range.stderr)")
        status = try pool(scratch)
        #expect(status["scaling"]?["min"]?.intValue == 3 && status["scaling"]?["max"]?.intValue == 5 && status["workers_wanted"]?.intValue == 3)
        let human = try runSolo(["status", "--config", "solo.conf"], in: scratch)
        #expect(human.stdout.contains("workers (scaling 3-5)"), "\(human.stdout)")
        let bad = try runSolo(["scale", "scaled", "5-3", "--config", "solo.conf"], in: scratch)
        #expect(bad.status == 2 && bad.stderr.contains("solo scale: \"5-3\" is backwards (write 3-5)"), "\(bad.stderr)")
        #expect(try supervisor.stop() == 0)
    }
}
