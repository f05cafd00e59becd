import Testing
@testable import SoloKit

/// The cron evaluator against calendars checked by hand (and by zdump for the zones' changes).
@Suite struct CronExpressionTests {
    static let berlin = try! ZoneFiles.load("Europe/Berlin")
    static let newYork = try! ZoneFiles.load("America/New_York")
    static let lordHowe = try! ZoneFiles.load("Australia/Lord_Howe")

    /// Seconds since the epoch of `2026-03-29T01:00:00Z`.
    static func utc(_ text: String) -> Int64 {
        let digits = text.split(whereSeparator: { !$0.isNumber }).map { Int($0)! }
        return CivilTime.seconds(.init(year: digits[0], month: digits[1], day: digits[2]),
                                 hour: digits[3], minute: digits[4], second: digits.count > 5 ? digits[5] : 0)
    }

    /// The next `count` firings after `start`, as RFC 3339 UTC.
    static func runs(_ expression: String, after start: String, in zone: TimeZoneRules = .utc, count: Int = 1) throws -> [String] {
        let cron = try CronExpression(expression)
        var at = utc(start)
        var result: [String] = []
        for _ in 0..<count {
            guard let next = cron.next(after: at, in: zone) else { break }
            result.append(CivilTime.rfc3339(next))
            at = next
        }
        return result
    }

