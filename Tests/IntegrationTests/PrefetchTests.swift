import Foundation
import Glibc
import SoloKit
import Testing

/// Prefetch with real workers: each job once, recycling exact, and a job written ahead that
/// never began goes back with its attempt when the worker leaves or dies.
@Suite struct PrefetchTests {
    let control = ControlTests()
    let recycle = RecycleTests()

    /// The attempts each job has spent, by payload: jobs 1 to `count` of queue `queue` on a
    /// Redis server, or every job of the queue file.
    func attempts(_ scratch: Scratch, redis: RedisServer?, queue: String = "", count: Int = 0) throws -> [String: Int] {
        guard let redis else { return try attempts(scratch) }
        var found: [String: Int] = [:]
        for id in 1...count {
            let fields = try redis.command("HMGET", "solo:{\(queue)}:job:\(id)", "payload", "attempts").elements ?? []
            if let payload = fields.first?.string, let attempts = fields.last?.string.flatMap({ Int($0) }) { found[payload] = attempts }
        }
        return found
    }

    func attempts(_ scratch: Scratch) throws -> [String: Int] {
        let reader = try Child(["-c", """
            import sqlite3
            for payload, attempts in sqlite3.connect('queue.db', timeout=10).execute('SELECT payload, attempts FROM jobs'):
                print(payload, attempts)
            """], in: scratch, name: "attempts-\(UUID().uuidString.prefix(8))", executable: "/usr/bin/python3")
        try #require(try reader.wait(seconds: 15) == 0, "\(reader.stderr)")
        return Dictionary(reader.stdout.split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), Int(parts[1]) ?? -1)
        }, uniquingKeysWith: max)
    }

    /// Python reads its stdin ahead (the job written behind is often in its buffer): every job
    /// still runs once, a worker never runs more than its drawn limit, and no attempt is lost.
    @Test func everyJobRunsOnceAndWorkersLeaveAtTheirDrawnLimit() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("work.py", RecycleTests.leaker(leak: 0))
        scratch.config(port: port, """
            [work]
            command = python3 work.py
            queue = sqlite:queue.db
            workers = 2
            max_jobs = 20-30
            prefetch = 1
            """)
        let supervisor = try RunningSupervisor(scratch)
        try recycle.push(scratch, (1...400).map { "job\($0)" }, group: "all")
        try recycle.waitForGroup(scratch, "all", jobs: 400)
        let jobs = recycle.handled(scratch)
        #expect(jobs.map(\.payload).sorted() == (1...400).map { "job\($0)" }.sorted(), "each job exactly once")
        let byWorker = Dictionary(grouping: jobs, by: \.pid).mapValues(\.count)
        let recycles = supervisor.lines(containing: "recycling worker")
        #expect(recycles.count >= 10, "\(supervisor.log)")
        for line in recycles {
            // "recycling worker 0 (pid 123): 26 jobs done (limit 26)"
            let pid = String(line.components(separatedBy: "(pid ")[1].prefix { $0.isNumber })
            let limit = Int(line.components(separatedBy: "(limit ")[1].prefix { $0.isNumber }) ?? 0
            #expect(byWorker[pid] == limit, "worker \(pid) ran \(byWorker[pid] ?? 0) jobs for a limit of \(limit)")
        }
        #expect(try attempts(scratch).values.allSatisfy { $0 == 1 }, "a job given back lost no attempt")
        #expect(try supervisor.stop() == 0)
    }

    /// A shell worker reads its stdin a byte at a time: the job written ahead is still in the
    /// pipe when the pool stops, so it is taken back, unread, with its attempt, and the stop
    /// waits only for the job in hand; a line longer than the pipe holds (partly still to be
    /// written) too.
    @Test(arguments: ["second", String(repeating: "s", count: 100_000)])
    func aStopTakesBackTheJobAheadUnread(second: String) throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("slow.sh", """
            #!/bin/sh
            while IFS= read -r job; do
                echo "$job" >> handled
                [ "$job" = first ] && while [ ! -e go ]; do sleep 0.01; done
                echo ok >&3
            done
            """, executable: true)
        scratch.config(port: port, "[slow]\ncommand = ./slow.sh\nqueue = sqlite:queue.db\nprefetch = 1\nstop_timeout = 10s\n")
        let supervisor = try RunningSupervisor(scratch)
        try recycle.push(scratch, ["first", second], group: "two")
        try waitFor("the second job written ahead (solo status)") {
            let worker = (try? control.workers(control.status(scratch), "slow").first) ?? .null
            return worker["ahead"]?.intValue != nil
        }
        let stop = try Child(["stop", "slow", "--wait", "--config", "solo.conf"], in: scratch, name: "stop")
        try supervisor.waitForLog("pool slow: stopping")
        scratch.write("go", "")
        #expect(try stop.wait(seconds: 15) == 0)
        #expect(scratch.read("handled") == "first\n", "the job ahead never ran")
        #expect(try attempts(scratch) == ["first": 1, second: 0], "it went back untouched")

        _ = try runSolo(["start", "slow", "--config", "solo.conf"], in: scratch)
        try recycle.waitForGroup(scratch, "two", jobs: 2)
        #expect(scratch.read("handled") == "first\n\(second)\n")
        #expect(try supervisor.stop() == 0)
    }

    /// A worker killed with a job in hand never began the one behind it: that one runs again
    /// on its first attempt; the killed one on its second.
    @Test(arguments: StoreKind.allCases)
    func aDeathGivesBackTheJobAheadWithItsAttempt(_ kind: StoreKind) throws {
        let scratch = Scratch()
        let port = try freePort()
        let redis = kind == .redis ? try RedisServer(scratch) : nil
        let queue = redis?.url ?? "sqlite:queue.db"
        scratch.write("hang.sh", """
            #!/bin/sh
            while IFS= read -r job; do
                echo "$$ $job" >> handled
                [ "$job" = first ] && [ ! -e again ] && { touch again; sleep 600; }
                echo ok >&3
            done
            """, executable: true)
        scratch.config(port: port, "[hang]\ncommand = ./hang.sh\nqueue = \(queue)\nprefetch = 1\nretry_delay = 0s\n")
        let supervisor = try RunningSupervisor(scratch)
        try recycle.push(scratch, ["first", "second"], group: "two")
        var pid: Int?
        try waitFor("the second job written ahead (solo status)") {
            let worker = (try? control.workers(control.status(scratch), "hang").first) ?? .null
            pid = worker["pid"]?.intValue
            return worker["ahead"]?.intValue != nil
        }
        kill(pid_t(pid ?? 0), SIGKILL)
        try recycle.waitForGroup(scratch, "two", jobs: 2)
        #expect(try attempts(scratch, redis: redis, queue: "hang", count: 2) == ["first": 2, "second": 1])
        // Which of the two comes first again is the queue's business (a retry is written with
        // the next batch of outcomes, a job given back at once).
        #expect(scratch.read("handled").split(separator: "\n").map { $0.split(separator: " ")[1] }.sorted() == ["first", "first", "second"])
        #expect(try supervisor.stop() == 0)
    }

    /// Two workers, a long job and two short ones: the short job written ahead to the worker
    /// running the long one is handed to the other worker once it is idle, not left behind.
    @Test func aJobAheadGoesToAnIdleWorkerRatherThanWaitBehindALongOne() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("work.sh", """
            #!/bin/sh
            while IFS= read -r job; do
                [ "$job" = long ] && while [ ! -e go ]; do sleep 0.01; done
                [ "$job" = medium ] && sleep 0.3
                echo "$job" >> handled
                echo ok >&3
            done
            """, executable: true)
        scratch.config(port: port, "[work]\ncommand = ./work.sh\nqueue = sqlite:queue.db\nworkers = 2\nprefetch = 1\n")
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("two workers ready") {
            // Quietly: the control socket may not be up yet.
            guard let result = try? runSolo(["status", "--json", "--config", "solo.conf"], in: scratch), result.status == 0,
                  let status = try? JSON.parse(result.stdout.trimmed) else { return false }
            return control.workers(status, "work").filter { $0["state"]?.stringValue == "ready" }.count == 2
        }
        try recycle.push(scratch, ["long", "medium", "short"], group: "three")
        try waitFor("the short job done while the long one runs", seconds: 10) { scratch.read("handled").contains("short") }
        scratch.write("go", "")
        try recycle.waitForGroup(scratch, "three", jobs: 3)
        #expect(scratch.read("handled") == "medium\nshort\nlong\n")
        #expect(try attempts(scratch).values.allSatisfy { $0 == 1 })
        #expect(try supervisor.stop() == 0)
    }

    /// A worker that exits on its own after two jobs (its own limit, not solo's) leaves the
    /// lines written since unread: they go back with their attempt, so with max_attempts = 1
    /// none dies unrun.
    @Test(arguments: [0, 1])
    func aWorkerThatExitsAfterAnAnswerLeavesItsUnreadJobsTheirAttempt(prefetch: Int) throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("two.sh", """
            #!/bin/sh
            n=0
            while [ $n -lt 2 ] && IFS= read -r job; do
                echo "$job" >> handled
                echo ok >&3
                n=$((n + 1))
            done
            """, executable: true)
        scratch.config(port: port, """
            [two]
            command = ./two.sh
            queue = sqlite:queue.db
            max_jobs = none
            max_attempts = 1
            backoff_min = 10ms
            prefetch = \(prefetch)
            """)
        let supervisor = try RunningSupervisor(scratch)
        try recycle.push(scratch, (1...12).map { "job\($0)" }, group: "all")
        try recycle.waitForGroup(scratch, "all", jobs: 12)
        #expect(scratch.read("handled").split(separator: "\n").sorted() == (1...12).map { "job\($0)" }.sorted())
        #expect(try attempts(scratch).values.allSatisfy { $0 == 1 })
        #expect(try supervisor.stop() == 0)
    }
}
