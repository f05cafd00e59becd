@testable import SoloKit
import Testing

/// What the feeder relies on of a store (FeedStore), run once on an SQLite file and once on a
/// real redis-server from one body each: a behaviour one store lacks fails here, on that store.
/// Jobs are pushed and looked at through the operator's side (JobQueue), as `solo push` and
/// `solo queue` do.
@Suite struct StoreContractTests {
    typealias Store = ContractStore

    // MARK: - reserve

    @Test(arguments: StoreKind.allCases)
    func jobsGoOutByPriorityThenAge(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["low1", "low2"])
        try s.push(["high"], priority: 5)
        try s.push(["neg"], priority: -1)
        try s.push(["theirs"], priority: 9, queue: Store.other)
        #expect(try s.reserve(0).jobs.isEmpty)
        let first = try s.reserve(2).jobs
        let rest = try s.reserve(10).jobs
        #expect(first.map(\.payload) == ["high", "low1"])
        #expect(rest.map(\.payload) == ["low2", "neg"])
        #expect((first + rest).map(\.priority) == [5, 0, 0, -1])
        #expect((first + rest).allSatisfy { $0.attempts == 1 && $0.payloadProblem == nil && $0.group == nil && $0.maxAttempts == nil })
        #expect(try s.reserve(10).jobs.isEmpty)
        #expect(try s.reserve(10, queue: Store.other).jobs.map(\.payload) == ["theirs"])
        #expect(try s.counts() == [0, 0, 4, 0, 0])
    }

    @Test(arguments: StoreKind.allCases)
    func aReservedJobCarriesItsGroupAndItsOwnAttempts(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a"], maxAttempts: 3, group: "batch-1")
        let job = try #require(try s.reserve(1).jobs.first)
        #expect(job.group == "batch-1" && job.maxAttempts == 3 && job.attempts == 1)
    }

    // MARK: - delayed jobs

    @Test(arguments: StoreKind.allCases)
    func aDelayedJobIsPromotedOnlyWhenDue(_ kind: StoreKind) throws {
        let s = try Store(kind)
        let due = try s.push(["soon"], delay: .milliseconds(2500))
        try s.push(["later"], delay: .seconds(3600))
        let early = try s.promote()
        #expect(early.map { $0 > .zero && $0 <= .milliseconds(2500) } == true, "next delayed in \(String(describing: early))")
        let none = try s.reserve(10)
        #expect(none.jobs.isEmpty)
        #expect(none.nextDelayedIn.map { $0 > .zero && $0 <= .milliseconds(2500) } == true)
        try s.figures(become: [0, 2, 0, 0])
        try s.waitForClock(past: due + 100)
        let next = try s.promote()
        #expect(next.map { $0 > .seconds(3500) && $0 <= .seconds(3600) } == true, "next delayed in \(String(describing: next))")
        try s.figures(become: [1, 1, 0, 0])
        let taken = try s.reserve(10)
        #expect(taken.jobs.map(\.payload) == ["soon"])
        #expect(taken.nextDelayedIn.map { $0 > .seconds(3500) } == true)
    }

    /// When the queue's own next delayed job is due (the feeder wakes then to promote it), not
    /// another queue's of the same store.
    @Test(arguments: StoreKind.allCases)
    func theNextDelayedJobReportedIsTheQueuesOwn(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["theirs"], delay: .seconds(60), queue: Store.other)
        try s.push(["ours"], delay: .seconds(3600))
        let reserved = try s.reserve(1).nextDelayedIn
        #expect(reserved.map { $0 > .seconds(3500) } == true, "reserve says the next is due in \(String(describing: reserved))")
        let promoted = try s.promote()
        #expect(promoted.map { $0 > .seconds(3500) } == true, "promote says the next is due in \(String(describing: promoted))")
    }

    @Test(arguments: StoreKind.allCases)
    func aReserveTakesADelayedJobOnceDue(_ kind: StoreKind) throws {
        let s = try Store(kind)
        let due = try s.push(["soon"], delay: .milliseconds(2500))
        #expect(try s.reserve(10).jobs.isEmpty)
        try s.waitForClock(past: due + 100)
        let taken = try s.reserve(10)
        #expect(taken.jobs.map(\.payload) == ["soon"])
        #expect(taken.jobs.first?.attempts == 1)
        #expect(taken.nextDelayedIn == nil)
        #expect(try s.promote() == nil)
    }

    // MARK: - outcomes

    @Test(arguments: StoreKind.allCases)
    func outcomesFinishTheJobs(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a", "b", "c", "d"])
        let jobs = try s.reserve(4).jobs.map(\.id)
        try s.commit(jobs.map { .started(id: $0) } + [.done(id: jobs[0], result: nil), .done(id: jobs[1], result: "42"),
                                                       .dead(id: jobs[2], error: "bad input")])
        let records = try s.records()
        #expect(records[jobs[0]]?.state == "done" && records[jobs[0]]?.result == nil && records[jobs[0]]?.finishedAt != nil)
        #expect(records[jobs[1]]?.state == "done" && records[jobs[1]]?.result == "42")
        #expect(records[jobs[2]]?.state == "dead" && records[jobs[2]]?.error == "bad input" && records[jobs[2]]?.attempts == 1)
        #expect(records[jobs[2]]?.finishedAt != nil)
        #expect(records[jobs[3]]?.state == "reserved")
        #expect(try s.counts() == [0, 0, 1, 2, 1])
        // `started` spent d's attempt: taken back, it keeps it.
        #expect(try s.reclaim(owner: "me", maxAttempts: 5) == 1)
        let d = try s.record(jobs[3])
        #expect(d.state == "ready" && d.attempts == 1 && d.error == "its supervisor (me) died while it ran")
    }

    @Test(arguments: StoreKind.allCases)
    func aRetryWaitsItsDelayThenDiesWhenNoAttemptIsLeft(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["flaky", "slow"])
        let jobs = try s.reserve(2).jobs
        let (flaky, slow) = (jobs[0].id, jobs[1].id)
        let next = try s.commit([.started(id: flaky), .started(id: slow), .retry(id: flaky, error: "boom", delay: .zero, maxAttempts: 2),
                                 .retry(id: slow, error: "later", delay: .seconds(3600), maxAttempts: 2)])
        #expect(next == .zero)
        let waiting = try s.record(slow)
        #expect(waiting.state == "delayed" && waiting.attempts == 1 && waiting.error == "later" && waiting.finishedAt == nil)
        #expect(waiting.runAt > JobStore.now() + 3_500_000)
        #expect(try s.record(flaky).state == "delayed")
        let again = try s.reserve(10)
        #expect(again.jobs.map(\.payload) == ["flaky"])
        #expect(again.jobs.first?.attempts == 2)
        #expect(again.nextDelayedIn.map { $0 > .seconds(3500) } == true)
        let after = try s.commit([.started(id: flaky), .retry(id: flaky, error: "boom", delay: .zero, maxAttempts: 2)])
        #expect(after.map { $0 > .seconds(3500) } == true, "next delayed in \(String(describing: after))")
        let dead = try s.record(flaky)
        #expect(dead.state == "dead" && dead.attempts == 2 && dead.error == "boom (no attempt left: 2 of 2)" && dead.finishedAt != nil)
        #expect(try s.counts() == [0, 1, 0, 0, 1])
    }

    @Test(arguments: StoreKind.allCases)
    func aJobsOwnMaxAttemptsBeatsThePoolsDefault(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["stubborn"], maxAttempts: 3)
        try s.push(["fragile"], priority: -1, maxAttempts: 1)
        var id: Int64 = 0
        for attempt in 1...3 {
            let job = try #require(try s.reserve(1).jobs.first)
            #expect(job.payload == "stubborn" && job.attempts == attempt)
            id = job.id
            try s.commit([.started(id: id), .retry(id: id, error: "no", delay: .zero, maxAttempts: 1)])
        }
        let stubborn = try s.record(id)
        #expect(stubborn.state == "dead" && stubborn.error == "no (no attempt left: 3 of 3)")
        let fragile = try #require(try s.reserve(1).jobs.first)
        #expect(fragile.payload == "fragile")
        try s.commit([.started(id: fragile.id), .retry(id: fragile.id, error: "no", delay: .zero, maxAttempts: 5)])
        let record = try s.record(fragile.id)
        #expect(record.state == "dead" && record.error == "no (no attempt left: 1 of 1)")
    }

    @Test(arguments: StoreKind.allCases)
    func outcomesOfANonHolderChangeNothing(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a", "b", "c", "d"])
        let jobs = try s.reserve(4).jobs.map(\.id)
        try s.commit([.started(id: jobs[0]), .done(id: jobs[0], result: "x"), .dead(id: jobs[1], error: "no"),
                      .retry(id: jobs[2], error: "again", delay: .zero, maxAttempts: 5), .started(id: jobs[3])], by: "intruder")
        for id in jobs {
            let record = try s.record(id)
            #expect(record.state == "reserved" && record.attempts == 1 && record.result == nil && record.error == nil, "job \(id): \(record)")
        }
        // The intruder's `started` did not count: d is still ahead, and goes back with its attempt.
        try s.release([jobs[3]])
        #expect(try s.record(jobs[3]).attempts == 0)
        // Once the lease is taken back and another holds the job, the first holder's late
        // outcomes are dropped.
        #expect(try s.reclaim(owner: "me", maxAttempts: 5) == 3)
        let taken = try s.reserve(4, by: "successor").jobs.map(\.id)
        #expect(taken == jobs)
        try s.commit([.started(id: jobs[0]), .done(id: jobs[0], result: "late")], by: "me")
        #expect(try s.ids(in: "reserved") == jobs)
        #expect(try s.record(jobs[0]).result == nil)
    }

    // MARK: - leases

    @Test(arguments: StoreKind.allCases)
    func renewExtendsOnlyTheOwnersGivenJobs(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["m1", "m2", "m3", "t1"])
        let mine = try s.reserve(3, lease: .milliseconds(1)).jobs.map(\.id)
        let theirs = try s.reserve(1, by: "them", lease: .milliseconds(1)).jobs.map(\.id)
        let leased = JobStore.now()
        try s.renew([mine[0], mine[1], theirs[0]], lease: .seconds(3600))
        try s.waitForClock(past: leased + 5)
        #expect(try s.reclaim(owner: nil, maxAttempts: 5) == 2)
        #expect(try s.ids(in: "reserved") == [mine[0], mine[1]])
        #expect(try s.ids(in: "ready") == [mine[2], theirs[0]])
    }

    @Test(arguments: StoreKind.allCases)
    func reclaimTakesBackExpiredLeasesAndTheOwnersButNeverTheKept(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["other-ahead", "other-ran", "other-live", "kept", "mine-ran", "mine-ahead"])
        let other = try s.reserve(2, by: "other", lease: .milliseconds(1)).jobs.map(\.id)
        let otherLive = try s.reserve(1, by: "other").jobs.map(\.id)
        let kept = try s.reserve(1, lease: .milliseconds(1)).jobs.map(\.id)
        let mine = try s.reserve(2).jobs.map(\.id)
        let leased = JobStore.now()
        try s.commit([.started(id: other[1])], by: "other")
        try s.commit([.started(id: kept[0]), .started(id: mine[0])])
        try s.waitForClock(past: leased + 5)

        #expect(try s.reclaim(owner: "me", keeping: kept, maxAttempts: 5) == 4)
        let records = try s.records()
        func check(_ id: Int64, _ state: String, attempts: Int, error: String?) {
            let record = records[id]
            #expect(record?.state == state && record?.attempts == attempts && record?.error == error,
                    "\(record?.payload ?? "job \(id)"): \(record.map { "\($0.state), \($0.attempts) attempts, error \($0.error ?? "none")" } ?? "gone")")
        }
        check(other[0], "ready", attempts: 0, error: nil)
        check(other[1], "ready", attempts: 1, error: "its supervisor (other) died while it ran")
        check(otherLive[0], "reserved", attempts: 1, error: nil)
        check(kept[0], "reserved", attempts: 1, error: nil)
        check(mine[0], "ready", attempts: 1, error: "its supervisor (me) died while it ran")
        check(mine[1], "ready", attempts: 0, error: nil)
        // Without an owner, only expired leases; the kept one is expired, and still kept.
        #expect(try s.reclaim(owner: nil, keeping: kept, maxAttempts: 5) == 0)
        // Its holder renews it, and its outcome counts.
        try s.renew(kept, lease: .seconds(3600))
        try s.commit([.done(id: kept[0], result: nil)])
        #expect(try s.record(kept[0]).state == "done")
    }

    @Test(arguments: StoreKind.allCases)
    func aJobAWorkerHadDiesWithItsSupervisorWhenNoAttemptIsLeftButAnAheadOneNever(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["once"])
        try s.push(["thrice"], maxAttempts: 3)
        try s.push(["ahead"], priority: -1, maxAttempts: 1)
        let ran = try s.reserve(2, by: "gone", lease: .milliseconds(1)).jobs.map(\.id)
        let ahead = try s.reserve(1, by: "gone", lease: .milliseconds(1)).jobs.map(\.id)
        let leased = JobStore.now()
        try s.commit(ran.map { .started(id: $0) }, by: "gone")
        try s.waitForClock(past: leased + 5)
        #expect(try s.reclaim(owner: nil, maxAttempts: 1) == 3)
        let once = try s.record(ran[0])
        #expect(once.state == "dead" && once.attempts == 1 && once.finishedAt != nil)
        #expect(once.error == "its supervisor (gone) died while it ran (no attempt left: 1 of 1)")
        let thrice = try s.record(ran[1])
        #expect(thrice.state == "ready" && thrice.attempts == 1 && thrice.error == "its supervisor (gone) died while it ran")
        let back = try s.record(ahead[0])
        #expect(back.state == "ready" && back.attempts == 0 && back.error == nil)
        #expect(try s.counts() == [2, 0, 0, 0, 1])
    }

    @Test(arguments: StoreKind.allCases)
    func releaseGivesJobsBackUntouched(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a", "b", "c"], group: "g")
        let jobs = try s.reserve(3).jobs.map(\.id)
        try s.commit([.started(id: jobs[2])])
        try s.release([jobs[0], jobs[1]], by: "intruder")
        #expect(try s.ids(in: "reserved") == jobs)
        try s.release([jobs[0], jobs[1]])
        for id in jobs.prefix(2) {
            let record = try s.record(id)
            #expect(record.state == "ready" && record.attempts == 0 && record.error == nil)
        }
        #expect(try s.ids(in: "reserved") == [jobs[2]])
        #expect(try s.groupCounts("g") == [2, 0, 1, 0, 0])
        try s.figures(become: [2, 0, 1, 0])
        let again = try s.reserve(3, by: "next").jobs
        #expect(again.map(\.id) == Array(jobs.prefix(2)))
        #expect(again.allSatisfy { $0.attempts == 1 })
    }

    // MARK: - groups and purges

    @Test(arguments: StoreKind.allCases)
    func groupCountersFollowEveryMoveAndACascadeJoinsTheGroup(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["g1", "g2"], group: "g")
        try s.push(["g3"], delay: .seconds(3600), group: "g")
        try s.push(["alone"], priority: -1)
        #expect(try s.groupCounts("g") == [2, 1, 0, 0, 0])
        let jobs = try s.reserve(2).jobs
        #expect(jobs.map(\.payload) == ["g1", "g2"] && jobs.allSatisfy { $0.group == "g" })
        let (g1, g2) = (jobs[0].id, jobs[1].id)
        #expect(try s.groupCounts("g") == [0, 1, 2, 0, 0])

        // g1's worker pushes into its group while g1 runs (solo push finds the group by the worker).
        try s.assign(g1, to: "w-1")
        try s.assign(g2, to: "w-2", by: "intruder")
        #expect(try s.commands.groupOfJob(heldBy: "w-1", queue: Store.queue) == "g")
        #expect(try s.commands.groupOfJob(heldBy: "w-2", queue: Store.queue) == nil)
        try s.push(["g4"], group: "g")
        #expect(try s.groupCounts("g") == [1, 1, 2, 0, 0])

        try s.commit([.started(id: g1), .started(id: g2), .done(id: g1, result: nil),
                      .retry(id: g2, error: "again", delay: .seconds(3600), maxAttempts: 5)])
        #expect(try s.commands.groupOfJob(heldBy: "w-1", queue: Store.queue) == nil)
        #expect(try s.groupCounts("g") == [1, 2, 0, 1, 0])

        let g4 = try #require(try s.reserve(1).jobs.first)
        #expect(g4.payload == "g4")
        try s.commit([.started(id: g4.id), .dead(id: g4.id, error: "no")])
        #expect(try s.groupCounts("g") == [0, 2, 0, 1, 1])

        try s.push(["g5"], priority: 1, group: "g")
        let g5 = try s.reserve(1, by: "gone", lease: .milliseconds(1)).jobs.map(\.id)
        let leased = JobStore.now()
        try s.commit([.started(id: g5[0])], by: "gone")
        try s.assign(g5[0], to: "w-5", by: "gone")
        #expect(try s.groupCounts("g") == [0, 2, 1, 1, 1])
        try s.waitForClock(past: leased + 5)
        #expect(try s.reclaim(owner: nil, maxAttempts: 5) == 1)
        #expect(try s.groupCounts("g") == [1, 2, 0, 1, 1])
        #expect(try s.commands.groupOfJob(heldBy: "w-5", queue: Store.queue) == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func purgeDeletesOldDoneJobsInStepsButSparesRunningGroups(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a", "b", "c"])
        try s.push(["g1", "g2"], group: "g")
        try s.push(["g-last"], priority: -1, group: "g")
        let jobs = try s.reserve(5).jobs.map(\.id)
        try s.commit(jobs.map { .started(id: $0) } + jobs.map { .done(id: $0, result: nil) })
        try s.waitForClock(past: JobStore.now() + 2)

        let young = try s.purge(keep: .seconds(3600), limit: 2, offset: 0)
        #expect(young.deleted == 0 && young.finished)

        let first = try purgeRound(s, limit: 2)
        #expect(first.steps.first?.finished == false, "the first of several steps says there is more: \(first.steps)")
        #expect(first.deleted == 3)
        #expect(try s.ids(in: "done") == [jobs[3], jobs[4]])
        #expect(try s.groupCounts("g") == [1, 0, 0, 2, 0])

        let last = try #require(try s.reserve(1).jobs.first)
        try s.commit([.started(id: last.id), .done(id: last.id, result: nil)])
        try s.waitForClock(past: JobStore.now() + 2)
        let second = try purgeRound(s, limit: 2)
        #expect(second.deleted == 3)
        #expect(try s.ids(in: "done") == [])
        #expect(try s.groupCounts("g") == [0, 0, 0, 0, 0])
    }

    /// A worker's `solo push --queue` into another queue of the store keeps its job's group
    /// (see pushCommand): the group runs there, and its done jobs here are kept.
    @Test(arguments: StoreKind.allCases)
    func purgeSparesAGroupThatStillRunsInAnotherQueue(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["here"], group: "g")
        try s.push(["there"], group: "g", queue: Store.other)
        let here = try #require(try s.reserve(1).jobs.first)
        try s.commit([.started(id: here.id), .done(id: here.id, result: nil)])
        try s.waitForClock(past: JobStore.now() + 2)
        #expect(try purgeRound(s, limit: 10).deleted == 0)
        #expect(try s.groupCounts("g") == [1, 0, 0, 1, 0])
    }

    /// Purge steps as the feeder makes them (see Feeder.purgeStep): from the skipped ones on,
    /// until one says it is finished.
    private func purgeRound(_ s: Store, limit: Int) throws -> (deleted: Int, steps: [PurgeStep]) {
        var steps: [PurgeStep] = []
        var offset = 0
        while steps.last?.finished != true {
            guard steps.count < 20 else { throw ContractFailure("\(s.kind): a purge round did not finish in 20 steps: \(steps)") }
            let step = try s.purge(keep: .zero, limit: limit, offset: offset)
            #expect(step.deleted <= limit)
            steps.append(step)
            offset += step.skipped
        }
        return (steps.map(\.deleted).reduce(0, +), steps)
    }

    // MARK: - figures, signals, payloads

    @Test(arguments: StoreKind.allCases)
    func theStoresFiguresAgreeWithWhatWasPushed(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["r1", "r2", "r3", "r4", "r5"])
        try s.push(["d"], delay: .seconds(3600))
        try s.push(["theirs"], queue: Store.other)
        let jobs = try s.reserve(2).jobs.map(\.id)
        try s.commit([.started(id: jobs[1]), .dead(id: jobs[1], error: "no")])
        try s.figures(become: [3, 1, 1, 1])
        try s.ready(atMost: 2, become: 2)
        try s.ready(atMost: 10, become: 3)
        #expect(try s.counts() == [3, 1, 1, 0, 1])
    }

    @Test(arguments: StoreKind.allCases)
    func aPushIsHeardOfAsJobsThatMayHaveCome(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.listen()
        try s.push(["x"])
        try s.pump("the store to tell of the pushed job") { !s.heard.jobsMayHaveCome.isEmpty }
        #expect(s.heard.jobsMayHaveCome.allSatisfy { $0 == nil || $0 == Store.queue })
    }

    /// A caller's supervisor hears of a job another one ends: a server publishes the endings of
    /// a batch, a file's commit is seen on disk.
    @Test(arguments: StoreKind.allCases)
    func aJobEndedIsHeardOf(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["done", "dead"])
        let ids = try s.reserve(2).jobs.map(\.id)
        try s.commit(ids.map { .started(id: $0) })
        try s.listen()
        try s.commit([.done(id: ids[0], result: "r"), .dead(id: ids[1], error: "no")])
        try s.pump("the store to tell of the ended jobs") {
            kind == .redis ? !s.heard.jobsMayHaveEnded.isEmpty : !s.heard.jobsMayHaveCome.isEmpty
        }
        #expect(s.heard.jobsMayHaveEnded.allSatisfy { $0 == Store.queue })
    }

    @Test(arguments: StoreKind.allCases)
    func aPayloadThatWouldBreakTheLineProtocolComesBackMarked(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.insertRaw([Array("first\nsecond".utf8), Array("one\rjob".utf8), [0x61, 0, 0x62], [0xFF, 0xFE], [], Array("fine".utf8)])
        let jobs = try s.reserve(10).jobs
        #expect(jobs.map(\.payloadProblem) == [.newline, .carriageReturn, .nulByte, .invalidUTF8, .empty, nil])
        #expect(jobs.last?.payload == "fine")
    }
}
