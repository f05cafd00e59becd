import Testing
@testable import SoloKit

/// What a batch of outcomes sends to the store.
@Suite struct FeederBatchTests {
    /// A `started` mark whose job ends in the same batch is left out; one whose job is still
    /// running goes, in its place, and the order of the rest is kept.
    @Test func aStartedMarkGoesOnlyForAJobStillRunning() {
        let batch: [JobOutcome] = [.started(id: 1), .started(id: 2), .done(id: 1, result: nil), .started(id: 3),
                                   .retry(id: 3, error: "x", delay: .seconds(1), maxAttempts: 3), .dead(id: 4, error: "y")]
        #expect(Feeder.compacted(batch) == [.started(id: 2), .done(id: 1, result: nil),
                                            .retry(id: 3, error: "x", delay: .seconds(1), maxAttempts: 3), .dead(id: 4, error: "y")])
        #expect(Feeder.compacted([.started(id: 7), .started(id: 8)]) == [.started(id: 7), .started(id: 8)])
    }

    /// On a real file: the job that ended in the batch is no longer ahead without its mark,
    /// and the one still running keeps its attempt when its supervisor's jobs are taken back.
    @Test func aCompactedBatchLeavesTheFileAsTheWholeOneWould() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        try store.push(queue: "q", [NewJob(payload: Array("ends".utf8)), NewJob(payload: Array("runs".utf8))])
        let now = JobStore.now()
        let taken = try store.reserve(queue: "q", count: 2, owner: "dead", leaseUntil: now - 1, now: now)
        try store.finish(Feeder.compacted([.started(id: taken[0].id), .started(id: taken[1].id), .done(id: taken[0].id, result: nil)]),
                         owner: "dead", now: now)
        #expect(try store.reclaim(queue: "q", expiredBefore: now, owner: nil, maxAttempts: 5) == 1)
        #expect(try store.jobs(queue: "q", states: ["done"], limit: 5).map(\.payload) == ["ends"])
        let running = try store.jobs(queue: "q", states: ["ready"], limit: 5)
        #expect(running.map(\.payload) == ["runs"] && running.first?.attempts == 1, "its attempt stays spent: \(running)")
    }
}
