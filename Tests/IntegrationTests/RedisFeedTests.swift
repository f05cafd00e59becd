import Foundation
import Glibc
import SoloKit
import Testing

/// Feed mode with the queue on a real redis-server: the same behaviour as the embedded queue,
/// through `solo push`, `solo wait`, `solo queue` and `solo status`, and through the key
/// layout that other programs use (redis-cli here, as a PHP or Python app would).
@Suite struct RedisFeedTests {
    let scratch = Scratch()
    let redis: RedisServer
    let port: UInt16

    init() throws {
        redis = try RedisServer(scratch)
        port = try freePort()
    }

    func setUp(pool: String = "", queue: String? = nil, global: String = "") {
        scratch.write("work/worker.sh", FeedModeTests.worker(), executable: true)
        scratch.config(port: port, global: global, "[feed]\ncommand = ./worker.sh\ndirectory = work\nqueue = \(queue ?? redis.url)\n\(pool)")
    }

    func handled() -> [(pid: String, payload: String)] {
        FeedModeTests().handled(scratch).map { ($0.pid, $0.payload) }
    }

    func push(_ lines: [String], _ options: [String] = []) throws {
        let result = try runSolo(["push", "--config", "solo.conf"] + options, in: scratch, input: Array((lines.joined(separator: "\n") + "\n").utf8))
        try #require(result.status == 0, "solo push: \(result.stderr)")
    }

