import Foundation
import Glibc
import SoloKit
import Testing

/// The embedded queue and feed mode, with a real SQLite file and real workers.
@Suite struct FeedModeTests {
    /// A feed worker in shell: one job per line on stdin, its outcome on fd 3. It records
    /// "pid payload" in `handled` for every job, and acts on a few payloads.
    static func worker(solo: String = soloBinary) -> String {
        """
        #!/bin/sh
        echo ready >&3
        while IFS= read -r job; do
            echo "$$ $job $(date +%s%N)" >> handled
            case "$job" in
                crash-once) if [ ! -e crashed ]; then touch crashed; exit 1; fi; echo "ok recovered" >&3 ;;
                always-fail) echo "fail nope" >&3 ;;
                retry-me) echo "retry 50ms" >&3 ;;
                slow) sleep 5; echo ok >&3 ;;
                parent*) \(solo) push --config ../solo.conf child-a child-b && echo "ok spawned" >&3 ;;
                *) echo "ok result-of-$job" >&3 ;;
            esac
        done
        """
    }

    /// The "parent" job in group family pushed two children: solo wait sees all three, and
    /// knows no group nobody. (Shared with the Redis tests: the same behaviour, either queue.)
    static func expectCascade(in scratch: Scratch) throws {
        let wait = try runSolo(["wait", "family", "--config", "solo.conf", "--results"], in: scratch, seconds: 30)
        #expect(wait.status == 0, "\(wait.stderr)")
        #expect(wait.stdout.split(separator: "\n").sorted() == ["result-of-child-a", "result-of-child-b", "spawned"])
        #expect(wait.stderr.contains("group family: 3 jobs, 3 done, 0 dead"))
        let missing = try runSolo(["wait", "nobody", "--config", "solo.conf"], in: scratch)
        #expect(missing.status == 1 && missing.stderr.contains("group nobody has no job"))
    }

    func setUp(_ scratch: Scratch, port: UInt16, pool: String = "", global: String = "") {
        scratch.write("work/worker.sh", Self.worker(), executable: true)
        scratch.config(port: port, global: global, "[feed]\ncommand = ./worker.sh\ndirectory = work\nqueue = sqlite:queue.db\n\(pool)")
    }

