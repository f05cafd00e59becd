import Foundation
import Glibc
import SoloKit
import Testing

/// Redis going away under a running supervisor: killed and restarted, or stopped (SIGSTOP: it
/// accepts nothing and answers nothing, like an overloaded or partitioned server).
@Suite struct RedisFaultTests {
    let scratch = Scratch()
    let port: UInt16

    init() throws { port = try freePort() }

    /// A worker that takes its time (10 ms a job) and notes each job in `handled`.
    static let slowWorker = """
        #!/bin/sh
        echo ready >&3
        while IFS= read -r job; do
            echo "$$ $job" >> handled
            sleep 0.01
            echo "ok $job" >&3
        done
        """

    func handledPayloads() -> [String] {
        scratch.read("work/handled").split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
    }

    func livePids(_ pool: String) throws -> Set<Int> {
        let status = try ControlTests().status(scratch)
        return ControlTests().livePids(status, pool)
    }

    @Test func aRedisRestartedMidRunLosesNoJobAndNoWorker() throws {
        let redis = try RedisServer(scratch, persistent: true)
        scratch.write("work/worker.sh", Self.slowWorker, executable: true)
        scratch.config(port: port, "[feed]\ncommand = ./worker.sh\ndirectory = work\nworkers = 3\nqueue = \(redis.url)\n")
        let supervisor = try RunningSupervisor(scratch)
        let jobs = (1...400).map { "job\($0)" }
        let push = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array((jobs.joined(separator: "\n") + "\n").utf8))
        try #require(push.status == 0, "\(push.stderr)")
        try waitFor("100 jobs done", seconds: 30) { handledPayloads().count >= 100 }
        let before = try livePids("feed")
        #expect(before.count == 3)

        try redis.kill()
        try supervisor.waitForLog("the workers stay up, and jobs wait")
        usleep(500_000)
        #expect(try livePids("feed") == before, "the workers stay up while Redis is away")

