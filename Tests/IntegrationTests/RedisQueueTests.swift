import Foundation
import Glibc
import SoloKit
import Testing

/// The Redis queue's scripts on a real redis-server: what the supervisor and the commands do
/// to it, step by step, and the invariant that every job sits in exactly one state set with
/// its group's counters in step.
@Suite struct RedisQueueTests {
    let scratch = Scratch()
    let server: RedisServer
    let client: RedisClient

    init() throws {
        server = try RedisServer(scratch)
        client = try server.client()
    }

    func queue() throws -> RedisQueue { try RedisQueue(url: RedisURL(host: "127.0.0.1", port: server.port)) }

    func push(_ queue: String, _ payloads: [String], priority: Int = 0, delay: Int64 = 0, group: String? = nil, maxAttempts: Int? = nil) throws {
        let writer = try self.queue().makeWriter(queue: queue, template: NewJob(payload: [], priority: priority,
                                                                                runAt: delay > 0 ? JobStore.now() + delay : 0,
                                                                                maxAttempts: maxAttempts, group: group))
        for payload in payloads { try Array(payload.utf8).withUnsafeBytes { raw in try writer.add(raw) } }
        try writer.commit()
    }

    func reserve(_ queue: String, _ count: Int, owner: String = "a", lease: Int = 30_000) throws -> (RedisSummary, [ReservedJob]) {
        let reply = try client.evaluate(RedisScripts.reserve, keys: [RedisScripts.prefix(queue)],
                                        arguments: [owner, "\(count)", "\(lease)", "", "", queue] + RedisScripts.arguments(of: JobLimits()))
        let reserved = try #require(RedisReplies.reserved(reply, queue: queue))
        return (reserved.summary, reserved.jobs)
    }

    func finish(_ queue: String, owner: String = "a", _ outcomes: [(String, Int64, String, Int, Int)]) throws {
        try client.evaluate(RedisScripts.finish, keys: [RedisScripts.prefix(queue)],
                            arguments: [owner] + outcomes.flatMap { [$0.0, "\($0.1)", $0.2, "\($0.3)", "\($0.4)"] })
    }

    /// Every job is in the one set its state names, and the group counters match the jobs.
    func checkConsistent(_ queue: String) throws {
        let prefix = RedisScripts.prefix(queue)
        var states: [String: String] = [:]
        for state in ["ready", "delayed", "reserved", "done", "dead"] {
            for member in try client.call(RedisCommand("ZRANGE", "\(prefix):\(state)", "0", "-1")).elements ?? [] {
                let id = String(Int64(member.string!)!)
                #expect(states[id] == nil, "job \(id) is in \(state) and \(states[id] ?? "")")
                states[id] = state
            }
        }
        var groups: [String: [String: Int]] = [:]
        for (id, state) in states {
            let fields = try client.call(RedisCommand("HMGET", "\(prefix):job:\(id)", "state", "grp")).elements ?? []
            #expect(fields.first?.string == state, "job \(id): its hash says \(fields.first?.string ?? "nil"), its set \(state)")
            if let group = fields.last?.string { groups[group, default: [:]][state, default: 0] += 1 }
        }
        for (group, counts) in groups {
            let stored = try client.call(RedisCommand("HGETALL", "\(prefix):group:\(group)")).elements ?? []
            var table: [String: Int] = [:]
            for index in stride(from: 0, to: stored.count, by: 2) { table[stored[index].string!] = Int(stored[index + 1].integer ?? 0) }
            for state in ["ready", "delayed", "reserved", "done", "dead"] {
                #expect(table[state, default: 0] == counts[state, default: 0], "group \(group) \(state): counter \(table[state, default: 0]), jobs \(counts[state, default: 0])")
            }
        }
    }

    @Test func jobsGoOutByPriorityThenAge() throws {
        try push("q", ["low1", "low2"])
        try push("q", ["high"], priority: 5)
        try push("q", ["neg"], priority: -1)
        let (summary, jobs) = try reserve("q", 10)
        #expect(jobs.map(\.payload) == ["high", "low1", "low2", "neg"])
        #expect(jobs.allSatisfy { $0.attempts == 1 })
        #expect(summary.counts.ready == 0 && summary.counts.reserved == 4)
        try checkConsistent("q")
    }

