import Testing
@testable import SoloKit

@Suite struct QueueHistoryTests {
    @Test func samplesRatesAndMeanWaitsFromTheCountersDifferences() {
        var history = QueueHistory()
        history.record(atMs: 1_000, totals: .init(jobs: 5, waitSeconds: 1, waits: 5), oldestWaitingMs: nil)
        #expect(history.samples.isEmpty, "the first sample only sets where differences start")
        history.record(atMs: 11_000, totals: .init(jobs: 105, waitSeconds: 3, waits: 9), oldestWaitingMs: 700)
        history.record(atMs: 21_000, totals: .init(jobs: 105, waitSeconds: 3, waits: 9), oldestWaitingMs: nil)
        #expect(history.samples.map(\.jobsPerSecond) == [10, 0])
        #expect(history.samples.map(\.meanWaitMs) == [500, nil], "2 s over 4 jobs; none handed out: no mean")
        #expect(history.samples.map(\.oldestWaitingMs) == [700, nil])
        #expect(history.json.text == "[[11000,10.0,500,700],[21000,0.0,null,null]]")
    }

    @Test func keepsOnlyTheLastCapacitySamplesOldestFirst() {
        var history = QueueHistory(capacity: 3)
        for step in 0...7 { history.record(atMs: Int64(step) * 1000, totals: .init(jobs: step * step, waitSeconds: 0, waits: 0), oldestWaitingMs: Int64(step)) }
        #expect(history.samples.map(\.atMs) == [5000, 6000, 7000])
        #expect(history.samples.map(\.jobsPerSecond) == [9, 11, 13])
    }

    @Test func countersThatWentBackStartOver() {
        var history = QueueHistory()
        history.record(atMs: 0, totals: .init(jobs: 50, waitSeconds: 5, waits: 50), oldestWaitingMs: nil)
        history.record(atMs: 10_000, totals: .init(jobs: 2, waitSeconds: 0, waits: 2), oldestWaitingMs: nil)
        history.record(atMs: 20_000, totals: .init(jobs: 12, waitSeconds: 0, waits: 2), oldestWaitingMs: nil)
        #expect(history.samples.map(\.jobsPerSecond) == [1])
    }
}