    @Test func listsRangesStepsAndNames() throws {
        #expect(try Self.runs("*/15 * * * *", after: "2026-01-05T10:07:30Z", count: 3)
            == ["2026-01-05T10:15:00Z", "2026-01-05T10:30:00Z", "2026-01-05T10:45:00Z"])
        #expect(try Self.runs("5/20 * * * *", after: "2026-01-05T10:00:00Z", count: 4)
            == ["2026-01-05T10:05:00Z", "2026-01-05T10:25:00Z", "2026-01-05T10:45:00Z", "2026-01-05T11:05:00Z"])
        #expect(try Self.runs("0 9,17 * * mon-fri", after: "2026-01-30T10:00:00Z", count: 3)
            == ["2026-01-30T17:00:00Z", "2026-02-02T09:00:00Z", "2026-02-02T17:00:00Z"])
        #expect(try Self.runs("0 0 1 jan-mar/2 *", after: "2026-01-01T00:00:00Z", count: 2)
            == ["2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"])
        // 7 and 0 are both Sunday; 2026-02-01 is a Sunday.
        #expect(try Self.runs("0 0 * * 7", after: "2026-01-27T00:00:00Z") == ["2026-02-01T00:00:00Z"])
        #expect(try Self.runs("0 0 * * SUN", after: "2026-01-27T00:00:00Z") == ["2026-02-01T00:00:00Z"])
        #expect(try Self.runs("0 0 * * 5-7", after: "2026-01-29T12:00:00Z", count: 3)
            == ["2026-01-30T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"])
    }

    @Test func namedSchedules() throws {
        #expect(try Self.runs("@yearly", after: "2026-06-01T00:00:00Z") == ["2027-01-01T00:00:00Z"])
        #expect(try Self.runs("@annually", after: "2026-06-01T00:00:00Z") == ["2027-01-01T00:00:00Z"])
        #expect(try Self.runs("@monthly", after: "2026-12-15T00:00:00Z") == ["2027-01-01T00:00:00Z"])
        #expect(try Self.runs("@weekly", after: "2026-01-31T00:00:00Z") == ["2026-02-01T00:00:00Z"])
        #expect(try Self.runs("@daily", after: "2026-02-28T23:59:59Z") == ["2026-03-01T00:00:00Z"])
        #expect(try Self.runs("@midnight", after: "2028-02-28T00:00:00Z") == ["2028-02-29T00:00:00Z"])
        #expect(try Self.runs("@hourly", after: "2026-12-31T23:00:00Z") == ["2027-01-01T00:00:00Z"])
    }

    @Test func monthEndsAndLeapDays() throws {
        // The 31st skips February and April.
        #expect(try Self.runs("0 0 31 * *", after: "2026-01-31T00:00:00Z", count: 3)
            == ["2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"])
        #expect(try Self.runs("0 12 29 2 *", after: "2026-01-01T00:00:00Z", count: 2)
            == ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"])
        // 2100 is not a leap year.
        #expect(try Self.runs("0 0 29 2 *", after: "2096-03-01T00:00:00Z") == ["2104-02-29T00:00:00Z"])
        #expect(try Self.runs("0 0 30 * *", after: "2026-02-01T00:00:00Z") == ["2026-03-30T00:00:00Z"])
    }

    @Test func bothDayFieldsRestrictedMeansEither() throws {
        // The 1st (a Sunday) or any Monday.
        #expect(try Self.runs("0 0 1 * mon", after: "2026-01-31T12:00:00Z", count: 3)
            == ["2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"])
        // A day field starting with `*` is not a restriction: odd days that are Mondays.
        #expect(try Self.runs("0 0 */2 * mon", after: "2026-02-01T00:00:00Z", count: 3)
            == ["2026-02-09T00:00:00Z", "2026-02-23T00:00:00Z", "2026-03-09T00:00:00Z"])
        #expect(try Self.runs("0 0 13 * */5", after: "2026-02-01T00:00:00Z", count: 2)
            == ["2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"])
    }

    @Test func aSecondsFieldFiresWithinTheMinute() throws {
        #expect(try Self.runs("*/2 * * * * *", after: "2026-01-05T10:00:01Z", count: 3)
            == ["2026-01-05T10:00:02Z", "2026-01-05T10:00:04Z", "2026-01-05T10:00:06Z"])
        #expect(try Self.runs("30 0 0 * * *", after: "2026-01-05T00:00:30Z") == ["2026-01-06T00:00:30Z"])
        #expect(try Self.runs("* * * * *", after: "2026-01-05T10:00:01Z") == ["2026-01-05T10:01:00Z"], "five fields: second 0")
        #expect(try Self.runs("@hourly", after: "2026-01-05T10:00:01Z") == ["2026-01-05T11:00:00Z"])
    }

    @Test func fixedTimesInAGapRunWhenTheClocksJump() throws {
        // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00Z); 02:30 never shows.
        #expect(try Self.runs("30 2 * * *", after: "2026-03-28T12:00:00Z", in: Self.berlin, count: 2)
            == ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"])
        // New York, 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00Z).
        #expect(try Self.runs("0 2 * * *", after: "2026-03-07T12:00:00Z", in: Self.newYork, count: 2)
            == ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"])
        // Lord Howe moves by half an hour: 02:00 +1030 becomes 02:30 +11 (2026-10-03T15:30Z).
        #expect(try Self.runs("15 2 * * *", after: "2026-10-03T00:00:00Z", in: Self.lordHowe, count: 2)
            == ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"])
    }

    @Test func fixedTimesShownTwiceRunOnce() throws {
        // Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00Z); 02:30 shows at 00:30Z and 01:30Z.
        #expect(try Self.runs("30 2 * * *", after: "2026-10-24T12:00:00Z", in: Self.berlin, count: 2)
            == ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])
        // New York, 2026-11-01: 01:30 shows at 05:30Z (EDT) and 06:30Z (EST).
        #expect(try Self.runs("30 1 * * *", after: "2026-10-31T12:00:00Z", in: Self.newYork, count: 2)
            == ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"])
        // Lord Howe, 2026-04-05: 02:00 +11 becomes 01:30 +1030; 01:45 shows twice.
        #expect(try Self.runs("45 1 * * *", after: "2026-04-04T00:00:00Z", in: Self.lordHowe, count: 2)
            == ["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"])
    }

    @Test func jobsWithAnyHourKeepToRealTime() throws {
        // Skipped times are skipped: 02:30 CET never shows, next is 03:30 CEST.
        #expect(try Self.runs("30 * * * *", after: "2026-03-29T00:45:00Z", in: Self.berlin, count: 2)
            == ["2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"])
        // Repeated times run at each showing, an hour apart as the real clock goes.
        #expect(try Self.runs("30 * * * *", after: "2026-10-25T00:00:00Z", in: Self.berlin, count: 3)
            == ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z"])
        #expect(try Self.runs("*/20 * * * *", after: "2026-11-01T05:30:00Z", in: Self.newYork, count: 4)
            == ["2026-11-01T05:40:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:20:00Z", "2026-11-01T06:40:00Z"])
        // Midnight exists every day, whatever the zone: daily runs go 23 or 25 hours apart.
        #expect(try Self.runs("@daily", after: "2026-03-28T12:00:00Z", in: Self.berlin, count: 2)
            == ["2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"])
    }

    @Test func anExpressionThatCannotMatchIsRefused() {
        #expect(throws: ValueError("day of month \"30\" never falls in month \"2\"; pick days the months have")) {
            try CronExpression("0 0 30 2 *")
        }
    }

    @Test(arguments: [
        ("* * * *", "cron expression \"* * * *\" has 4 fields; write five (minute hour day-of-month month day-of-week, "
            + "e.g. \"30 4 * * mon-fri\"), six with a leading seconds field, or a name such as @daily"),
        ("60 * * * *", "cron minute field \"60\" is out of range; write a number from 0 to 59"),
        ("0 24 * * *", "cron hour field \"24\" is out of range; write a number from 0 to 23"),
        ("0 0 0 * *", "cron day of month field \"0\" is out of range; write a number from 1 to 31"),
        ("0 0 * 13 *", "cron month field \"13\" is out of range; write a number from 1 to 12 or a name (jan-dec)"),
        ("0 0 * * 8", "cron day of week field \"8\" is out of range; write a number from 0 to 7 or a name (sun-sat)"),
        ("0 0 * * fri-mon", "cron day of week field \"fri-mon\" has range fri-mon that runs backwards; write the smaller end first"),
        ("*/0 * * * *", "cron minute field \"*/0\" has step \"0\"; write a whole number from 1 to 59"),
        ("1,,2 * * * *", "cron minute field \"1,,2\" has an empty value; write a number from 0 to 59"),
        ("@fortnightly", "unknown cron name \"@fortnightly\"; use one of @yearly, @annually, @monthly, @weekly, "
            + "@daily, @midnight, @hourly, or five fields"),
    ])
    func errorsNameTheFieldAndTheFix(text: String, message: String) {
        #expect(throws: ValueError(message)) { try CronExpression(text) }
    }
}

