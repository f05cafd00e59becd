@testable import SoloKit
import Testing

/// Rate and concurrency limits (JobLimits) where jobs are handed out, on an SQLite file and on
/// a real redis-server from one body each: the queue's own limits cut a reserve short for every
/// owner alike, and a key at its limit holds back only its own jobs.
@Suite struct LimitContractTests {
    typealias Store = ContractStore

    @Test(arguments: StoreKind.allCases)
    func concurrencyCapsTheJobsOutAtOnceWhoeverTakesThem(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push((1...10).map { "j\($0)" })
        let limits = JobLimits(concurrency: 3)
        let first = try s.reserve(10, by: "a", limits: limits)
        #expect(first.jobs.map(\.payload) == ["j1", "j2", "j3"])
        #expect(first.limitedBy == .concurrency)
        let second = try s.reserve(10, by: "b", limits: limits)
        #expect(second.jobs.isEmpty && second.limitedBy == .concurrency, "another supervisor gets none while three run")
        try s.commit([.done(id: first.jobs[0].id, result: nil)], by: "a")
        #expect(try s.reserve(10, by: "b", limits: limits).jobs.map(\.payload) == ["j4"])
        try s.release([first.jobs[1].id], by: "a")
        #expect(try s.reserve(10, by: "b", limits: limits).jobs.map(\.payload) == ["j2"], "a job given back makes room too")
        // Without the limit, the rest go.
        let unlimited = try s.reserve(10, by: "b")
        #expect(unlimited.jobs.count == 6 && unlimited.limitedBy == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func aRateLimitLetsABurstGoThenTheRateAcrossOwners(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push((1...400).map { "j\($0)" })
        // 50/s: a job every 20 ms, a burst of 5 (a tenth of a second's worth).
        let limits = JobLimits(rate: try RateLimit("50/s"))
        let burst = try s.reserve(100, by: "a", limits: limits)
        #expect(burst.jobs.count == 5, "\(burst.jobs.count)")
        #expect(burst.limitedBy == .rateLimit)
        #expect(burst.nextTurnIn.map { $0 <= .milliseconds(20) } == true, "\(String(describing: burst.nextTurnIn))")
        #expect(try s.reserve(100, by: "b", limits: limits).jobs.count <= 1, "another owner shares the rate")
        // Two owners taking as fast as they can for a second: the rate, give or take a turn.
        let began = JobStore.now()
        var taken = 0
        while JobStore.now() - began < 1000 {
            taken += try s.reserve(100, by: "a", limits: limits).jobs.count
            taken += try s.reserve(100, by: "b", limits: limits).jobs.count
            Moment.sleep(for: .milliseconds(5))
        }
        let elapsed = Double(JobStore.now() - began) / 1000
        #expect(Double(taken) <= elapsed * 50 + 5 + 1, "\(taken) jobs in \(elapsed) s at 50/s")
        #expect(Double(taken) >= elapsed * 50 * 0.5, "\(taken) jobs in \(elapsed) s at 50/s")
    }

    @Test(arguments: StoreKind.allCases)
    func aKeyAtItsConcurrencyHoldsBackOnlyItsOwnJobs(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a1", "a2", "a3"], key: "customer:a")
        try s.push(["b1"], key: "customer:b")
        try s.push(["n1"])
        let limits = JobLimits(keyConcurrency: 1)
        let first = try s.reserve(10, by: "one", limits: limits)
        #expect(first.jobs.map(\.payload) == ["a1", "b1", "n1"], "a2 and a3 wait; the jobs behind them do not")
        #expect(first.limitedBy == nil)
        try s.figures(become: [0, 2, 3, 0])
        #expect(s.store.counts(queue: Store.queue)?.heldByKeyConcurrency == 2)
        #expect(try s.reserve(10, by: "two", limits: limits).jobs.isEmpty, "held for every owner")
        // a1 ends: the best held job of its key is ready again, for whoever asks.
        try s.commit([.started(id: first.jobs[0].id), .done(id: first.jobs[0].id, result: nil)], by: "one")
        let second = try s.reserve(10, by: "two", limits: limits)
        #expect(second.jobs.map(\.payload) == ["a2"])
        #expect(second.jobs.first?.attempts == 1, "held back is not an attempt")
        // A retry frees the key too; the retried job waits its delay.
        try s.commit([.started(id: second.jobs[0].id), .retry(id: second.jobs[0].id, error: "later", delay: .seconds(60), maxAttempts: 5)], by: "two")
        #expect(try s.reserve(10, by: "one", limits: limits).jobs.map(\.payload) == ["a3"])
        #expect(s.store.counts(queue: Store.queue)?.heldByKeyConcurrency == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func heldJobsAreListedAndOneDeletedByAnOperatorStrandsNoOther(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a1", "a2", "a3"], key: "customer:a")
        let limits = JobLimits(keyConcurrency: 1)
        let first = try s.reserve(10, limits: limits)
        #expect(first.jobs.map(\.payload) == ["a1"])
        let a2 = try s.id(of: "a2"), a3 = try s.id(of: "a3")
        #expect(try s.ids(in: "delayed") == [a2, a3], "held back jobs are listed as delayed")
        #expect(try s.commands.purge(queue: Store.queue, states: ["delayed"]) >= 0)
        // Purging delayed jobs deletes both; push another to be held behind a1.
        try s.push(["a4"], key: "customer:a")
        #expect(try s.reserve(10, limits: limits).jobs.isEmpty)
        try s.figures(become: [0, 1, 1, 0])
        #expect(s.store.counts(queue: Store.queue)?.heldByKeyConcurrency == 1, "the deleted ones no longer count")
        try s.commit([.started(id: first.jobs[0].id), .done(id: first.jobs[0].id, result: nil)])
        #expect(try s.reserve(10, limits: limits).jobs.map(\.payload) == ["a4"], "the one left is freed")
    }