        try redis.start()
        try supervisor.waitForLog("connected again", seconds: 15)
        try waitFor("every job done", seconds: 60) { (try? redis.command("ZCARD", "solo:{feed}:done").integer) == 400 }
        #expect(Set(handledPayloads()) == Set(jobs), "every job ran, none was lost")
        // The outcomes waited in memory and the jobs taken ahead stayed leased: nothing runs twice
        // (the workers' own jobs at most, if their outcome was lost with Redis).
        #expect(handledPayloads().count <= 403, "\(handledPayloads().count - 400) jobs ran twice")
        #expect(try redis.command("ZCARD", "solo:{feed}:dead").integer == 0)
        #expect(try livePids("feed") == before, "the same workers, never restarted")
        #expect(try supervisor.stop() == 0)
    }

    @Test func aStoppedRedisHoldsNothingUp() throws {
        let redis = try RedisServer(scratch)
        scratch.write("work/worker.sh", Self.slowWorker, executable: true)
        scratch.write("work/short.sh", "#!/bin/sh\nsleep 0.1\n", executable: true)
        scratch.config(port: port, """
            [feed]
            command = ./worker.sh
            directory = work
            queue = \(redis.url)
            [short]
            command = ./short.sh
            directory = work
            queue = none
            backoff_min = 10ms
            backoff_max = 50ms
            """)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0", count: 2)
        let paused = Date()
        kill(redis.pid, SIGSTOP)
        defer { kill(redis.pid, SIGCONT) }

        // A push waits for its reply, then says it queued nothing.
        let push = try runSolo(["push", "--config", "solo.conf", "lost?"], in: scratch, seconds: 20)
        #expect(push.status == 1 && push.stderr.contains("no reply within 10s") && push.stderr.contains("nothing was queued"), "\(push.stderr)")
        // Meanwhile the supervisor went on: it answered, and restarted the short-lived workers.
        let startedBefore = supervisor.lines(containing: "pool short: started worker").count
        for _ in 0..<5 {
            let asked = Date()
            let status = try runSolo(["status", "--config", "solo.conf"], in: scratch, seconds: 5)
            #expect(status.status == 0 && Date().timeIntervalSince(asked) < 2, "solo status answers while Redis is stopped")
            usleep(200_000)
        }
        #expect(supervisor.lines(containing: "pool short: started worker").count >= startedBefore + 5, "restarts go on")
        #expect(Date().timeIntervalSince(paused) > 5)
        try supervisor.waitForLog("no reply within 5s; reconnecting", seconds: 10)

        kill(redis.pid, SIGCONT)
        try supervisor.waitForLog("connected again", seconds: 15)
        let after = try runSolo(["push", "--config", "solo.conf", "after"], in: scratch)
        #expect(after.status == 0, "\(after.stderr)")
        try waitFor("the job after the pause") { handledPayloads().contains("after") }

        // A stop is not held up by a stopped Redis either: the last replies are waited for 5 s at most.
        kill(redis.pid, SIGSTOP)
        let stopping = Date()
        #expect(try supervisor.stop(seconds: 20) == 0)
        #expect(Date().timeIntervalSince(stopping) < 12)
    }

    /// A server that refuses writes (a primary without the replicas min-replicas-to-write asks
    /// for; a server loading its data, over its maxmemory or made a replica says no the same
    /// way): the outcomes are kept and written once it takes them; no job runs twice.
    @Test func outcomesARefusingServerDoesNotTakeAreKeptUntilItDoes() throws {
        let redis = try RedisServer(scratch)
        scratch.write("work/worker.sh", Self.slowWorker.replacingOccurrences(of: "sleep 0.01", with: "sleep 0.1"), executable: true)
        scratch.config(port: port, "[feed]\ncommand = ./worker.sh\ndirectory = work\nworkers = 2\nqueue = \(redis.url)\n")
        let supervisor = try RunningSupervisor(scratch)
        let jobs = (1...60).map { "job\($0)" }
        let push = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array((jobs.joined(separator: "\n") + "\n").utf8))
        try #require(push.status == 0, "\(push.stderr)")
        try waitFor("a few jobs done") { handledPayloads().count >= 5 }
        try redis.command("CONFIG", "SET", "min-replicas-to-write", "1")
        try supervisor.waitForLog("were refused", seconds: 10)
        usleep(2_000_000)
        #expect(supervisor.lines(containing: "were refused").count == 1, "said once")
        #expect(supervisor.lines(containing: "NOREPLICAS").count <= 2, "the outcomes' refusal and the reserves', once each")
        try redis.command("CONFIG", "SET", "min-replicas-to-write", "0")
        try waitFor("every job done", seconds: 60) { (try? redis.command("ZCARD", "solo:{feed}:done").integer) == 60 }
        #expect(handledPayloads().count == 60, "no job ran twice: \(handledPayloads().count)")
        #expect(try supervisor.stop() == 0)
    }

    /// Redis out of reach for longer than the lease (a severed relay: no renewal reaches it, so
    /// the leases surely run out on the server): the jobs the workers hold are still theirs
    /// when it is back (renewed first, never taken back from under them), and run once.
    @Test func anOutageLongerThanTheLeaseTakesNoJobFromItsWorkers() throws {
        let redis = try RedisServer(scratch)
        let relay = try SeverableRelay(to: redis.port)
        scratch.write("work/worker.sh", """
            #!/bin/sh
            echo ready >&3
            while IFS= read -r job; do echo "$$ $job" >> handled; sleep 5; echo "ok $job" >&3; done
            """, executable: true)
        scratch.config(port: port, global: "lease = 3s", "[feed]\ncommand = ./worker.sh\ndirectory = work\nworkers = 2\nqueue = redis://127.0.0.1:\(relay.port)\n")
        let supervisor = try RunningSupervisor(scratch)
        let push = try runSolo(["push", "--config", "solo.conf", "one", "two"], in: scratch)
        try #require(push.status == 0, "\(push.stderr)")
        try waitFor("both jobs in hand") { handledPayloads().count == 2 }
        relay.sever()
        try supervisor.waitForLog("the workers stay up")
        // Longer than the lease, shorter than the jobs: their leases run out on the server.
        try waitFor("the leases to run out on the server", seconds: 10) {
            (try? redis.command("ZRANGEBYSCORE", "solo:{feed}:reserved", "-inf", "(\(Int64(Date().timeIntervalSince1970 * 1000))"))?.elements?.count == 2
        }
        try relay.restore()
        try supervisor.waitForLog("connected again", seconds: 15)
        try waitFor("both done", seconds: 20) { (try? redis.command("ZCARD", "solo:{feed}:done").integer) == 2 }
        #expect(handledPayloads().count == 2, "neither ran again")
        #expect(supervisor.lines(containing: "took back").isEmpty, "\(supervisor.log)")
        #expect(try supervisor.stop() == 0)
    }
}
