import Foundation
import Glibc
import SoloKit
import Testing

/// Jobs that kill their worker, workers that cannot start, and workers that answer in the
/// wrong place: what a new user meets in the first hour, with real workers and real queues.
@Suite struct CrashingJobTests {
    let control = ControlTests()

    /// A Python feed worker like etc/workers/feed-worker.py: a job starting with "bad" makes
    /// it exit(1) while holding it, after noting when in `poisoned`.
    static let poisonedWorker = """
        import os, sys, time
        solo = os.fdopen(int(os.environ["SOLO_FD"]), "w", buffering=1)
        solo.write("ready\\n")
        for line in sys.stdin:
            if line.startswith("bad"):
                with open("poisoned", "a") as f:
                    f.write(line.strip() + " " + str(time.monotonic_ns()) + "\\n")
                sys.exit(1)
            solo.write("ok\\n")
        """

    /// The reproduction from issue 13: a pool of 2, max_attempts = 3, retry_delay = 1s, 15 jobs
    /// that kill their worker, then 500 good ones. Every good job is done in seconds, and the
    /// 15 bad ones are dead with the reason; before, the slots backed off for minutes.
    func expectPoisonJobsDoNotStallThePool(_ scratch: Scratch, queue: String) throws {
        scratch.write("work/worker.py", Self.poisonedWorker)
        scratch.config(port: try freePort(), """
            [py]
            command = python3 worker.py
            directory = work
            queue = \(queue)
            workers = 2
            max_attempts = 3
            retry_delay = 1s
            """)
        let supervisor = try RunningSupervisor(scratch)
        let jobs = (1...15).map { "bad\($0)" } + (1...500).map { "good\($0)" }
        let began = Date()
        let push = try runSolo(["push", "--config", "solo.conf", "--group", "batch"], in: scratch,
                               input: Array((jobs.joined(separator: "\n") + "\n").utf8))
        try #require(push.status == 0, "solo push: \(push.stderr)")
        let wait = try runSolo(["wait", "batch", "--config", "solo.conf"], in: scratch, seconds: 90)
        let elapsed = Date().timeIntervalSince(began)
        #expect(wait.stderr.contains("group batch: 515 jobs, 500 done, 15 dead"), "\(wait.stderr)\n\(supervisor.log)")
        #expect(elapsed < 30, "took \(elapsed) s")
        let dead = try runSolo(["queue", "dead", "--json", "--config", "solo.conf"], in: scratch)
        let records = try #require(try JSONSerialization.jsonObject(with: Data(dead.stdout.utf8)) as? [[String: Any]])
        #expect(records.count == 15)
        for record in records {
            #expect((record["payload"] as? String)?.hasPrefix("bad") == true)
            #expect(record["error"] as? String == "its worker exited (exit status 1) while running it (no attempt left: 3 of 3)", "\(record)")
        }
        // A bad job is not handed out again at once: its retry delay (1s, then 2s, give or take
        // a fifth) passes between its attempts.
        let tries = Dictionary(grouping: scratch.read("work/poisoned").split(separator: "\n").map { $0.split(separator: " ") },
                               by: { String($0[0]) }).mapValues { $0.map { Int64($0[1])! } }
        #expect(tries.count == 15 && tries.values.allSatisfy { $0.count == 3 }, "\(tries)")
        for (job, times) in tries {
            for (earlier, later) in zip(times, times.dropFirst()) {
                #expect(later - earlier >= 750_000_000, "\(job) came back after \((later - earlier) / 1_000_000) ms")
            }
        }
        #expect(supervisor.lines(containing: "restarting in").isEmpty, "no slot backed off")
        #expect(supervisor.lines(containing: "holding job").count == 45, "each bad job killed three workers")
        #expect(try supervisor.stop() == 0)
    }

    @Test func aFewJobsThatKillTheirWorkerDoNotStallASQLitePool() throws {
        let scratch = Scratch()
        try expectPoisonJobsDoNotStallThePool(scratch, queue: "sqlite:queue.db")
    }

    @Test func aFewJobsThatKillTheirWorkerDoNotStallARedisPool() throws {
        let scratch = Scratch()
        let redis = try RedisServer(scratch)
        try withExtendedLifetime(redis) { try expectPoisonJobsDoNotStallThePool(scratch, queue: redis.url) }
    }

