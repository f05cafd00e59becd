import Testing
@testable import SoloKit

/// `[schedule:NAME]` sections: their keys, defaults, queue places and errors at `file:line`.
@Suite struct ScheduleConfigTests {
    static let pools = """
        [mailer]
        command = php mail.php
        [reports]
        command = php report.php
        queue = redis://127.0.0.1:6390/0

        """

    static func load(_ text: String) throws(ConfigErrors) -> LoadedConfig {
        var loader = memoryLoader(["/etc/solo/solo.conf": pools + text])
        loader.hostZone = { .utc }
        return try loader.load("/etc/solo/solo.conf")
    }

    static func errors(_ text: String) -> [String] {
        do {
            _ = try load(text)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func aScheduleWithEveryKey() throws {
        let loaded = try Self.load("""
            [schedule:nightly]
            cron = 30 2 * * mon-fri
            timezone = Europe/Berlin
            queue = reports
            payload = '{"task":"report","at":"{{time}}","by":"{{name}}"}'
            group = nightly-reports
            priority = 5
            missed = once

            """)
        let schedule = try #require(loaded.config.schedules.first)
        #expect(loaded.warnings.isEmpty)
        #expect(schedule.name == "nightly" && schedule.file == "/etc/solo/solo.conf" && schedule.line == 6)
        #expect(schedule.cron == (try CronExpression("30 2 * * mon-fri")))
        #expect(schedule.timeZoneName == "Europe/Berlin" && schedule.zone.name == "Europe/Berlin")
        #expect(schedule.queueName == "reports")
        #expect(schedule.place == .redis(try RedisURL.parse("redis://127.0.0.1:6390/0")))
        #expect(schedule.group == "nightly-reports" && schedule.priority == 5 && schedule.missed == .once)
        let time = CronExpressionTests.utc("2026-03-30T00:30:00Z")
        #expect(String(decoding: schedule.payload(at: time), as: UTF8.self)
            == #"{"task":"report","at":"2026-03-30T00:30:00Z","by":"nightly"}"#)
        #expect(schedule.next(after: time) == CronExpressionTests.utc("2026-03-31T00:30:00Z"))
    }

    @Test func defaultsAndTheSQLiteQueueOfThePools() throws {
        let schedule = try #require(try Self.load("[schedule:tick]\ncron = @hourly\nqueue = mailer\n").config.schedules.first)
        #expect(schedule.timeZoneName == nil && schedule.zone == .utc)
        #expect(schedule.place == .sqlite(path: "/var/lib/solo/queue.db"))
        #expect(schedule.group == nil && schedule.priority == 0 && schedule.missed == .skip)
        #expect(String(decoding: schedule.payload(at: 0), as: UTF8.self) == #"{"schedule":"tick","time":"1970-01-01T00:00:00Z"}"#)
    }

    @Test func configCheckPrintsSchedules() throws {
        let text = ConfigRender.render(try Self.load("[schedule:tick]\ncron = */2 * * * * *\nqueue = mailer\n").config)
        #expect(text.contains("""
            [schedule:tick]                 ; /etc/solo/solo.conf:6
            cron          = */2 * * * * *
            timezone      = host
            queue         = mailer
            store         = sqlite:/var/lib/solo/queue.db
            payload       = '{"schedule":"{{name}}","time":"{{time}}"}'
            group         = 
            priority      = 0
            missed        = skip
            """))
    }

    @Test func aQueueNoPoolTakesIsAWarning() throws {
        let loaded = try Self.load("[schedule:tick]\ncron = @daily\nqueue = mailr\nstore = sqlite:/tmp/other.db\n")
        #expect(loaded.warnings.map(\.description) == [
            "/etc/solo/solo.conf:8: warning: queue: no pool of this config takes jobs from \"mailr\" at /tmp/other.db, "
                + "so its runs would wait (check the name, or add a pool with queue_name = mailr)",
        ])
    }

    @Test func errorsAreFileLineKeyAndTheFix() {
        #expect(Self.errors("[schedule:bad]\ncron = 61 * * * *\nqueue = mailer\n") == [
            "/etc/solo/solo.conf:7: cron: cron minute field \"61\" is out of range; write a number from 0 to 59",
        ])
        #expect(Self.errors("[schedule:bad]\ncron = * * * *\nqueue = mailer\n") == [
            "/etc/solo/solo.conf:7: cron: cron expression \"* * * *\" has 4 fields; write five (minute hour day-of-month "
                + "month day-of-week, e.g. \"30 4 * * mon-fri\"), six with a leading seconds field, or a name such as @daily",
        ])
        #expect(Self.errors("[schedule:bad]\nqueue = mailer\n") == [
            "/etc/solo/solo.conf:6: schedule [schedule:bad] has no cron (add cron = 0 3 * * *, say, or @daily)",
        ])
        #expect(Self.errors("[schedule:bad]\ncron = @daily\n") == [
            "/etc/solo/solo.conf:6: schedule [schedule:bad] has no queue (add queue = NAME, a queue a pool takes jobs from)",
        ])
        #expect(Self.errors("[schedule:bad]\ncron = @daily\nqueue = mailer\ntimezone = Mars/Olympus\n").first?
            .hasPrefix("/etc/solo/solo.conf:9: timezone: time zone \"Mars/Olympus\" cannot be read") == true)
        #expect(Self.errors("[schedule:bad]\ncron = @daily\nqueue = mailer\nmissed = all\n") == [
            "/etc/solo/solo.conf:9: missed: \"all\" is not a policy (write skip to let missed runs go, or once to push the latest one at start)",
        ])
        #expect(Self.errors("[schedule:bad]\ncron = @daily\nqueue = mailer\npayload = {{when}}\n") == [
            "/etc/solo/solo.conf:9: payload: \"{{when}}\" is not a placeholder (write {{time}} for the run's time or {{name}} for the schedule's name)",
        ])
        #expect(Self.errors("[schedule:bad]\ncron = @daily\nqueue = mailer\ncommand = x\n") == [
            "/etc/solo/solo.conf:9: command: unknown key: it is a pool key: a schedule only pushes jobs, a pool runs them",
        ])
        #expect(Self.errors("[schedule:a b]\ncron = @daily\nqueue = mailer\n") == [
            "/etc/solo/solo.conf:6: schedule name [schedule:a b] may hold only letters, digits, _, . and - (like [mail-worker])",
        ])
        #expect(Self.errors("[schedule:a]\ncron = @daily\nqueue = mailer\n[schedule:a]\ncron = @daily\nqueue = mailer\n") == [
            "/etc/solo/solo.conf:9: schedule [schedule:a] is defined twice (first at /etc/solo/solo.conf:6); rename one",
        ])
    }
}
