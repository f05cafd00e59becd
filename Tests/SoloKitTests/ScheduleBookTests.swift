import Testing
@testable import SoloKit

/// Which runs are due, stepped through by hand: the time is passed in, no clock is read.
@Suite struct ScheduleBookTests {
    static func schedule(_ name: String, _ cron: String, missed: ScheduleConfig.MissedRuns = .skip) -> ScheduleConfig {
        var schedule = ScheduleConfig(name: name, file: "/etc/solo/solo.conf", line: 1)
        schedule.cron = try! CronExpression(cron)
        schedule.queueName = "q"
        schedule.place = .sqlite(path: "/tmp/q.db")
        schedule.missed = missed
        return schedule
    }

    static let t0 = CronExpressionTests.utc("2026-06-01T12:00:00Z")

    /// A book of one schedule never run before, read at `t0`.
    static func started(_ cron: String) -> ScheduleBook {
        var book = ScheduleBook()
        book.configure([schedule("tick", cron)], now: Self.t0)
        _ = book.toRead()
        _ = book.learned(nil, of: "tick", now: t0)
        return book
    }

    @Test func nothingIsDueUntilTheLastRunIsKnownThenEachRunOnce() {
        var book = ScheduleBook()
        book.configure([Self.schedule("tick", "*/10 * * * * *")], now: Self.t0)
        #expect(book.due(now: Self.t0 + 100).isEmpty, "the last run is not known yet")
        #expect(book.toRead().map(\.name) == ["tick"])
        #expect(book.toRead().isEmpty, "a read under way is not asked again")
        #expect(book.learned(nil, of: "tick", now: Self.t0 + 1) == nil)
        #expect(book.nextDue == Self.t0 + 10)
        #expect(book.due(now: Self.t0 + 9).isEmpty)
        #expect(book.due(now: Self.t0 + 10).map(\.time) == [Self.t0 + 10])
        #expect(book.due(now: Self.t0 + 10).isEmpty, "a push under way is not made again")
        book.finished("tick", run: PastRun(time: Self.t0 + 10, jobID: 7))
        #expect(book.entries[0].last == PastRun(time: Self.t0 + 10, jobID: 7))
        #expect(book.nextDue == Self.t0 + 20)
    }

    @Test func runsPassedOverWhileHeldUpAreSkippedNotStacked() {
        var book = Self.started("*/10 * * * * *")
        #expect(book.due(now: Self.t0 + 35).map(\.time) == [Self.t0 + 30])
        book.finished("tick", run: PastRun(time: Self.t0 + 30, jobID: 1))
        #expect(book.nextDue == Self.t0 + 40)
    }

    @Test func aFailedPushIsDueAgain() {
        var book = Self.started("*/10 * * * * *")
        #expect(book.due(now: Self.t0 + 10).map(\.time) == [Self.t0 + 10])
        book.finished("tick", run: nil, retry: Self.t0 + 10)
        #expect(book.due(now: Self.t0 + 11).map(\.time) == [Self.t0 + 10])
    }

    @Test func missedRunsAfterDowntime() {
        // Down from 12:00:05 to 12:01:00: runs at :10 ... :50 and 12:01:00 fell due meanwhile.
        var skip = ScheduleBook()
        skip.configure([Self.schedule("tick", "*/10 * * * * *")], now: Self.t0)
        _ = skip.toRead()
        #expect(skip.learned(PastRun(time: Self.t0, jobID: 1), of: "tick", now: Self.t0 + 65) == nil)
        #expect(skip.nextDue == Self.t0 + 70)

        var once = ScheduleBook()
        once.configure([Self.schedule("tick", "*/10 * * * * *", missed: .once)], now: Self.t0)
        _ = once.toRead()
        #expect(once.learned(PastRun(time: Self.t0, jobID: 1), of: "tick", now: Self.t0 + 65) == Self.t0 + 60, "the latest missed run, once")
        #expect(once.nextDue == nil, "busy with that push")
        once.finished("tick", run: PastRun(time: Self.t0 + 60, jobID: 2))
        #expect(once.nextDue == Self.t0 + 70)

        // Nothing missed, or never run before: nothing to catch up.
        var fresh = ScheduleBook()
        fresh.configure([Self.schedule("tick", "*/10 * * * * *", missed: .once)], now: Self.t0)
        _ = fresh.toRead()
        #expect(fresh.learned(nil, of: "tick", now: Self.t0 + 65) == nil)
        var upToDate = ScheduleBook()
        upToDate.configure([Self.schedule("tick", "*/10 * * * * *", missed: .once)], now: Self.t0)
        _ = upToDate.toRead()
        #expect(upToDate.learned(PastRun(time: Self.t0 + 60, jobID: 1), of: "tick", now: Self.t0 + 65) == nil)
    }