    @Test(arguments: StoreKind.allCases)
    func aKeysLostSlotIsGivenBackByTheUpkeep(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push((1...6).map { "a\($0)" }, key: "customer:a")
        let limits = JobLimits(keyConcurrency: 2)
        let first = try s.reserve(10, limits: limits)
        #expect(first.jobs.map(\.payload) == ["a1", "a2"])
        try s.commit([.started(id: first.jobs[0].id), .done(id: first.jobs[0].id, result: nil)])
        // a3 is freed, then buried by an operator before any reserve: the key would run one at
        // a time from now on.
        let a3 = try s.id(of: "a3")
        #expect(try s.commands.change(.bury(reason: "by hand"), ids: [a3], queue: Store.queue) == [a3: "ready"])
        #expect(try s.reserve(10, limits: limits).jobs.isEmpty)
        #expect(try s.reclaim(owner: nil, maxAttempts: 5, keyConcurrency: 2) == 0)
        #expect(try s.reserve(10, limits: limits).jobs.map(\.payload) == ["a4"], "the upkeep gave the slot back")
        // Raised to 4: the upkeep frees the room at once.
        let raised = JobLimits(keyConcurrency: 4)
        _ = try s.reclaim(owner: nil, maxAttempts: 5, keyConcurrency: 4)
        #expect(try s.reserve(10, limits: raised).jobs.map(\.payload) == ["a5", "a6"])
        #expect(s.store.counts(queue: Store.queue)?.heldByKeyConcurrency == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func aBuriedHeldJobIsNoLongerCountedAndComesBackWithoutItsMark(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a1", "a2", "a3"], key: "customer:a")
        // 1/min: a1 goes, a2 and a3 are booked turns a minute apart.
        let limits = JobLimits(keyRate: try RateLimit("1/min"))
        #expect(try s.reserve(10, limits: limits).jobs.map(\.payload) == ["a1"])
        try s.figures(become: [0, 2, 1, 0])
        #expect(s.store.counts(queue: Store.queue)?.heldByKeyRate == 2)
        let a2 = try s.id(of: "a2")
        #expect(try s.commands.change(.bury(reason: "by hand"), ids: [a2], queue: Store.queue) == [a2: "delayed"])
        _ = try s.reserve(0, limits: limits)
        try s.figures(become: [0, 1, 1, 1])
        #expect(s.store.counts(queue: Store.queue)?.heldByKeyRate == 1, "a buried job is no longer held back")
        // Retried, it waits for a turn of its own again (its booked one went with the bury).
        #expect(try s.commands.retryDead(queue: Store.queue) == 1)
        #expect(try s.reserve(10, limits: limits).jobs.isEmpty, "no turn is free for a minute")
        #expect(try s.record(a2).state == "delayed")
    }