@Suite struct TimeZoneRulesTests {
    @Test func civilDatesRoundTrip() {
        for days in stride(from: Int64(-800_000), through: 800_000, by: 997) {
            #expect(CivilTime.days(from: CivilTime.date(fromDays: days)) == days)
        }
        #expect(CivilTime.rfc3339(0) == "1970-01-01T00:00:00Z")
        #expect(CivilTime.rfc3339(-1) == "1969-12-31T23:59:59Z")
        #expect(CivilTime.weekday(ofDays: CivilTime.days(from: .init(year: 2028, month: 2, day: 29))) == 2)
    }

    @Test func offsetsFromTheTableAndFromTheFooterRule() throws {
        let berlin = try ZoneFiles.load("Europe/Berlin")
        let newYork = try ZoneFiles.load("America/New_York")
        let utc = CronExpressionTests.utc
        #expect(berlin.offset(at: utc("2026-03-29T00:59:59Z")) == 3600)
        #expect(berlin.offset(at: utc("2026-03-29T01:00:00Z")) == 7200)
        #expect(berlin.offset(at: utc("1990-07-01T00:00:00Z")) == 7200)
        // Past any table: the POSIX rule in the file's footer (checked against zdump).
        #expect(newYork.offset(at: utc("2100-03-14T06:59:59Z")) == -18000)
        #expect(newYork.offset(at: utc("2100-03-14T07:00:00Z")) == -14400)
        #expect(newYork.offset(at: utc("2100-11-07T05:59:59Z")) == -14400)
        #expect(newYork.offset(at: utc("2100-11-07T06:00:00Z")) == -18000)
        #expect(berlin.offset(at: utc("2100-10-31T00:59:59Z")) == 7200)
        #expect(berlin.offset(at: utc("2100-10-31T01:00:00Z")) == 3600)
    }

