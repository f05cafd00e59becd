import Foundation
import Glibc
import SoloKit
import Testing

/// Schedules end to end, on an SQLite file and on a real redis-server: a seconds-resolution
/// cron pushes each run once to a pool's queue, `solo schedule run` pushes now, `solo schedule
/// list` shows the runs, and a reload applies changes.
@Suite struct ScheduleTests {
    /// A supervisor's scratch directory with the feed worker, on the given store.
    final class Setup {
        let scratch = Scratch()
        let redis: RedisServer?
        let kind: StoreKind

        init(_ kind: StoreKind) throws {
            self.kind = kind
            redis = kind == .redis ? try RedisServer(scratch) : nil
            scratch.write("work/worker.sh", FeedModeTests.worker(), executable: true)
        }

        var queue: String { redis?.url ?? "sqlite:\(scratch.file("queue.db"))" }

        /// A config for `port` whose pool takes queue `feed`, with the given schedule sections.
        @discardableResult
        func config(_ name: String = "solo.conf", port: UInt16, state: String = "state", _ schedules: String) -> String {
            scratch.write(name, "[global]\nlock_port = \(port)\nstate_dir = \(state)\n\n"
                + "[feed]\ncommand = ./worker.sh\ndirectory = work\nqueue = \(queue)\n\n\(schedules)\n")
        }

        /// The payloads the workers were given, in order.
        var handled: [String] { FeedModeTests().handled(scratch).map(\.payload) }

        func json(_ arguments: [String], config: String = "solo.conf") throws -> [String: Any] {
            let result = try runSolo(arguments + ["--config", config], in: scratch)
            try #require(result.status == 0, "solo \(arguments.joined(separator: " ")): \(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        }
    }

    static let tick = "[schedule:tick]\ncron = */2 * * * * *\nqueue = feed\npayload = tick-{{name}}-{{time}}\n"
    static let manual = "[schedule:manual]\ncron = @yearly\nqueue = feed\npayload = manual-{{name}}\npriority = 5\n"

    @Test(arguments: StoreKind.allCases)
    func aSecondsScheduleRunsOnEachRunAndScheduleRunPushesNow(_ kind: StoreKind) throws {
        let setup = try Setup(kind)
        setup.config(port: try freePort(), Self.tick + Self.manual)
        let supervisor = try RunningSupervisor(setup.scratch)
        try supervisor.waitForLog("schedule tick: pushed the run of", count: 2)
        try waitFor("two runs handled; so far \(setup.handled)") { setup.handled.filter { $0.hasPrefix("tick-tick-") }.count >= 2 }
        let ticks = setup.handled.filter { $0.hasPrefix("tick-tick-") }
        #expect(Set(ticks).count == ticks.count, "each run once: \(ticks)")
        for tick in ticks {
            let seconds = Int(tick.dropLast().suffix(2)) ?? 1
            #expect(tick.hasSuffix("Z") && seconds % 2 == 0, "an even second in RFC 3339 UTC: \(tick)")
        }

        let run = try runSolo(["schedule", "run", "manual", "--config", "solo.conf"], in: setup.scratch)
        #expect(run.status == 0 && run.stdout.hasPrefix("schedule manual: pushed job "), "\(run.stdout)\(run.stderr)")
        try waitFor("the manual run handled; so far \(setup.handled)") { setup.handled.contains("manual-manual") }

        let list = try setup.json(["schedule", "list", "--json"])
        let schedules = try #require(list["schedules"] as? [[String: Any]])
        #expect(schedules.map { $0["name"] as? String } == ["tick", "manual"])
        #expect(schedules[0]["cron"] as? String == "*/2 * * * * *" && schedules[0]["last_job"] is Int && schedules[0]["next"] is String)
        // "schedule manual: pushed job N to queue feed"
        let manualJob = Int(run.stdout.split(separator: " ").dropFirst(4).first ?? "")
        #expect(manualJob != nil && schedules[1]["last_job"] as? Int == manualJob)
        #expect((schedules[1]["next"] as? String)?.hasSuffix("-01-01T00:00:00Z") == true)
        let table = try runSolo(["schedule", "list", "--config", "solo.conf"], in: setup.scratch)
        #expect(table.status == 0 && table.stdout.hasPrefix("NAME") && table.stdout.contains("*/2 * * * * *"), "\(table.stdout)")

        let unknown = try runSolo(["schedule", "run", "manul", "--config", "solo.conf"], in: setup.scratch)
        #expect(unknown.status == 1 && unknown.stderr.contains("no schedule manul (did you mean manual?)"), "\(unknown.stderr)")
        #expect(try supervisor.stop() == 0)
    }

