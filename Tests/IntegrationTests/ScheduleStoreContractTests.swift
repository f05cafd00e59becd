@testable import SoloKit
import Testing

/// A schedule's run is pushed once per schedule and time, on either store, however often it is
/// tried; the last run is remembered. (Two supervisors at once: ScheduleTests.)
@Suite struct ScheduleStoreContractTests {
    typealias Store = ContractStore

    static func run(_ time: Int64, payload: String = "tick", group: String? = nil) -> ScheduledRun {
        ScheduledRun(schedule: "tick", time: time, queue: Store.queue, job: NewJob(payload: Array(payload.utf8), priority: 3, group: group))
    }

    @Test(arguments: StoreKind.allCases)
    func aRunIsPushedOnceAndTheLastIsRemembered(_ kind: StoreKind) throws {
        let s = try Store(kind)
        #expect(try s.answer("lastRun") { s.store.lastRun(of: "tick", queue: Store.queue, $0) } == nil)
        let first = try s.answer("pushRun") { s.store.pushRun(Self.run(1_000, payload: "first", group: "ticks"), $0) }
        let again = try s.answer("pushRun") { s.store.pushRun(Self.run(1_000, payload: "again"), $0) }
        #expect(first.pushedNow && !again.pushedNow && again.jobID == first.jobID)
        let later = try s.answer("pushRun") { s.store.pushRun(Self.run(1_060, payload: "later"), $0) }
        #expect(later.pushedNow && later.jobID != first.jobID)
        // A run older than the latest pushed (a supervisor that lost the fleet lock while it
        // pushed, back long after) was pushed before: never a second job for it.
        let older = try s.answer("pushRun") { s.store.pushRun(Self.run(900, payload: "older"), $0) }
        #expect(!older.pushedNow && older.jobID == later.jobID)
        #expect(try s.answer("lastRun") { s.store.lastRun(of: "tick", queue: Store.queue, $0) } == PastRun(time: 1_060, jobID: later.jobID))
        // The run of the same schedule name in another queue is another run.
        let elsewhere = try s.answer("pushRun") {
            s.store.pushRun(ScheduledRun(schedule: "tick", time: 1_060, queue: "other", job: NewJob(payload: Array("elsewhere".utf8))), $0)
        }
        #expect(elsewhere.pushedNow)
        let records = try s.records()
        #expect(records.values.map(\.payload).sorted() == ["first", "later"])
        #expect(records[first.jobID]?.priority == 3 && records[first.jobID]?.group == "ticks" && records[first.jobID]?.state == "ready")
        #expect(try s.groupCounts("ticks") == [1, 0, 0, 0, 0])
    }

    /// With `overlap = skip` a run's job holds the schedule's unique key while it waits or runs:
    /// a run due meanwhile is not pushed (it counts as the latest, with the earlier job), and the
    /// next run after that job ended is.
    @Test(arguments: StoreKind.allCases)
    func aSlowRunIsNotStackedOnItself(_ kind: StoreKind) throws {
        let s = try Store(kind)
        func run(_ time: Int64) -> ScheduledRun {
            ScheduledRun(schedule: "slow", time: time, queue: Store.queue, job: NewJob(payload: Array("slow".utf8)), uniqueKey: "schedule:slow")
        }
        let first = try s.answer("pushRun") { s.store.pushRun(run(1_000), $0) }
        #expect(first.pushedNow && !first.overlapped)
        let taken = try s.reserve(1)
        #expect(taken.jobs.map(\.id) == [first.jobID])
        let second = try s.answer("pushRun") { s.store.pushRun(run(1_060), $0) }
        #expect(!second.pushedNow && second.overlapped && second.jobID == first.jobID, "the first run still runs")
        #expect(try s.answer("lastRun") { s.store.lastRun(of: "slow", queue: Store.queue, $0) } == PastRun(time: 1_060, jobID: first.jobID))
        try s.commit([.started(id: first.jobID), .done(id: first.jobID, result: nil)])
        let third = try s.answer("pushRun") { s.store.pushRun(run(1_120), $0) }
        #expect(third.pushedNow && !third.overlapped && third.jobID != first.jobID)
        #expect(try s.records().count == 2)
    }
}
