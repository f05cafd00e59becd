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
        book.configure([schedule("tick", cron)])
        _ = book.toRead()
        _ = book.learned(nil, of: "tick", now: t0)
        return book
    }

    @Test func nothingIsDueUntilTheLastRunIsKnownThenEachRunOnce() {
        var book = ScheduleBook()
        book.configure([Self.schedule("tick", "*/10 * * * * *")])
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
        skip.configure([Self.schedule("tick", "*/10 * * * * *")])
        _ = skip.toRead()
        #expect(skip.learned(PastRun(time: Self.t0, jobID: 1), of: "tick", now: Self.t0 + 65) == nil)
        #expect(skip.nextDue == Self.t0 + 70)

        var once = ScheduleBook()
        once.configure([Self.schedule("tick", "*/10 * * * * *", missed: .once)])
        _ = once.toRead()
        #expect(once.learned(PastRun(time: Self.t0, jobID: 1), of: "tick", now: Self.t0 + 65) == Self.t0 + 60, "the latest missed run, once")
        #expect(once.nextDue == nil, "busy with that push")
        once.finished("tick", run: PastRun(time: Self.t0 + 60, jobID: 2))
        #expect(once.nextDue == Self.t0 + 70)

        // Nothing missed, or never run before: nothing to catch up.
        var fresh = ScheduleBook()
        fresh.configure([Self.schedule("tick", "*/10 * * * * *", missed: .once)])
        _ = fresh.toRead()
        #expect(fresh.learned(nil, of: "tick", now: Self.t0 + 65) == nil)
        var upToDate = ScheduleBook()
        upToDate.configure([Self.schedule("tick", "*/10 * * * * *", missed: .once)])
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
        book.configure([Self.schedule("a", "*/10 * * * * *"), Self.schedule("b", "@hourly")])
        _ = book.toRead()
        _ = book.learned(PastRun(time: Self.t0, jobID: 3), of: "a", now: Self.t0 + 1)
        _ = book.learned(nil, of: "b", now: Self.t0 + 1)
        var payloadOnly = Self.schedule("a", "*/10 * * * * *")
        payloadOnly.payload = "other"
        book.configure([payloadOnly, Self.schedule("b", "@daily"), Self.schedule("c", "@daily")])
        #expect(book.entries.map(\.schedule.name) == ["a", "b", "c"])
        #expect(book.entries[0].known && book.entries[0].last?.jobID == 3 && book.entries[0].schedule.payload == "other")
        #expect(!book.entries[1].known && !book.entries[2].known, "a changed cron and a new schedule read their last run again")
        #expect(book.toRead().map(\.name) == ["b", "c"])
        book.forget()
        #expect(book.toRead().map(\.name) == ["a"], "after the fleet lock changed hands, read again (b and c are being read)")
    }
}
