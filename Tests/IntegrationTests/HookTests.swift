import Foundation
import Glibc
import SoloKit
import Testing

/// `on_event` hooks and `alert_queue_age`, with real workers, a real queue file and real hooks.
@Suite struct HookRunTests {
    /// A hook that appends one line of its variables to hooks.log, and says on stdout what it saw.
    static let hook = """
        #!/bin/sh
        printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\\n' "$SOLO_EVENT" "$SOLO_POOL" "$SOLO_PID" "$SOLO_SLOT" "$SOLO_REASON" \
            "$SOLO_EXIT" "$SOLO_JOB_ID" "$SOLO_QUEUE" "$SOLO_ERROR" "$SOLO_HOST" >> "$HOOK_LOG"
        echo "saw $SOLO_EVENT of ${SOLO_POOL:-no pool}"
        """

    struct Run {
        let event, pool, pid, slot, reason, exit, job, queue, error, host: String
    }

    func runs(_ scratch: Scratch) -> [Run] {
        scratch.read("hooks.log").split(separator: "\n").map { line in
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init) + Array(repeating: "", count: 10)
            return Run(event: f[0], pool: f[1], pid: f[2], slot: f[3], reason: f[4], exit: f[5], job: f[6], queue: f[7], error: f[8], host: f[9])
        }
    }

    func setUp(_ scratch: Scratch, port: UInt16, global: String = "", _ pools: String) {
        scratch.write("hook.sh", Self.hook, executable: true)
        scratch.write("work/worker.sh", FeedModeTests.worker(), executable: true)
        scratch.config(port: port, global: "on_event = ./hook.sh\n\(global)", pools)
    }

    var environment: (Scratch) -> [String: String] {
        { scratch in ProcessInfo.processInfo.environment.merging(["HOOK_LOG": scratch.file("hooks.log")]) { $1 } }
    }

    @Test func aCrashAMemoryRecycleAndADeadJobEachRunTheHookOnceWithTheirFacts() throws {
        let scratch = Scratch()
        setUp(scratch, port: try freePort(), """
            [crasher]
            queue = none
            command = ./crash.sh
            [grow]
            queue = none
            command = ./grow.sh
            memory_limit = 20M
            memory_interval = 100ms
            stop_timeout = 2s
            [feed]
            command = ./worker.sh
            directory = work
            queue = sqlite:queue.db
            """)
        // Each misbehaves once: the crasher dies at once, the grower's first tree grows past 20M.
        scratch.write("crash.sh", "#!/bin/sh\nif [ ! -e crashed ]; then touch crashed; echo $$ > crashed.pid; exit 3; fi\nexec sleep 600\n", executable: true)
        scratch.write("grow.sh", """
            #!/bin/sh
            if [ -e grown ]; then exec sleep 600; fi
            touch grown; echo $$ > grown.pid
            ( x=$(head -c 40000000 /dev/zero | tr '\\0' a); sleep 600 ) &
            wait
            """, executable: true)
        let supervisor = try RunningSupervisor(scratch, environment: environment(scratch))
        try supervisor.waitForLog("started worker 0", count: 3)
        try pushAJobThatDies(scratch)
        try waitFor("the three hooks' runs in hooks.log: \(scratch.read("hooks.log"))\nlog:\n\(supervisor.log)", seconds: 30) {
            Set(runs(scratch).map(\.event)).isSuperset(of: ["crash", "recycle", "job_dead"])
        }
        try supervisor.waitForLog("hook job_dead (pid ")
        try supervisor.waitForLog("saw job_dead of feed")
        // Anything more would come within a second; then the supervisor stops (which is no event).
        usleep(1_000_000)
        #expect(try supervisor.stop() == 0)

        let all = runs(scratch)
        #expect(all.map(\.event).sorted() == ["crash", "job_dead", "recycle"], "once each: \(all)")
        let crash = try #require(all.first { $0.event == "crash" })
        #expect(crash.pool == "crasher" && crash.pid == scratch.read("crashed.pid").trimmed && crash.slot == "0")
        #expect(crash.reason == "died" && crash.exit == "crashed: exit status 3")
        let recycle = try #require(all.first { $0.event == "recycle" })
        #expect(recycle.pool == "grow" && recycle.pid == scratch.read("grown.pid").trimmed && recycle.reason == "memory")
        #expect(recycle.exit.hasPrefix("recycled: memory ("), "\(recycle.exit)")
        let dead = try #require(all.first { $0.event == "job_dead" })
        #expect(dead.pool == "feed" && dead.job == "1" && dead.queue == "feed" && dead.error == "nope" && dead.reason == "failed")
        #expect(all.allSatisfy { !$0.host.isEmpty })
        #expect(supervisor.lines(containing: "hook crash (pid ").contains { $0.contains("saw crash of crasher") }, "its output is in the log")
    }

    /// Pushes the job the worker fails for good: its job_dead runs the hook.
    func pushAJobThatDies(_ scratch: Scratch) throws {
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array("always-fail\n".utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")
    }

    /// Pushes 20 jobs and waits until the worker has handled every one: feeding goes on.
    func pushTwentyJobsAndSeeThemDone(_ scratch: Scratch, _ when: String) throws {
        let jobs = (1...20).map { "job\($0)" }
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array((jobs.joined(separator: "\n") + "\n").utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")
        try waitFor("the 20 jobs done \(when)") {
            Set(scratch.read("work/handled").split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) })
                .isSuperset(of: jobs)
        }
    }

    @Test func aHookThatHangsIsKilledAtItsTimeoutWhileJobsFlow() throws {
        let scratch = Scratch()
        setUp(scratch, port: try freePort(), global: "hook_timeout = 8s", """
            [feed]
            command = ./worker.sh
            directory = work
            queue = sqlite:queue.db
            on_event = ./hang.sh
            """)
        // The hook and a child of its own hang; both go at the timeout (its process group).
        scratch.write("hang.sh", "#!/bin/sh\necho $$ > hang.pid\nsleep 600 &\necho $! > hang-child.pid\nwait\n", executable: true)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        try pushAJobThatDies(scratch)
        try waitFor("the hook to start") { !scratch.read("work/hang-child.pid").isEmpty }
        let hook = pid_t(scratch.read("work/hang.pid").trimmed) ?? 0, child = pid_t(scratch.read("work/hang-child.pid").trimmed) ?? 0
        defer { for pid in [hook, child] where pid > 1 && isRunning(pid) { kill(pid, SIGKILL) } }

        try pushTwentyJobsAndSeeThemDone(scratch, "while the hook hangs")
        #expect(isRunning(hook) && !supervisor.log.contains("ran over hook_timeout"), "the jobs did not wait for the hook")

        try supervisor.waitForLog("hook job_dead (pid \(hook)) ran over hook_timeout (8s): killed with its process group", seconds: 15)
        try waitFor("the hook and its child gone") { !isRunning(hook) && !isRunning(child) }
        #expect(try supervisor.stop() == 0)
    }

    /// A hook that prints without end (`yes`) neither floods the log nor holds up the loop:
    /// its output past 64 KiB is not read, its pipe is closed, and jobs flow meanwhile.
    @Test func aHookThatFloodsItsOutputHoldsNothingUp() throws {
        let scratch = Scratch()
        setUp(scratch, port: try freePort(), global: "hook_timeout = 30s", """
            [feed]
            command = ./worker.sh
            directory = work
            queue = sqlite:queue.db
            on_event = ./flood.sh
            """)
        scratch.write("flood.sh", "#!/bin/sh\necho $$ > flood.pid\nexec yes flood line from a hook\n", executable: true)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        try pushAJobThatDies(scratch)
        try supervisor.waitForLog("its output beyond 64 KiB is not read; its pipe is closed", seconds: 15)
        try pushTwentyJobsAndSeeThemDone(scratch, "after the flood")
        #expect(try runSolo(["status", "--config", "solo.conf"], in: scratch, seconds: 5).status == 0, "the loop answers")
        let flooded = supervisor.lines(containing: "flood line from a hook").count
        #expect(flooded > 100 && flooded < 4000, "\(flooded) lines logged: 64 KiB of them at most")
        #expect(try supervisor.stop() == 0)
    }

    @Test func theFleetLockGainedAndLostRunTheGlobalHook() throws {
        let scratch = Scratch()
        let redis = try RedisServer(scratch)
        let relay = try SeverableRelay(to: redis.port)
        setUp(scratch, port: try freePort(), global: "cluster_lock = nightly\ncluster_lock_ttl = 3s\ncluster_redis = redis://127.0.0.1:\(relay.port)",
              "[report]\ncommand = sleep 600\nqueue = none\n")
        let supervisor = try RunningSupervisor(scratch, environment: environment(scratch))
        try waitFor("the lock_gained hook", seconds: 10) { runs(scratch).contains { $0.event == "lock_gained" } }
        try supervisor.waitForLog("started worker 0")
        relay.sever()
        try waitFor("the lock_lost hook", seconds: 10) { runs(scratch).contains { $0.event == "lock_lost" } }
        try supervisor.waitForLog("hook lock_lost (pid ")
        #expect(try supervisor.stop() == 0)

        let all = runs(scratch)
        #expect(all.map(\.event) == ["lock_gained", "lock_lost"], "once each: \(all)")
        #expect(all.allSatisfy { $0.pool.isEmpty && !$0.reason.isEmpty })
        #expect(all[0].reason.hasPrefix("fleet lock nightly held (fence "), "\(all[0].reason)")
        #expect(supervisor.lines(containing: "hook lock_lost (pid ").contains { $0.contains("saw lock_lost of no pool") }, "\(supervisor.log)")
    }

    @Test func anAlertFiresOnceWhenTheOldestJobWaitsTooLongAndClearsOnce() throws {
        let scratch = Scratch()
        let metricsPort = try freePort()
        setUp(scratch, port: try freePort(), global: "metrics_listen = 127.0.0.1:\(metricsPort)", """
            [feed]
            command = ./worker.sh
            directory = work
            queue = sqlite:queue.db
            workers = 0
            alert_queue_age = 1s
            """)
        let supervisor = try RunningSupervisor(scratch, environment: environment(scratch))
        try supervisor.waitForLog("started (pid")
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array("waiting\n".utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")
        try waitFor("the alert's hook; log:\n\(supervisor.log)", seconds: 10) { runs(scratch).contains { $0.event == "alert" } }
        try supervisor.waitForLog("pool feed: queue feed: alert: oldest waiting job ")

        let text = try runSolo(["status", "--config", "solo.conf"], in: scratch)
        #expect(text.stdout.contains("  alert: oldest waiting job ") && text.stdout.contains("> alert_queue_age 1s"), "\(text.stdout)")
        let json = try JSON.parse(try runSolo(["status", "--json", "--config", "solo.conf"], in: scratch).stdout.trimmed)
        let alerts = json["pools"]?.arrayValue?.first?["alerts"]?.arrayValue ?? []
        #expect(alerts.count == 1 && alerts.first?.stringValue?.hasPrefix("oldest waiting job ") == true, "\(json)")
        let gauge = "solo_queue_alert{queue=\"feed\",file=\"\(scratch.file("queue.db"))\"}"
        let firing = try parseMetrics(try httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").body)
        #expect(firing[gauge] == 1, "\(firing.filter { $0.key.hasPrefix("solo_queue_alert") })")

        // A worker takes the job: the queue recovers.
        #expect(try runSolo(["scale", "feed", "1", "--config", "solo.conf"], in: scratch).status == 0)
        try waitFor("the alert cleared", seconds: 10) { runs(scratch).contains { $0.event == "alert_cleared" } }
        usleep(1_500_000)
        let cleared = try parseMetrics(try httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").body)
        #expect(cleared[gauge] == 0)
        #expect(try supervisor.stop() == 0)

        let all = runs(scratch)
        #expect(all.map(\.event) == ["alert", "alert_cleared"], "once each: \(all)")
        #expect(all.allSatisfy { $0.pool == "feed" && $0.queue == "feed" })
        #expect(all[0].reason.hasPrefix("oldest waiting job ") && all[0].reason.hasSuffix(" > alert_queue_age 1s"), "\(all[0].reason)")
        #expect(all.count < 2 || all[1].reason.contains("alert_queue_age 1s"))
    }
}