    @Test func aPosixRuleAloneServesAsAZone() throws {
        let utc = CronExpressionTests.utc
        // Lord Howe's own footer: southern hemisphere, half-hour daylight saving.
        let lordHowe = try TimeZoneRules(posix: "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")
        #expect(lordHowe.offset(at: utc("2026-10-03T15:29:59Z")) == 37800)
        #expect(lordHowe.offset(at: utc("2026-10-03T15:30:00Z")) == 39600)
        #expect(lordHowe.offset(at: utc("2026-04-04T14:59:59Z")) == 39600)
        #expect(lordHowe.offset(at: utc("2026-04-04T15:00:00Z")) == 37800)
        #expect(try TimeZoneRules(posix: "UTC0").offset(at: 0) == 0)
        #expect(try TimeZoneRules(posix: "EST5EDT").offset(at: utc("2026-07-01T00:00:00Z")) == -14400)
        #expect(throws: ValueError("time zone rule \"CET-1CEST,M3.5.0\": expected \",\" at character 17")) {
            try TimeZoneRules(posix: "CET-1CEST,M3.5.0")
        }
    }

    @Test func badZonesSayWhatToWrite() {
        #expect(throws: ValueError("time zone \"../etc/passwd\" is not a zone name; write one such as Europe/Berlin or UTC")) {
            try ZoneFiles.load("../etc/passwd")
        }
        #expect(throws: ValueError("time zone file junk: not a TZif file (no \"TZif\" header); give a zone name from /usr/share/zoneinfo")) {
            try TimeZoneRules(tzif: Array("not a zone at all, but long enough to hold a header".utf8), name: "junk")
        }
        #expect(throws: ValueError.self) { try ZoneFiles.load("Mars/Olympus_Mons") }
    }

    /// A zone file cut short or damaged anywhere is an error, never a crash: every prefix of a
    /// real file, and the file with each header byte and 2,000 random bytes set to random values.
    @Test func damagedZoneFilesAreRefusedNotFatal() throws {
        let berlin = try #require(try? Files.read("/usr/share/zoneinfo/Europe/Berlin"))
        for length in 0..<berlin.count { _ = try? TimeZoneRules(tzif: Array(berlin.prefix(length)), name: "cut") }
        var random = SplitMix64(state: 29)
        for index in Array(0..<min(60, berlin.count)) + (0..<2000).map({ _ in Int.random(in: 0..<berlin.count, using: &random) }) {
            var damaged = berlin
            damaged[index] = UInt8.random(in: 0...255, using: &random)
            _ = try? TimeZoneRules(tzif: damaged, name: "damaged")
        }
        var badVersion = berlin
        badVersion[4] = 0x01
        #expect(throws: ValueError.self) { try TimeZoneRules(tzif: badVersion, name: "v") }
    }

    @Test func theHostZoneFollowsTZ() throws {
        #expect(ZoneFiles.host(environment: "Europe/Berlin").name == "Europe/Berlin")
        #expect(ZoneFiles.host(environment: ":America/New_York").name == "America/New_York")
        #expect(ZoneFiles.host(environment: "EST5EDT,M3.2.0,M11.1.0").offset(at: 0) == -18000)
        #expect(ZoneFiles.host(environment: nil) == ZoneFiles.host(environment: ""))
    }
}