    @Test(arguments: StoreKind.allCases)
    func aRetriedOrReclaimedJobWaitsFromThen(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["dies", "orphan"])
        let jobs = try s.reserve(2, by: "old").jobs
        try s.commit([.started(id: jobs[0].id), .dead(id: jobs[0].id, error: "bad"), .started(id: jobs[1].id)], by: "old")
        try s.waitForClock(past: JobStore.now() + 400)
        #expect(try s.commands.retryDead(queue: Store.queue) == 1)
        #expect(try s.reclaim(owner: "old", maxAttempts: 5) == 1)
        let again = try s.reserve(2)
        #expect(again.jobs.count == 2)
        for job in again.jobs {
            #expect(job.waited.map { $0 < .milliseconds(300) } == true, "\(job.payload) waited \(String(describing: job.waited)), counted from its retry or its return")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aKeysRateStateIsDroppedADayAfterItWasSpent(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a1"], key: "customer:a")
        #expect(try s.reserve(10, limits: JobLimits(keyRate: try RateLimit("1/d"))).jobs.count == 1)
        switch kind {
        case .sqlite:
            let file = try JobStore(path: s.scratch.file("queue.db"), create: false, busyTimeout: 5000)
            #expect(try file.forgetIdleBuckets(queue: Store.queue, now: JobStore.now()) == 0, "spent now: kept")
            #expect(try file.forgetIdleBuckets(queue: Store.queue, now: JobStore.now() + 86_400_000 + 2) == 1, "a day later: dropped")
        case .redis:
            let ttl = try s.server!.client().call(RedisCommand("PTTL", RedisScripts.prefix(Store.queue) + ":bucket:customer:a")).integer ?? -2
            #expect(ttl > 86_300_000 && ttl <= 86_400_010, "expires a day after: \(ttl) ms")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aKeyOverItsRateIsBookedTurnsAndOthersGoOn(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a1", "a2", "a3"], key: "customer:a")
        try s.push(["b1"], key: "customer:b")
        // 2/s: a turn every 500 ms, a burst of 1.
        let limits = JobLimits(keyRate: try RateLimit("2/s"))
        let first = try s.reserve(10, limits: limits)
        #expect(first.jobs.map(\.payload) == ["a1", "b1"])
        #expect(first.nextDelayedIn.map { $0 > .milliseconds(300) && $0 <= .milliseconds(500) } == true,
                "a2's turn comes in \(String(describing: first.nextDelayedIn))")
        try s.figures(become: [0, 2, 2, 0])
        #expect(s.store.counts(queue: Store.queue)?.heldByKeyRate == 2)
        let a2 = try s.record(try s.id(of: "a2")), a3 = try s.record(try s.id(of: "a3"))
        #expect(a3.runAt - a2.runAt >= 495 && a3.runAt - a2.runAt <= 505, "turns 500 ms apart: \(a2.runAt), \(a3.runAt)")
        try s.waitForClock(past: a2.runAt)
        _ = try s.promote()
        let second = try s.reserve(10, limits: limits)
        #expect(second.jobs.map(\.payload) == ["a2"], "a booked turn is not spent twice")
        #expect(second.jobs.first.map { $0.waited! >= .milliseconds(400) } == true, "the time held back is queue wait")
        try s.waitForClock(past: a3.runAt)
        _ = try s.promote()
        #expect(try s.reserve(10, limits: limits).jobs.map(\.payload) == ["a3"])
    }

    @Test(arguments: StoreKind.allCases)
    func aBookedTurnHeldAgainByItsKeysConcurrencyIsNotSpentTwice(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a1", "a2", "a3"], key: "customer:a")
        // Two at once, two a second: a1 goes, a2 and a3 are booked 500 ms apart.
        let limits = JobLimits(keyConcurrency: 2, keyRate: try RateLimit("2/s"))
        let a1 = try #require(try s.reserve(10, limits: limits).jobs.first)
        #expect(a1.payload == "a1")
        let a2 = try s.record(try s.id(of: "a2")), a3 = try s.record(try s.id(of: "a3"))
        try s.waitForClock(past: a2.runAt)
        _ = try s.promote()
        #expect(try s.reserve(10, limits: limits).jobs.map(\.payload) == ["a2"])
        // a3's turn comes while a1 and a2 run: held by key_concurrency now, its turn kept.
        try s.waitForClock(past: a3.runAt)
        _ = try s.promote()
        #expect(try s.reserve(10, limits: limits).jobs.isEmpty)
        #expect(s.store.counts(queue: Store.queue)?.heldByKeyConcurrency == 1)
        try s.commit([.started(id: a1.id), .done(id: a1.id, result: nil)])
        #expect(try s.reserve(10, limits: limits).jobs.map(\.payload) == ["a3"], "freed, it goes at once on the turn it had")
    }

    @Test(arguments: StoreKind.allCases)
    func queueWaitRunsFromReadyToHandedOut(_ kind: StoreKind) throws {
        let s = try Store(kind)
        let pushed = JobStore.now()
        try s.push(["old"])
        try s.waitForClock(past: pushed + 300)
        var oldest: Int64?
        try s.pump("the oldest waiting job's age", poll: true) {
            oldest = s.store.counts(queue: Store.queue)?.oldestWaitingMs
            return (oldest ?? 0) >= 300
        } failing: { "it is \(String(describing: oldest))" }
        let job = try #require(try s.reserve(1).jobs.first)
        #expect(job.waited.map { $0 >= .milliseconds(300) && $0 < .seconds(10) } == true, "\(String(describing: job.waited))")
        // Back for a retry, it waits from when it is due again, not from its push.
        try s.commit([.started(id: job.id), .retry(id: job.id, error: "again", delay: .milliseconds(200), maxAttempts: 5)])
        try s.waitForClock(past: JobStore.now() + 250)
        _ = try s.promote()
        let again = try #require(try s.reserve(1).jobs.first)
        #expect(again.waited.map { $0 < .milliseconds(300 + 250) } == true, "\(String(describing: again.waited))")
    }
}