    @Test func scheduleCommandsSayHowToUseThem() throws {
        let setup = try Setup(.sqlite)
        setup.config(port: try freePort(), Self.manual)
        let bare = try runSolo(["schedule"], in: setup.scratch)
        #expect(bare.status == 2 && bare.stderr.contains("solo schedule: list, or run NAME (solo schedule list, solo schedule run nightly)"))
        let two = try runSolo(["schedule", "run", "a", "b", "--config", "solo.conf"], in: setup.scratch)
        #expect(two.status == 2 && two.stderr.contains("solo schedule run: name one schedule"))
        let down = try runSolo(["schedule", "list", "--config", "solo.conf"], in: setup.scratch)
        #expect(down.status == 3 && down.stderr.contains("no supervisor runs for"), "\(down.stderr)")
        let check = try runSolo(["config", "check", "solo.conf"], in: setup.scratch)
        #expect(check.status == 0 && check.stdout.contains("[schedule:manual]") && check.stdout.contains("cron          = @yearly"))
    }

    @Test(arguments: StoreKind.allCases)
    func aReloadAppliesScheduleChanges(_ kind: StoreKind) throws {
        let setup = try Setup(kind)
        let port = try freePort()
        setup.config(port: port, Self.manual)
        let supervisor = try RunningSupervisor(setup.scratch)
        try supervisor.waitForLog("started")
        #expect(try setup.json(["schedule", "list", "--json"])["schedules"].map { ($0 as? [Any])?.count } == 1)
        setup.config(port: port, Self.tick)
        #expect(try runSolo(["reload", "--config", "solo.conf"], in: setup.scratch).status == 0)
        try supervisor.waitForLog("schedule tick: pushed the run of")
        let names = try #require(try setup.json(["schedule", "list", "--json"])["schedules"] as? [[String: Any]]).map { $0["name"] as? String }
        #expect(names == ["tick"])
        // A broken cron is refused with its place, and the running schedules stay.
        setup.config(port: port, "[schedule:tick]\ncron = */2 * * * 8\nqueue = feed\n")
        let refused = try runSolo(["reload", "--config", "solo.conf"], in: setup.scratch)
        #expect(refused.status == 1 && refused.stderr.contains("solo.conf:11: cron: cron day of week field \"8\" is out of range"), "\(refused.stderr)")
        let count = supervisor.lines(containing: "schedule tick: pushed").count
        try supervisor.waitForLog("schedule tick: pushed", count: count + 1)
        #expect(try supervisor.stop() == 0)
    }

    /// Two supervisors (two lock ports, as on two hosts) with the same schedule on one queue:
    /// every run is pushed once, by whichever comes first.
    @Test(arguments: StoreKind.allCases)
    func twoSupervisorsPushEachRunOnce(_ kind: StoreKind) throws {
        let setup = try Setup(kind)
        let every = "[schedule:tick]\ncron = * * * * * *\nqueue = feed\npayload = tick-{{time}}\n"
        setup.config("a.conf", port: try freePort(), state: "state-a", every)
        setup.config("b.conf", port: try freePort(), state: "state-b", every)
        let a = try RunningSupervisor(setup.scratch, config: "a.conf", name: "a")
        let b = try RunningSupervisor(setup.scratch, config: "b.conf", name: "b")
        // Both try every run: each second, one pushes and the other finds it pushed.
        try waitFor("six runs handled and a run found pushed before; logs:\n\(a.log)\n\(b.log)", seconds: 20) {
            setup.handled.filter { $0.hasPrefix("tick-") }.count >= 6
                && a.lines(containing: "was pushed before").count + b.lines(containing: "was pushed before").count >= 1
        }
        let ticks = setup.handled.filter { $0.hasPrefix("tick-") }
        #expect(Set(ticks).count == ticks.count, "each run once: \(ticks.sorted())")
        let pushes = a.lines(containing: "pushed the run of").count + b.lines(containing: "pushed the run of").count
        let found = a.lines(containing: "was pushed before").count + b.lines(containing: "was pushed before").count
        #expect(found >= 1 && pushes >= 6, "\(pushes) pushes, \(found) found pushed before")
        #expect(try a.stop() == 0)
        #expect(try b.stop() == 0)
    }