    func json(_ arguments: [String]) throws -> Any {
        let result = try runSolo(arguments + ["--config", "solo.conf"], in: scratch)
        try #require(result.status == 0, "solo \(arguments.joined(separator: " ")): \(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    }

    /// redis-cli, as any other program would talk to the queue.
    @discardableResult
    func redisCLI(_ words: String...) throws -> String {
        let child = try Child(["-p", "\(redis.port)"] + words, in: scratch, name: "cli-\(UUID().uuidString.prefix(6))",
                              executable: "/usr/bin/redis-cli")
        try #require(try child.wait() == 0, "redis-cli \(words.joined(separator: " ")): \(child.stderr)")
        return child.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func jobsFlowThroughPersistentWorkersRecycledBetweenJobs() throws {
        setUp(pool: "workers = 2\nmax_jobs = 3-3\n")
        let supervisor = try RunningSupervisor(scratch)
        try push((1...20).map { "job\($0)" }, ["--group", "batch"])
        let wait = try runSolo(["wait", "batch", "--config", "solo.conf", "--results"], in: scratch, seconds: 30)
        #expect(wait.status == 0, "\(wait.stderr)")
        #expect(wait.stdout.split(separator: "\n").sorted() == (1...20).map { "result-of-job\($0)" }.sorted())
        #expect(wait.stderr.contains("group batch: 20 jobs, 20 done, 0 dead"))
        let jobs = handled()
        #expect(jobs.map(\.payload).sorted() == (1...20).map { "job\($0)" }.sorted(), "each job exactly once")
        let perWorker = Dictionary(grouping: jobs, by: \.pid).mapValues(\.count)
        #expect(perWorker.values.allSatisfy { $0 <= 3 }, "recycled after exactly its 3 jobs: \(perWorker)")
        #expect(supervisor.lines(containing: "died").isEmpty)
        #expect(try supervisor.stop() == 0)
        #expect(try redis.command("ZCARD", "solo:{feed}:reserved").integer == 0, "nothing left leased")
    }

    @Test func prioritiesAndDelaysAreHonoured() throws {
        setUp()
        let pushed = Int64(Date().timeIntervalSince1970 * 1e9)
        try push(["later"], ["--delay", "1s"])
        try push(["low1", "low2"])
        try push(["high"], ["--priority", "5"])
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("four jobs") { handled().count == 4 }
        #expect(handled().map(\.payload) == ["high", "low1", "low2", "later"])
        let times = FeedModeTests().handled(scratch).map(\.ns)
        #expect(times[3] - pushed >= 1_000_000_000, "the delayed job waited its second")
        #expect(try supervisor.stop() == 0)
    }

    @Test func failuresRetriesAndDeadJobs() throws {
        setUp(pool: "job_timeout = 500ms\nmax_attempts = 3\nretry_delay = 50ms-200ms\nbackoff_min = 10ms\nbackoff_reset = 10ms\n")
        let supervisor = try RunningSupervisor(scratch)
        try push(["crash-once", "always-fail", "retry-me", "slow", "fine"], ["--group", "mixed"])
        let wait = try runSolo(["wait", "mixed", "--config", "solo.conf"], in: scratch, seconds: 30)
        #expect(wait.status == 1, "a dead job makes wait fail: \(wait.stderr)")
        let records = try #require(try json(["queue", "dead", "--json"]) as? [[String: Any]])
        let errors = Dictionary(uniqueKeysWithValues: records.map { ($0["payload"] as! String, $0["error"] as! String) })
        #expect(errors["always-fail"] == "nope", "fail is dead at once")
        #expect(errors["retry-me"] == "the worker asked for a retry (no attempt left: 3 of 3)")
        #expect(errors["slow"]?.contains("ran over job_timeout (500ms) and its worker was killed") == true, "\(errors)")
        #expect(errors["crash-once"] == nil, "retried after its worker died, then done")
        let finished = try #require(try json(["queue", "list", "--state", "done", "--json"]) as? [[String: Any]])
        let recovered = try #require(finished.first { $0["payload"] as? String == "crash-once" })
        #expect(recovered["attempts"] as? Int == 2 && recovered["result"] as? String == "recovered")
        #expect(handled().filter { $0.payload == "retry-me" }.count == 3)

        let stats = try #require(try json(["queue", "stats", "--json"]) as? [[String: Any]])
        #expect(stats.count == 1 && stats[0]["queue"] as? String == "feed" && stats[0]["dead"] as? Int == 3 && stats[0]["done"] as? Int == 2)
        #expect((stats[0]["file"] as? String)?.hasPrefix("redis://127.0.0.1:") == true)
        let retry = try runSolo(["queue", "retry", "--all", "--config", "solo.conf"], in: scratch)
        #expect(retry.stdout == "3 dead jobs back in the queue\n")
        try waitFor("always-fail dies again") { handled().filter { $0.payload == "always-fail" }.count == 2 }
        #expect(try supervisor.stop() == 0)
        let purge = try runSolo(["queue", "purge", "--yes", "--config", "solo.conf"], in: scratch)
        #expect(purge.status == 0 && purge.stdout.hasPrefix("deleted "), "\(purge.stderr)")
    }

    @Test func cascadingJobsJoinTheirGroupAndWaitSeesThemAll() throws {
        setUp(pool: "workers = 2\n")
        let supervisor = try RunningSupervisor(scratch)
        try push(["parent"], ["--group", "family"])
        try FeedModeTests.expectCascade(in: scratch)
        #expect(try supervisor.stop() == 0)
    }

    /// What solo-queue(5) documents for other programs: RPUSH to the inbox (defaults), or the
    /// job's keys written in one MULTI (priority, delay, group), then a PUBLISH to wake solo.
    @Test func otherProgramsEnqueueByTheDocumentedLayout() throws {
        setUp()
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        try redisCLI("RPUSH", "solo:{feed}:inbox", "from-php")
        try waitFor("the inbox job, within a second without a wake message") { handled().map(\.payload) == ["from-php"] }

        let id = try redisCLI("INCR", "solo:{feed}:seq")
        let member = String(format: "%016d", Int(id)!)
        let transaction = """
            MULTI
            HSET solo:{feed}:job:\(id) payload from-python priority 3 attempts 0 state ready created_at 0 run_at 0 grp pyjobs
            ZADD solo:{feed}:ready -3 \(member)
            HINCRBY solo:{feed}:group:pyjobs ready 1
            ZADD solo:{feed}:group:pyjobs:jobs \(id) \(member)
            SADD solo:queues feed
            EXEC
            PUBLISH solo:{feed}:wake 1
            """
        let child = try Child(["-p", "\(redis.port)"], in: scratch, name: "cli-multi", executable: "/usr/bin/redis-cli",
                              input: Array(transaction.utf8))
        #expect(try child.wait() == 0)
        let wait = try runSolo(["wait", "pyjobs", "--results", "--config", "solo.conf"], in: scratch, seconds: 10)
        #expect(wait.status == 0 && wait.stdout == "result-of-from-python\n", "\(wait.stderr)")
        // A payload with a line break, or a bare carriage return (where Python's and Node's line
        // readers split it), would break the line protocol: dead, never sent.
        try redisCLI("RPUSH", "solo:{feed}:inbox", "first\nsecond", "one\rjob", "fine")
        try waitFor("the good one") { handled().map(\.payload).contains("fine") }
        try waitFor("the bad ones dead") { (try? redis.command("ZCARD", "solo:{feed}:dead").integer) == 2 }
        let dead = try #require(try json(["queue", "dead", "--json"]) as? [[String: Any]])
        #expect(dead.first?["error"] as? String == "its payload holds a line break (a job is one line of text); it was not given to a worker")
        #expect(dead.last?["error"] as? String == "its payload holds a carriage return (a job is one line of text, and many line readers end a line there); it was not given to a worker")
        #expect(!handled().map(\.payload).contains { $0.hasPrefix("first") || $0.hasPrefix("one") })
        #expect(try supervisor.stop() == 0)
    }

    @Test func statusShowsTheRedisQueue() throws {
        setUp(pool: "workers = 1\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        try push(["slow", "a", "b"])
        try push(["c"], ["--delay", "1h"])
        try waitFor("the figures in solo status", seconds: 10) {
            guard let result = try? runSolo(["status", "--json", "--config", "solo.conf"], in: scratch), result.status == 0,
                  let status = try? JSON.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let queue = status["pools"]?.arrayValue?.first?["queue"] else { return false }
            // The worker holds slow; a and b are taken ahead, leased too.
            return queue["backend"]?.stringValue == "redis" && queue["delayed"]?.intValue == 1 && queue["reserved"]?.intValue == 3
                && queue["ready"]?.intValue == 0
        }
        let text = try runSolo(["status", "--config", "solo.conf"], in: scratch)
        #expect(text.stdout.contains("queue feed: 0 ready, 1 delayed, 3 reserved, 0 dead"), "\(text.stdout)")
        #expect(try supervisor.stop() == 0)
    }

    /// AUTH with an ACL user and SELECT of a database: the jobs land in that database.
    @Test func anACLUserAndADatabase() throws {
        let secured = try RedisServer(scratch, name: "secured", extra: ["--user", "default", "off", "--user", "worker", "on", ">s3cret", "~*", "&*", "+@all"])
        setUp(queue: "redis://worker:s3cret@127.0.0.1:\(secured.port)/3")
        let supervisor = try RunningSupervisor(scratch)
        try push(["one", "two"])
        try waitFor("two jobs") { handled().count == 2 }
        let admin = try RedisClient(url: RedisURL(host: "127.0.0.1", port: secured.port, user: "worker", password: "s3cret", database: 3))
        try waitFor("both done, in database 3") { (try? admin.call(RedisCommand("ZCARD", "solo:{feed}:done")).integer) == 2 }
        let zero = try RedisClient(url: RedisURL(host: "127.0.0.1", port: secured.port, user: "worker", password: "s3cret"))
        #expect(try zero.call(RedisCommand("EXISTS", "solo:{feed}:seq")).integer == 0, "not in database 0")
        #expect(try supervisor.stop() == 0)
        #expect(!supervisor.log.contains("s3cret"), "the password is never logged")
    }

    @Test func aWrongPasswordIsSaidAndTheWorkersStayUp() throws {
        let secured = try RedisServer(scratch, name: "secured", extra: ["--requirepass", "right"])
        setUp(queue: "redis://:wrong@127.0.0.1:\(secured.port)/0")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("AUTH refused")
        #expect(supervisor.log.contains("check the user and password in the URL"))
        try supervisor.waitForLog("started worker 0")
        let push = try runSolo(["push", "--config", "solo.conf", "x"], in: scratch)
        #expect(push.status == 1 && push.stderr.contains("AUTH refused") && push.stderr.contains("nothing was queued"), "\(push.stderr)")
        #expect(try supervisor.stop() == 0)
    }

    @Test func anUnreachableServerIsSaidAndPushQueuesNothing() throws {
        let closed = try freePort()
        setUp(queue: "redis://127.0.0.1:\(closed)/0")
        let push = try runSolo(["push", "--config", "solo.conf", "x"], in: scratch)
        #expect(push.status == 1 && push.stderr.contains("Connection refused") && push.stderr.hasSuffix("nothing was queued\n"), "\(push.stderr)")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("the workers stay up, and jobs wait")
        try supervisor.waitForLog("started worker 0")
        #expect(supervisor.lines(containing: "cannot connect").count == 1, "said once, not at every retry")
        #expect(try supervisor.stop() == 0)
    }

    @Test func aBadQueueURLIsAConfigError() throws {
        setUp(queue: "redis://127.0.0.1:99999/0")
        let check = try runSolo(["config", "check", "solo.conf"], in: scratch)
        #expect(check.status == 78)
        #expect(check.stderr.contains("solo.conf:8: queue: \"redis://127.0.0.1:99999/0\": \"99999\" is not a port (1 to 65535; Redis uses 6379)"), "\(check.stderr)")
        scratch.config(port: port, global: "cluster_lock = reports", "[feed]\ncommand = ./worker.sh\n")
        let lock = try runSolo(["config", "check", "solo.conf"], in: scratch)
        #expect(lock.status == 78 && lock.stderr.contains("cluster_lock: needs a Redis server to hold it, and no pool uses Redis (add cluster_redis = redis://127.0.0.1:6379/0)"), "\(lock.stderr)")
    }
}
