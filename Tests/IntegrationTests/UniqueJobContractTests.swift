@testable import SoloKit
import Testing

/// Unique jobs (solo-queue(5), "UNIQUE JOBS") on both stores, from one body each: a key is held
/// per queue from the push while its job waits, runs or waits for a retry, and after it ends
/// for what is left of its --unique-for; a push with a held key is refused and names the holder.
extension StoreContractTests {
    @Test(arguments: StoreKind.allCases)
    func aHeldKeyRefusesAnotherJobAndNamesTheHolder(_ kind: StoreKind) throws {
        let s = try Store(kind)
        #expect(try s.push(keyed: [("first", "nightly")]) == Pushed(queued: 1))
        let holder = try s.id(of: "first")
        #expect(try s.push(keyed: [("second", "nightly")]) == Pushed(queued: 0, duplicates: [.init(index: 0, existing: holder)]))
        #expect(try s.push(keyed: [("other key", "hourly"), ("no key", nil)]) == Pushed(queued: 2))
        #expect(try s.push(keyed: [("elsewhere", "nightly")], queue: Store.other) == Pushed(queued: 1), "a key is per queue")
        #expect(try s.record(holder).uniqueKey == "nightly")
        #expect(try s.records().values.map(\.payload).sorted() == ["first", "no key", "other key"])
        #expect(try s.counts() == [3, 0, 0, 0, 0])
    }

    @Test(arguments: StoreKind.allCases)
    func aBatchNamesItsDuplicatesWithinItAndAgainstEarlierJobs(_ kind: StoreKind) throws {
        let s = try Store(kind)
        _ = try s.push(keyed: [("earlier", "k3")])
        let earlier = try s.id(of: "earlier")
        let pushed = try s.push(keyed: [("a", "k1"), ("b", "k2"), ("c", "k1"), ("d", nil), ("e", "k3"), ("f", "k4")])
        let a = try s.id(of: "a")
        #expect(pushed == Pushed(queued: 4, duplicates: [.init(index: 2, existing: a), .init(index: 4, existing: earlier)]))
        #expect(try s.records().values.map(\.payload).sorted() == ["a", "b", "d", "earlier", "f"])
        // A delayed job holds its key too.
        #expect(try s.push(keyed: [("later", "k5")], delay: .seconds(3600)).queued == 1)
        #expect(try s.push(keyed: [("again", "k5")]).duplicates.map(\.existing) == [try s.id(of: "later")])
    }

    @Test(arguments: StoreKind.allCases)
    func theKeyIsHeldWhileTheJobRunsOrWaitsToRetryAndFreedWhenItEnds(_ kind: StoreKind) throws {
        let s = try Store(kind)
        _ = try s.push(keyed: [("report", "k")])
        let job = try #require(try s.reserve(1).jobs.first)
        #expect(try s.push(keyed: [("while it runs", "k")]).duplicates.map(\.existing) == [job.id])
        try s.commit([.started(id: job.id), .retry(id: job.id, error: "flaky", delay: .seconds(3600), maxAttempts: 5)])
        #expect(try s.push(keyed: [("while it waits to retry", "k")]).duplicates.map(\.existing) == [job.id])
        // Done: the key is free for the next run.
        _ = try s.push(keyed: [("dies", "d")])
        let dies = try #require(try s.reserve(5).jobs.first)
        try s.commit([.dead(id: dies.id, error: "bad")])
        #expect(try s.push(keyed: [("after death", "d")]).queued == 1, "a dead job frees its key")
        let next = try s.id(of: "after death")
        let runs = try #require(try s.reserve(5).jobs.first)
        #expect(runs.id == next)
        try s.commit([.done(id: next, result: nil)])
        #expect(try s.push(keyed: [("after done", "d")]).queued == 1, "a done job frees its key")
        // A dead job retried by the operator does not take back a key another job holds.
        _ = try s.commands.change(.retry, ids: [dies.id], queue: Store.queue)
        #expect(try s.push(keyed: [("still held", "d")]).duplicates.map(\.existing) == [try s.id(of: "after done")])
    }