    /// With a fleet lock, only the holder pushes; when it is SIGKILLed just after a run, the
    /// supervisor that takes the lock over pushes the latest run missed meanwhile, once, and
    /// goes on: no run is pushed twice, and the queue holds one job per push.
    @Test func theFleetLockHolderPushesAndItsSuccessorMissesNothingTwice() throws {
        let setup = try Setup(.redis)
        let redis = try #require(setup.redis)
        // overlap = allow: the killed holder's last job stays leased to it until its lease runs
        // out, and with skip would hold back the runs this test counts.
        let schedule = "[schedule:tick]\ncron = * * * * * *\nqueue = feed\npayload = tick-{{time}}\nmissed = once\noverlap = allow\n"
        let lock = "cluster_lock = ticks\ncluster_lock_ttl = 3s\n"
        for name in ["a", "b"] {
            setup.scratch.write("\(name).conf", "[global]\nlock_port = \(try freePort())\nstate_dir = state-\(name)\n\(lock)\n"
                + "[feed]\ncommand = ./worker.sh\ndirectory = work\nqueue = \(setup.queue)\n\n\(schedule)")
        }
        let supervisors = ["a": try RunningSupervisor(setup.scratch, config: "a.conf", name: "a"),
                           "b": try RunningSupervisor(setup.scratch, config: "b.conf", name: "b")]
        func pushes(_ name: String) -> [String] {
            supervisors[name]!.lines(containing: "schedule tick: pushed the run of ").map { String($0.split(separator: " ")[8]) }
        }
        try waitFor("three runs pushed by the holder", seconds: 15) { pushes("a").count + pushes("b").count >= 3 }
        let holder = pushes("a").isEmpty ? "b" : "a"
        let other = holder == "a" ? "b" : "a"
        #expect(pushes(other).isEmpty, "the supervisor standing by pushes nothing")
        let before = pushes(holder).count
        try supervisors[holder]!.waitForLog("schedule tick: pushed the run of ", count: before + 1)
        supervisors[holder]!.child.signal(SIGKILL)
        try supervisors[holder]!.child.wait()
        try supervisors[other]!.waitForLog("(missed = once)", seconds: 10)
        try waitFor("three more runs pushed by the new holder", seconds: 10) { pushes(other).count >= 3 }
        let all = pushes(holder) + pushes(other)
        #expect(Set(all).count == all.count && all == all.sorted(), "each run once, in order: \(all)")
        #expect(supervisors[other]!.lines(containing: "(missed = once)").count == 1)
        #expect(supervisors[other]!.lines(containing: "was pushed before").isEmpty)
        #expect(try supervisors[other]!.stop() == 0)
        let jobs = try redis.command("GET", RedisScripts.prefix("feed") + ":seq").string.flatMap { Int($0) }
        let pushed = pushes(holder).count + pushes(other).count
        #expect(jobs == pushed, "one job per push: \(String(describing: jobs)) jobs, \(pushed) pushes")
    }

    /// `overlap = skip` (the default): while a run's job runs (5 s here), the runs due each
    /// second are not pushed, and the log says which job holds them back.
    @Test(arguments: StoreKind.allCases)
    func aSlowRunIsNotStackedOnItself(_ kind: StoreKind) throws {
        let setup = try Setup(kind)
        setup.config(port: try freePort(), "[schedule:slow]\ncron = * * * * * *\nqueue = feed\npayload = slow\n")
        let supervisor = try RunningSupervisor(setup.scratch)
        try supervisor.waitForLog("schedule slow: pushed the run of")
        try supervisor.waitForLog("of an earlier run still waits or runs (overlap = skip)", count: 2)
        #expect(supervisor.lines(containing: "schedule slow: pushed the run of").count == 1, "\(supervisor.log)")
        #expect(setup.handled == ["slow"])
        #expect(try supervisor.stop() == 0)
    }

    /// `missed = once`: after downtime, the latest missed run is pushed at start.
    @Test(arguments: StoreKind.allCases)
    func theLatestMissedRunIsPushedOnceAfterDowntime(_ kind: StoreKind) throws {
        let setup = try Setup(kind)
        let port = try freePort()
        setup.config(port: port, "[schedule:tick]\ncron = */2 * * * * *\nqueue = feed\npayload = tick-{{time}}\nmissed = once\n")
        let first = try RunningSupervisor(setup.scratch, name: "first")
        try first.waitForLog("schedule tick: pushed the run of")
        #expect(try first.stop() == 0)
        let stoppedAt = Date().timeIntervalSince1970
        // Down for more than one run: two seconds and a bit by the wall clock.
        try waitFor("the wall clock to pass a missed run") { Date().timeIntervalSince1970 > stoppedAt + 2.5 }
        let second = try RunningSupervisor(setup.scratch, name: "second")
        try second.waitForLog("(missed = once)")
        #expect(second.lines(containing: "(missed = once)").count == 1)
        #expect(try second.stop() == 0)
    }
}