    /// A worker that dies at boot still backs off; `solo restart` and `solo stop` + `solo start`
    /// try again at once instead of waiting out the back-off.
    @Test func aWorkerThatDiesAtBootBacksOffUntilRestartedOrStarted() throws {
        let scratch = Scratch()
        scratch.config(port: try freePort(), """
            [crasher]
            queue = none
            command = sh -c 'exit 3'
            backoff_min = 20s
            backoff_reset = 30s
            """)
        let supervisor = try RunningSupervisor(scratch)
        // The first death restarts at once, the second backs off for 20 seconds.
        try supervisor.waitForLog("died: exit status 3", count: 2)
        try supervisor.waitForLog("restarting in 2")
        let slot = try #require(control.workers(try control.status(scratch), "crasher").first)
        #expect(slot["state"]?.stringValue == "backoff" && (slot["restart_in_ms"]?.intValue ?? 0) > 10_000, "\(slot)")
        #expect(slot["last_exit"]?.stringValue == "crashed: exit status 3")

        #expect(try runSolo(["restart", "crasher", "--config", "solo.conf"], in: scratch).status == 0)
        try supervisor.waitForLog("died: exit status 3", count: 4, seconds: 10)

        #expect(try runSolo(["stop", "crasher", "--config", "solo.conf"], in: scratch).status == 0)
        try waitFor("the pool stopped") { (try? control.workers(control.status(scratch), "crasher").first?["state"]?.stringValue) == "stopped" }
        #expect(try runSolo(["start", "crasher", "--config", "solo.conf"], in: scratch).status == 0)
        try supervisor.waitForLog("died: exit status 3", count: 6, seconds: 10)
        #expect(supervisor.lines(containing: "restarting in 2").count == 3, "each try backs off again from its second death")

        // `solo start` on a running pool whose slot backs off tries again at once too.
        #expect(try runSolo(["start", "crasher", "--config", "solo.conf"], in: scratch).status == 0)
        try supervisor.waitForLog("died: exit status 3", count: 8, seconds: 10)
        #expect(try supervisor.stop() == 0)
    }

    /// A broken deploy whose worker boots fine but dies on every job (a database it connects to
    /// lazily is down) backs off after ten deaths in a row instead of burning through the queue.
    @Test func aWorkerThatDiesOnEveryJobBacksOffAfterTenInARow() throws {
        let scratch = Scratch()
        scratch.write("work/worker.sh", "echo ready >&\"$SOLO_FD\"\nread job\nexit 1\n")
        scratch.config(port: try freePort(), """
            [broken]
            command = sh worker.sh
            directory = work
            queue = sqlite:queue.db
            workers = 1
            max_attempts = 5
            backoff_min = 20s
            backoff_reset = 30s
            """)
        let supervisor = try RunningSupervisor(scratch)
        let push = try runSolo(["push", "--config", "solo.conf"], in: scratch,
                               input: Array((1...100).map { "job\($0)" }.joined(separator: "\n").utf8 + [10]))
        try #require(push.status == 0, "solo push: \(push.stderr)")
        try waitFor("the slot backs off") { (try? control.workers(control.status(scratch), "broken").first?["state"]?.stringValue) == "backoff" }
        let k = WorkerEnding.jobDeathsBlamingWorker
        #expect(supervisor.lines(containing: "holding job").count == k + 1, "\(supervisor.log)")
        #expect(supervisor.lines(containing: "\(k) deaths in a row holding a new job").count == 1)
        #expect(supervisor.lines(containing: "restarting in 2").count == 1)
        let dead = try runSolo(["queue", "dead", "--json", "--config", "solo.conf"], in: scratch)
        let records = try #require(try JSONSerialization.jsonObject(with: Data(dead.stdout.utf8)) as? [[String: Any]])
        #expect(records.isEmpty, "no job spent its five attempts")
        #expect(try supervisor.stop() == 0)
    }

    /// LAST EXIT says how the slot's last worker ended, not the crash before a recycle.
    @Test func lastExitFollowsARecycleAfterACrash() throws {
        let scratch = Scratch()
        // The first worker crashes at boot; the next does its one job and is recycled.
        scratch.write("work/worker.sh", """
            #!/bin/sh
            if [ ! -e crashed ]; then touch crashed; exit 1; fi
            echo ready >&3
            while IFS= read -r job; do echo ok >&3; done
            """, executable: true)
        scratch.config(port: try freePort(), "[feed]\ncommand = ./worker.sh\ndirectory = work\nqueue = sqlite:queue.db\nmax_jobs = 1-1\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("died: exit status 1")
        #expect(try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array("one\n".utf8)).status == 0)
        try supervisor.waitForLog("finished recycling: exit status 0")
        let slot = try #require(control.workers(try control.status(scratch), "feed").first)
        #expect(slot["last_exit"]?.stringValue == "recycled: jobs (exit status 0)", "\(slot)")
        #expect(try supervisor.stop() == 0)
    }

    /// The likeliest PHP beginner's mistake: `echo "ok"` instead of writing to fd 3.
    @Test func aWorkerThatPrintsItsOutcomeIsToldWhereOutcomesGo() throws {
        let scratch = Scratch()
        scratch.write("work/worker.sh", """
            #!/bin/sh
            echo ready >&3
            while IFS= read -r job; do echo ok; echo ok; done
            """, executable: true)
        scratch.config(port: try freePort(), "[feed]\ncommand = ./worker.sh\ndirectory = work\nqueue = sqlite:queue.db\n")
        let supervisor = try RunningSupervisor(scratch)
        #expect(try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array("one\ntwo\n".utf8)).status == 0)
        let hint = "printed 'ok' on stdout or stderr; outcomes go to fd 3 ($SOLO_FD)"
        try supervisor.waitForLog(hint)
        try waitFor("the worker's two lines in the log") { supervisor.log.split(separator: "\n").filter { $0.hasSuffix(": ok") }.count >= 2 }
        let logs = try runSolo(["logs", "feed", "--config", "solo.conf"], in: scratch)
        #expect(logs.stdout.components(separatedBy: hint).count - 1 == 1, "once per worker, in the pool's log: \(logs.stdout)")
        #expect(try supervisor.stop() == 0)
    }
}