    @Test(arguments: StoreKind.allCases)
    func uniqueForHoldsTheKeyAfterTheJobEndsUntilItPasses(_ kind: StoreKind) throws {
        let s = try Store(kind)
        let pushedAt = JobStore.now()
        _ = try s.push(keyed: [("hourly", "h")], uniqueFor: .milliseconds(2500))
        let job = try #require(try s.reserve(1).jobs.first)
        try s.commit([.done(id: job.id, result: nil)])
        #expect(try s.push(keyed: [("too soon", "h")]).duplicates.map(\.existing) == [job.id])
        // The automatic purge of done jobs keeps one whose key outlives it (its id answers),
        // even when it is old enough to go.
        try s.waitForClock(past: JobStore.now())
        #expect(try s.purge(keep: .zero, limit: 100, offset: 0).deleted == 0)
        #expect(try s.push(keyed: [("still too soon", "h")]).duplicates.map(\.existing) == [job.id])
        try s.waitForClock(past: pushedAt + 2500 + 100)
        #expect(try s.push(keyed: [("in time", "h")]).queued == 1)
        #expect(try s.purge(keep: .zero, limit: 100, offset: 0).deleted == 1, "once passed, the done job goes")
    }

    @Test(arguments: StoreKind.allCases)
    func deletingOrBuryingAJobFreesItsKey(_ kind: StoreKind) throws {
        let s = try Store(kind)
        _ = try s.push(keyed: [("purged", "p"), ("buried", "b")], uniqueFor: .seconds(3600))
        #expect(try s.commands.change(.delete, ids: [try s.id(of: "purged")], queue: Store.queue).count == 1)
        #expect(try s.push(keyed: [("after purge", "p")]).queued == 1, "a deleted job frees its key, --unique-for or not")
        #expect(try s.commands.change(.bury(reason: "no"), ids: [try s.id(of: "buried")], queue: Store.queue).count == 1)
        #expect(try s.push(keyed: [("after bury", "b")]).duplicates.count == 1, "a buried job keeps its key for its --unique-for")
        #expect(try s.commands.purge(queue: Store.queue, states: ["dead"]) == 1)
        #expect(try s.push(keyed: [("after bury and purge", "b")]).queued == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func anotherProgramsJobsHoldAndRespectKeysToo(_ kind: StoreKind) throws {
        let s = try Store(kind)
        _ = try s.push(keyed: [("by solo", "k1")])
        try s.insertRaw("by the app", uniqueKey: "k1")
        try s.insertRaw("the app's own", uniqueKey: "k2")
        #expect(try s.records().values.map(\.payload).sorted() == ["by solo", "the app's own"])
        let own = try s.id(of: "the app's own")
        #expect(try s.record(own).uniqueKey == "k2")
        #expect(try s.push(keyed: [("by solo again", "k2")]).duplicates.map(\.existing) == [own])
    }

    /// A dead job put back by the operator holds its key again only while its --unique-for
    /// still held it: never past that time, even before anyone pushed the key again.
    @Test(arguments: StoreKind.allCases)
    func aRetriedDeadJobHoldsItsKeyOnlyWithinItsTime(_ kind: StoreKind) throws {
        let s = try Store(kind)
        let pushedAt = JobStore.now()
        _ = try s.push(keyed: [("short", "s")], uniqueFor: .milliseconds(1500))
        _ = try s.push(keyed: [("long", "l")], uniqueFor: .seconds(3600))
        let jobs = try s.reserve(2).jobs
        try s.commit(jobs.map { .dead(id: $0.id, error: "bad") })
        try s.waitForClock(past: pushedAt + 1500 + 100)
        #expect(try s.commands.change(.retry, ids: jobs.map(\.id), queue: Store.queue).count == 2)
        #expect(try s.push(keyed: [("short again", "s")]).queued == 1, "the time had passed")
        #expect(try s.push(keyed: [("long again", "l")]).duplicates.map(\.existing) == [try s.id(of: "long")])
        // Back in the queue, it holds its key as a pending job does, past its time too.
        let long = try s.id(of: "long")
        let taken = try #require(try s.reserve(5).jobs.first { $0.id == long })
        #expect(try s.push(keyed: [("while it runs", "l")]).duplicates.map(\.existing) == [taken.id])
    }
}