    @Test func outcomesChangeOnlyTheHoldersJobs() throws {
        try push("q", ["a", "b", "c", "d"], group: "g")
        let (_, jobs) = try reserve("q", 4)
        // Another owner's outcomes change nothing.
        try finish("q", owner: "intruder", [("done", jobs[0].id, "", 0, 5)])
        try finish("q", [("result", jobs[0].id, "the result", 0, 5), ("done", jobs[1].id, "", 0, 5),
                         ("dead", jobs[2].id, "bad input", 0, 5), ("retry", jobs[3].id, "later", 60_000, 5)])
        let records = try queue().jobs(queue: "q", states: ["done", "dead", "delayed"], group: nil, after: 0, limit: 10)
        #expect(Dictionary(uniqueKeysWithValues: records.map { ($0.payload, $0.state) }) == ["a": "done", "b": "done", "c": "dead", "d": "delayed"])
        #expect(records.first { $0.payload == "a" }?.result == "the result")
        #expect(records.first { $0.payload == "b" }?.result == nil)
        #expect(records.first { $0.payload == "c" }?.error == "bad input")
        #expect(try queue().groupCounts("g") == {
            var c = QueueCounts(queue: "g"); c.done = 2; c.dead = 1; c.delayed = 1; return c
        }())
        try checkConsistent("q")
    }

    @Test func retriesEndInDeathWhenAttemptsRunOut() throws {
        try push("q", ["flaky"], maxAttempts: 2)
        for attempt in 1...2 {
            let (_, jobs) = try reserve("q", 1)
            try #require(jobs.count == 1, "attempt \(attempt)")
            #expect(jobs[0].attempts == attempt && jobs[0].maxAttempts == 2)
            try finish("q", [("retry", jobs[0].id, "timeout", 0, 5)])
        }
        let dead = try queue().jobs(queue: "q", states: ["dead"], group: nil, after: 0, limit: 10)
        #expect(dead.count == 1 && dead[0].error == "timeout (no attempt left: 2 of 2)")
        #expect(try queue().retryDead(queue: "q") == 1)
        let (_, again) = try reserve("q", 1)
        #expect(again.first?.attempts == 1, "attempts start over")
        try checkConsistent("q")
    }

    @Test func delayedJobsWaitTheirTime() throws {
        try push("q", ["later"], delay: 300)
        let (first, none) = try reserve("q", 1)
        #expect(none.isEmpty && first.counts.delayed == 1)
        #expect((first.nextDelayedIn ?? .zero) > .milliseconds(100) && (first.nextDelayedIn ?? .zero) <= .milliseconds(300))
        usleep(350_000)
        let (_, jobs) = try reserve("q", 1)
        #expect(jobs.map(\.payload) == ["later"])
        try checkConsistent("q")
    }

    @Test func expiredLeasesAndADeadOwnersJobsComeBack() throws {
        try push("q", ["one", "two", "three"])
        let (_, jobs) = try reserve("q", 3, owner: "dead-host", lease: 50)
        #expect(jobs.count == 3)
        try finish("q", owner: "dead-host", jobs.map { ("start", $0.id, "", 0, 0) })
        // A live supervisor that names the jobs it holds keeps them, even once their lease ran out.
        let kept = try client.evaluate(RedisScripts.reclaim, keys: [RedisScripts.prefix("q")], arguments: ["dead-host", "5", "", "\(jobs[0].id)"])
        #expect(kept.integer == 2, "the owner's unknown jobs come back at once")
        usleep(80_000)
        let stillKept = try client.evaluate(RedisScripts.reclaim, keys: [RedisScripts.prefix("q")], arguments: ["dead-host", "5", "", "\(jobs[0].id)"])
        #expect(stillKept.integer == 0, "a kept job stays with its holder after its lease ran out")
        let expired = try client.evaluate(RedisScripts.reclaim, keys: [RedisScripts.prefix("q")], arguments: ["", "5", ""])
        #expect(expired.integer == 1, "others take back the lease that ran out")
        let (_, again) = try reserve("q", 3, owner: "b")
        #expect(again.count == 3 && again.allSatisfy { $0.attempts == 2 })
        // Renewing names jobs: only the holder's count.
        let renewed = try client.evaluate(RedisScripts.renew, keys: [RedisScripts.prefix("q")], arguments: ["b", "30000"] + again.map { "\($0.id)" })
        #expect(renewed.integer == 3)
        #expect(try client.evaluate(RedisScripts.renew, keys: [RedisScripts.prefix("q")], arguments: ["a", "30000", "\(again[0].id)"]).integer == 0)
        try checkConsistent("q")
    }

    /// Issue 14.5: a dead supervisor's jobs that no worker had (no `start`) go back with their
    /// attempt given back, never dead; those a worker had keep it, and die when none is left.
    @Test func jobsTakenAheadGetTheirAttemptBack() throws {
        try push("q", ["ran", "ahead"], maxAttempts: 1)
        let (_, jobs) = try reserve("q", 2, owner: "dead-host", lease: 1)
        #expect(jobs.map(\.attempts) == [1, 1])
        try finish("q", owner: "dead-host", [("start", jobs[0].id, "", 0, 0)])
        try finish("q", owner: "intruder", [("start", jobs[1].id, "", 0, 0)])
        usleep(20_000)
        #expect(try client.evaluate(RedisScripts.reclaim, keys: [RedisScripts.prefix("q")], arguments: ["", "5", ""]).integer == 2)
        let records = try queue().jobs(queue: "q", states: ["ready", "dead"], group: nil, after: 0, limit: 10)
        let ran = try #require(records.first { $0.payload == "ran" })
        let ahead = try #require(records.first { $0.payload == "ahead" })
        #expect(ran.state == "dead" && ran.attempts == 1 && ran.error?.contains("died while it ran") == true)
        #expect(ahead.state == "ready" && ahead.attempts == 0 && ahead.error == nil)
        #expect(try client.call(RedisCommand("HEXISTS", "solo:{q}:job:\(ahead.id)", "ahead")).integer == 0)
        try checkConsistent("q")
    }

    @Test func releasedJobsGoBackUntouched() throws {
        try push("q", ["x", "y"])
        let (_, jobs) = try reserve("q", 2)
        try client.evaluate(RedisScripts.release, keys: [RedisScripts.prefix("q")], arguments: ["a"] + jobs.map { "\($0.id)" })
        let (_, again) = try reserve("q", 2, owner: "b")
        #expect(again.map(\.payload) == ["x", "y"] && again.allSatisfy { $0.attempts == 1 })
    }

    /// Any program can enqueue with RPUSH: the supervisor makes the payloads jobs.
    @Test func theInboxTakesPlainPayloads() throws {
        try client.call(RedisCommand("RPUSH", "solo:{mail}:inbox", "from-php", "from-python"))
        #expect(try queue().counts(of: "mail").ready == 2)
        let (_, jobs) = try reserve("mail", 5)
        #expect(jobs.map(\.payload) == ["from-php", "from-python"])
        #expect(try queue().queueNames() == ["mail"])
        try checkConsistent("mail")
    }

    @Test func doneJobsArePurgedButNotWhileTheirGroupRuns() throws {
        try push("q", ["a", "b"], group: "g")
        try push("q", ["solo"])
        let (_, jobs) = try reserve("q", 3)
        let byPayload = Dictionary(uniqueKeysWithValues: jobs.map { ($0.payload, $0.id) })
        try finish("q", [("done", byPayload["a"]!, "", 0, 5), ("done", byPayload["solo"]!, "", 0, 5)])
        let first = try client.evaluate(RedisScripts.purgeDone, keys: [RedisScripts.prefix("q")], arguments: ["0", "100", "0"])
        #expect(first.elements?.first?.integer == 1, "a is kept while b of its group runs")
        #expect(first.elements?.last?.integer == 1, "and counted as skipped")
        try finish("q", [("done", byPayload["b"]!, "", 0, 5)])
        // Done before now, by the server's clock: a purge keeping 0 ms spares a job done this millisecond.
        let finished = try client.call(RedisCommand("HGET", "solo:{q}:job:\(byPayload["b"]!)", "finished_at")).string.flatMap { Int64($0) } ?? 0
        try waitFor("the server's clock to pass \(finished)") {
            let time = (try? client.call(RedisCommand("TIME")).elements?.compactMap { $0.string.flatMap { Int64($0) } }) ?? []
            return time.count == 2 && time[0] * 1000 + time[1] / 1000 > finished
        }
        let second = try client.evaluate(RedisScripts.purgeDone, keys: [RedisScripts.prefix("q")], arguments: ["0", "100", "0"])
        #expect(second.elements?.first?.integer == 2)
        #expect(try client.call(RedisCommand("EXISTS", "solo:{q}:group:g", "solo:{q}:group:g:jobs")).integer == 0, "an empty group leaves no key")
        try checkConsistent("q")
    }

    @Test func groupsPageTheirResultsAndPurgeDeletes() throws {
        try push("q", (1...2500).map { "job\($0)" }, group: "big")
        let (_, jobs) = try reserve("q", 2500)
        try finish("q", jobs.map { ("result", $0.id, "r-\($0.payload)", 0, 5) })
        var results: [String] = []
        var after: Int64 = 0
        while true {
            let page = try queue().jobs(queue: nil, states: ["done"], group: "big", after: after, limit: 1000)
            results += page.compactMap(\.result)
            guard let last = page.last, page.count == 1000 else { break }
            after = last.id
        }
        #expect(results.count == 2500 && Set(results).count == 2500)
        let span = try #require(try queue().groupSpan("big"), "the group's time, for solo wait")
        #expect(span.first <= span.last && span.last - span.first < 60_000)
        #expect(try queue().purge(queue: "q", states: ["done"]) == 2500)
        #expect(try queue().counts(of: "q").total == 0)
        try checkConsistent("q")
    }

    /// An operator's changes by id keep every job in one set and its group's counters in step.
    @Test func changesByIDKeepTheGroupCountersInStep() throws {
        try push("q", ["a", "b", "c"], group: "g")
        try push("q", ["later"], delay: 60_000, group: "g")
        let (_, held) = try reserve("q", 1)
        #expect(try queue().change(.bury(reason: "no"), ids: [2, 4, held[0].id], queue: "q") == [2: "ready", 4: "delayed", 1: "reserved"])
        try checkConsistent("q")
        #expect(try queue().change(.retry, ids: [2], queue: "q") == [2: "dead"])
        #expect(try queue().change(.delete, ids: [3, 4, 99], queue: nil) == [3: "ready", 4: "dead"])
        try checkConsistent("q")
        let left = try queue().jobs(queue: "q", states: ["ready", "reserved", "dead"], group: "g", after: 0, limit: 10)
        #expect(left.map { "\($0.id) \($0.state)" } == ["1 reserved", "2 ready"])
        #expect(try queue().groupCounts("g").total == 2)
    }

    /// A push of up to 10,000 jobs is one transaction; a refused one leaves nothing behind.
    @Test func aPushIsAllOrNothing() throws {
        let writer = try queue().makeWriter(queue: "q", template: NewJob(payload: []))
        for index in 0..<2500 { try Array("j\(index)".utf8).withUnsafeBytes { try writer.add($0) } }
        #expect(try queue().counts(of: "q").ready == 0, "nothing shows before the commit")
        writer.rollback()
        #expect(try queue().counts(of: "q").ready == 0)
        try push("q", (0..<25_000).map { "j\($0)" })
        #expect(try queue().counts(of: "q").ready == 25_000)
        try checkConsistent("q")
    }

    @Test func aScriptTheServerForgotIsSentAgain() throws {
        try push("q", ["x"])
        try client.call(RedisCommand("SCRIPT", "FLUSH"))
        let (_, jobs) = try reserve("q", 1)
        #expect(jobs.count == 1)
    }

    @Test func theFleetLockHasOneHolder() throws {
        let keys = [RedisScripts.lockKey("n"), RedisScripts.fenceKey("n")]
        func take(_ token: String) throws -> [RESPValue] {
            try client.evaluate(RedisScripts.lockAcquire, keys: keys, arguments: [token, "200"]).elements ?? []
        }
        let first = try take("host-a")
        #expect(first.first?.integer == 1)
        let fence = try #require(first.last?.integer)
        #expect(fence > 1_700_000_000_000, "a fence is at least the server's time in ms: it never goes back")
        let second = try take("host-b")
        #expect(second.first?.integer == 0 && second[1].string == "host-a" && (second[2].integer ?? 0) > 0)
        #expect(try take("host-a").map(\.integer) == [1, fence], "the holder renews, with its fence")
        usleep(250_000)
        let third = try take("host-b")
        #expect(third.first?.integer == 1 && (third.last?.integer ?? 0) > fence, "after the TTL another takes it, with a higher fence")
        #expect(try client.evaluate(RedisScripts.lockRelease, keys: keys, arguments: ["host-a"]).integer == 0)
        #expect(try client.evaluate(RedisScripts.lockRelease, keys: keys, arguments: ["host-b"]).integer == 1)
        // Redis lost everything (a restart without persistence): the fence still grows, as its
        // floor is the server's time in ms. A real restart takes far longer than the 1 ms that
        // this test's release and FLUSHALL can fit in, which gave host-c the third take's fence.
        usleep(2_000)
        try client.call(RedisCommand("FLUSHALL"))
        #expect((try take("host-c").last?.integer ?? 0) > (third.last?.integer ?? 0))
        // A lock set by hand without a TTL says so.
        try client.call(RedisCommand("SET", RedisScripts.lockKey("m"), "by-hand"))
        let manual = try client.evaluate(RedisScripts.lockAcquire, keys: [RedisScripts.lockKey("m"), RedisScripts.fenceKey("m")],
                                         arguments: ["host-a", "200"]).elements ?? []
        #expect(manual.last?.integer == -1)
    }
}