    func handled(_ scratch: Scratch) -> [(pid: String, payload: String, ns: Int64)] {
        scratch.read("work/handled").split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), String(parts[1]), Int64(parts.count > 2 ? parts[2] : "0") ?? 0)
        }
    }

    func push(_ scratch: Scratch, _ lines: [String], _ options: [String] = []) throws {
        let result = try runSolo(["push", "--config", "solo.conf"] + options, in: scratch, input: Array((lines.joined(separator: "\n") + "\n").utf8))
        try #require(result.status == 0, "solo push: \(result.stderr)")
    }

    @Test func jobsFlowThroughPersistentWorkersRecycledBetweenJobs() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port, pool: "workers = 2\nmax_jobs = 3-3\n")
        let supervisor = try RunningSupervisor(scratch)
        try push(scratch, (1...20).map { "job\($0)" }, ["--group", "batch"])
        let wait = try runSolo(["wait", "batch", "--config", "solo.conf", "--results"], in: scratch, seconds: 30)
        #expect(wait.status == 0, "\(wait.stderr)")
        #expect(wait.stdout.split(separator: "\n").sorted() == (1...20).map { "result-of-job\($0)" }.sorted())
        #expect(wait.stderr.contains("group batch: 20 jobs, 20 done, 0 dead"))
        let jobs = handled(scratch)
        #expect(jobs.map(\.payload).sorted() == (1...20).map { "job\($0)" }.sorted(), "each job exactly once")
        let perWorker = Dictionary(grouping: jobs, by: \.pid).mapValues(\.count)
        #expect(perWorker.values.allSatisfy { $0 <= 3 }, "recycled after exactly its 3 jobs: \(perWorker)")
        #expect(perWorker.values.filter { $0 == 3 }.count >= 5)
        #expect(supervisor.lines(containing: "died").isEmpty)
        #expect(try supervisor.stop() == 0)
    }

    @Test func prioritiesAndDelaysAreHonoured() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port)
        // Queued before any supervisor runs: the file is made by solo push.
        let pushed = Int64(Date().timeIntervalSince1970 * 1e9)
        try push(scratch, ["later"], ["--delay", "1s"])
        try push(scratch, ["low1", "low2"])
        try push(scratch, ["high"], ["--priority", "5"])
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("four jobs") { handled(scratch).count == 4 }
        let jobs = handled(scratch)
        #expect(jobs.map(\.payload) == ["high", "low1", "low2", "later"])
        #expect(jobs[3].ns - pushed >= 1_000_000_000, "the delayed job waited its second")
        #expect(try supervisor.stop() == 0)
    }

    @Test func failuresRetriesAndTimeouts() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port, pool: "job_timeout = 500ms\nmax_attempts = 3\nretry_delay = 50ms-200ms\nbackoff_min = 10ms\nbackoff_reset = 10ms\n")
        let supervisor = try RunningSupervisor(scratch)
        try push(scratch, ["crash-once", "always-fail", "retry-me", "slow", "fine"], ["--group", "mixed"])
        let wait = try runSolo(["wait", "mixed", "--config", "solo.conf"], in: scratch, seconds: 30)
        #expect(wait.status == 1, "a dead job makes wait fail")
        let dead = try runSolo(["queue", "dead", "--json", "--config", "solo.conf"], in: scratch)
        let records = try #require(try JSONSerialization.jsonObject(with: Data(dead.stdout.utf8)) as? [[String: Any]])
        let errors = Dictionary(uniqueKeysWithValues: records.map { ($0["payload"] as! String, $0["error"] as! String) })
        #expect(errors["always-fail"] == "nope", "fail is dead at once")
        #expect(errors["retry-me"] == "the worker asked for a retry (no attempt left: 3 of 3)")
        #expect(errors["slow"]?.contains("ran over job_timeout (500ms) and its worker was killed") == true, "\(errors)")
        #expect(errors["crash-once"] == nil, "retried after its worker died, then done")
        let done = try runSolo(["queue", "list", "--state", "done", "--json", "--config", "solo.conf"], in: scratch)
        let finished = try #require(try JSONSerialization.jsonObject(with: Data(done.stdout.utf8)) as? [[String: Any]])
        let recovered = try #require(finished.first { $0["payload"] as? String == "crash-once" })
        #expect(recovered["attempts"] as? Int == 2 && recovered["result"] as? String == "recovered")
        #expect(supervisor.log.contains("has run job"), "the timeout is logged")
        let retries = handled(scratch).filter { $0.payload == "retry-me" }.map(\.ns)
        #expect(retries.count == 3)
        for (earlier, later) in zip(retries, retries.dropFirst()) {
            #expect(later - earlier < 2_000_000_000, "a short retry comes back at once, not at the next maintenance")
        }
        #expect(try supervisor.stop() == 0)
    }

    @Test func poolsSharingAFileDoNotStarveEachOther() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("work/worker.sh", Self.worker(), executable: true)
        // Pool a (listed first) has an empty queue; pool b's jobs must still flow.
        scratch.config(port: port, """
            [a]
            command = ./worker.sh
            directory = work
            queue = sqlite:queue.db
            [b]
            command = ./worker.sh
            directory = work
            queue = sqlite:queue.db
            """)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0", count: 2)
        try push(scratch, (1...10).map { "b\($0)" }, ["--queue", "b"])
        try waitFor("pool b's jobs", seconds: 5) { handled(scratch).count == 10 }
        #expect(try supervisor.stop() == 0)
    }

    @Test func anUnusableQueueFileLeavesTheWorkersUpUntilItIsFixed() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port)
        let other = try Database(path: scratch.file("queue.db"), create: true)
        try other.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("is unusable:")
        #expect(supervisor.log.contains("not a solo queue"))
        try supervisor.waitForLog("started worker 0")
        #expect(try other.scalarInt("SELECT count(*) FROM customers") == 0, "the file is left alone")

        unlink(scratch.file("queue.db"))
        try supervisor.waitForLog("is usable again", seconds: 20)
        try push(scratch, ["after-the-fix"])
        try waitFor("the job after the fix") { handled(scratch).map(\.payload) == ["after-the-fix"] }
        #expect(try supervisor.stop() == 0)
    }

    @Test func badPayloadsAreRefusedAndNothingIsQueued() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port, global: "max_payload = 64")
        func push(_ input: [UInt8], _ extra: [String] = []) throws -> (status: Int32, stderr: String) {
            let result = try runSolo(["push", "--config", "solo.conf"] + extra, in: scratch, input: input)
            return (result.status, result.stderr)
        }
        let nul = try push(Array("good\nbad\u{0}byte\ngood\n".utf8))
        #expect(nul.status == 65 && nul.stderr == "solo push: line 2 holds a NUL byte (a job is one line of UTF-8 text); nothing was queued\n")
        let utf8 = try push(Array("ok\nok\n".utf8) + [0x66, 0xff, 0x0a])
        #expect(utf8.status == 65 && utf8.stderr.contains("line 3 is not valid UTF-8"))
        let long = try push(Array((String(repeating: "x", count: 65) + "\n").utf8))
        #expect(long.status == 65 && long.stderr.contains("line 1 is longer than max_payload (64)"))
        let empty = try push(Array("a\n\nb\n".utf8))
        #expect(empty.status == 65 && empty.stderr.contains("line 2 is empty"))
        let argument = try push([], ["fine", String(repeating: "y", count: 70)])
        #expect(argument.status == 65 && argument.stderr.contains("argument 2 is longer than max_payload"))
        let twoLines = try push([], ["first\nsecond"])
        #expect(twoLines.status == 65 && twoLines.stderr.contains("argument 1 holds a line break"))
        let nothing = try push([])
        #expect(nothing.status == 0 && nothing.stderr.contains("nothing to queue"))
        let carriageReturn = try push(Array("good\nhalf\rhalf\n".utf8))
        #expect(carriageReturn.status == 65 && carriageReturn.stderr.contains("line 2 holds a carriage return"))
        #expect(!scratch.exists("queue.db"), "no refused batch left a job, or even a file, behind")
        let crlf = try push(Array("windows\r\nline\r\n".utf8))
        #expect(crlf.status == 0)
        let store = try JobStore(path: scratch.file("queue.db"), create: false)
        #expect(try store.jobs(queue: "feed", states: ["ready"], limit: 5).map(\.payload) == ["windows", "line"])
    }

    @Test func aPayloadThatWouldBreakTheProtocolIsNeverSentToAWorker() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        // Another program enqueues with plain SQL, and gets a payload wrong.
        let app = try Database(path: scratch.file("queue.db"), create: false)
        app.setBusyTimeout(milliseconds: 5000)
        try app.execute("INSERT INTO jobs (queue, payload) VALUES ('feed', 'first' || char(10) || 'second')")
        try app.execute("INSERT INTO jobs (queue, payload) VALUES ('feed', 'one' || char(13) || 'job')")
        try app.execute("INSERT INTO jobs (queue, payload) VALUES ('feed', 'fine')")
        try waitFor("the good job") { handled(scratch).map(\.payload) == ["fine"] }
        try waitFor("the bad ones dead") { (try? JobStore(path: scratch.file("queue.db"), create: false).counts().first?.dead) == 2 }
        let dead = try JobStore(path: scratch.file("queue.db"), create: false).jobs(queue: "feed", states: ["dead"], limit: 5)
        #expect(dead.first?.error == "its payload holds a line break (a job is one line of text); it was not given to a worker")
        #expect(dead.last?.error == "its payload holds a carriage return (a job is one line of text, and many line readers end a line there); it was not given to a worker")
        #expect(try supervisor.stop() == 0)
    }

    @Test func cascadingJobsJoinTheirGroupAndWaitSeesThemAll() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port, pool: "workers = 2\n")
        let supervisor = try RunningSupervisor(scratch)
        try push(scratch, ["parent"], ["--group", "family"])
        try Self.expectCascade(in: scratch)
        try push(scratch, ["slow"], ["--group", "tortoise"])
        let timedOut = try runSolo(["wait", "tortoise", "--timeout", "300ms", "--config", "solo.conf"], in: scratch)
        #expect(timedOut.status == 124 && timedOut.stderr.contains("timed out: group tortoise has 1 job left of 1"))
        #expect(try supervisor.stop() == 0)
    }

    @Test func lookingAtAndTendingTheQueue() throws {
        let scratch = Scratch()
        let port = try freePort()
        setUp(scratch, port: port)
        try push(scratch, ["a", "b"])
        try push(scratch, ["c"], ["--delay", "1h"])
        let stats = try runSolo(["queue", "stats", "--json", "--config", "solo.conf"], in: scratch)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 1 && rows[0]["queue"] as? String == "feed" && rows[0]["ready"] as? Int == 2 && rows[0]["delayed"] as? Int == 1)
        let table = try runSolo(["queue", "--config", "solo.conf"], in: scratch)
        #expect(table.stdout.hasPrefix("QUEUE  READY  DELAYED  RESERVED  DONE  DEAD\nfeed   2      1        0         0     0"))
        let list = try runSolo(["queue", "list", "--config", "solo.conf"], in: scratch)
        #expect(list.stdout.contains("delayed") && list.stdout.contains(" c"))

        let supervisor = try RunningSupervisor(scratch)
        try push(scratch, ["always-fail"])
        try waitFor("a dead job") { (try? JobStore(path: scratch.file("queue.db"), create: false).counts().first?.dead) == 1 }
        let retry = try runSolo(["queue", "retry", "--all", "--config", "solo.conf"], in: scratch)
        #expect(retry.stdout == "1 dead job back in the queue\n")
        try waitFor("it dies again") { handled(scratch).filter { $0.payload == "always-fail" }.count == 2 }
        let refused = try runSolo(["queue", "purge", "--config", "solo.conf"], in: scratch)
        #expect(refused.status == 2 && refused.stderr.contains("add --yes"))
        let purge = try runSolo(["queue", "purge", "--yes", "--config", "solo.conf"], in: scratch)
        #expect(purge.status == 0 && purge.stdout.hasPrefix("deleted "))
        #expect(try supervisor.stop() == 0)
    }
}