    @Test func theLatestMissedRunOfALongDowntime() {
        // An hourly job down for three days, and a per-second one down for a day.
        #expect(ScheduleBook.latestRun(of: Self.schedule("h", "@hourly"), after: Self.t0, upTo: Self.t0 + 3 * 86400 + 1800)
            == Self.t0 + 3 * 86400)
        #expect(ScheduleBook.latestRun(of: Self.schedule("s", "* * * * * *"), after: Self.t0, upTo: Self.t0 + 86400) == Self.t0 + 86400)
        #expect(ScheduleBook.latestRun(of: Self.schedule("y", "@yearly"), after: Self.t0, upTo: Self.t0 + 86400) == nil)
    }

    @Test func aReloadKeepsWhatIsKnownOfSchedulesThatRunAsBefore() {
        var book = ScheduleBook()
        book.configure([Self.schedule("a", "*/10 * * * * *"), Self.schedule("b", "@hourly")], now: Self.t0)
        _ = book.toRead()
        _ = book.learned(PastRun(time: Self.t0, jobID: 3), of: "a", now: Self.t0 + 1)
        _ = book.learned(nil, of: "b", now: Self.t0 + 1)
        var payloadOnly = Self.schedule("a", "*/10 * * * * *")
        payloadOnly.payload = "other"
        book.configure([payloadOnly, Self.schedule("b", "@daily"), Self.schedule("c", "@daily")], now: Self.t0)
        #expect(book.entries.map(\.schedule.name) == ["a", "b", "c"])
        #expect(book.entries[0].known && book.entries[0].last?.jobID == 3 && book.entries[0].schedule.payload == "other")
        #expect(book.entries[1].known && book.entries[1].next == Self.t0 - 12 * 3600 + 86400,
                "a changed cron keeps its last run, and its next is the next from now: nothing caught up")
        #expect(!book.entries[2].known, "a new schedule reads its last run")
        var moved = Self.schedule("a", "*/10 * * * * *")
        moved.queueName = "elsewhere"
        book.configure([moved, Self.schedule("b", "@daily"), Self.schedule("c", "@daily")], now: Self.t0)
        #expect(!book.entries[0].known, "a schedule moved to another queue reads its last run there")
        #expect(book.toRead().map(\.name) == ["a", "c"])
        book.forget()
        #expect(book.toRead().map(\.name) == ["b"], "after the fleet lock changed hands, read again (a and c are being read)")
    }

    /// A fleet lock passing to another supervisor a few seconds after a run fell due: the new
    /// holder pushes it, even with `missed = skip`; a run missed by more than a minute is let go.
    @Test func aRunLateByLessThanAMinuteIsPushedEvenWithSkip() {
        var book = ScheduleBook()
        book.configure([Self.schedule("tick", "@hourly")], now: Self.t0)
        _ = book.toRead()
        #expect(book.learned(PastRun(time: Self.t0 - 3600, jobID: 1), of: "tick", now: Self.t0 + 20) == Self.t0)
        var long = ScheduleBook()
        long.configure([Self.schedule("tick", "@hourly")], now: Self.t0)
        _ = long.toRead()
        #expect(long.learned(PastRun(time: Self.t0 - 3600, jobID: 1), of: "tick", now: Self.t0 + 120) == nil)
        #expect(long.nextDue == Self.t0 + 3600)
    }
}
