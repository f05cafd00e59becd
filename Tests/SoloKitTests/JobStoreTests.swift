import Foundation
import Glibc
import Testing
@testable import SoloKit

/// The queue against real SQLite files in a scratch directory.
final class ScratchFile {
    let directory: String

    init() {
        var template = Array("/tmp/solo-unit-XXXXXX".utf8CString)
        directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    var path: String { directory + "/queue.db" }
}

func jobs(_ payloads: String...) -> [NewJob] { payloads.map { NewJob(payload: Array($0.utf8)) } }

@Suite struct JobStoreTests {
    @Test func reservesByPriorityThenAge() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        #expect(try store.schemaVersion() == QueueSchema.version)
        try store.push(queue: "q", jobs("a", "b"))
        try store.push(queue: "q", [NewJob(payload: Array("urgent".utf8), priority: 10)])
        try store.push(queue: "other", jobs("elsewhere"))
        let now = JobStore.now()
        let taken = try store.reserve(queue: "q", count: 2, owner: "me", leaseUntil: now + 30_000, now: now)
        #expect(taken.map(\.payload) == ["urgent", "a"])
        #expect(taken.allSatisfy { $0.attempts == 1 })
        #expect(try store.reserve(queue: "q", count: 5, owner: "me", leaseUntil: now + 30_000, now: now).map(\.payload) == ["b"])
        #expect(try store.reserve(queue: "q", count: 5, owner: "me", leaseUntil: now + 30_000, now: now).isEmpty)
        let counts = try store.counts()
        #expect(counts.first { $0.queue == "q" }?.reserved == 3)
        var summary = QueueCounts(queue: "q")
        summary.reserved = 3
        #expect(try store.summary(queue: "q") == summary)
        #expect(counts.first { $0.queue == "other" }?.ready == 1)
    }

    @Test func delayedJobsWaitForTheirTime() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        let now = JobStore.now()
        try store.push(queue: "q", [NewJob(payload: Array("later".utf8), runAt: now + 60_000), NewJob(payload: Array("now".utf8))])
        #expect(try store.counts().first?.delayed == 1)
        #expect(try store.reserve(queue: "q", count: 5, owner: "me", leaseUntil: now + 1000, now: now).map(\.payload) == ["now"])
        #expect(try store.nextDelayed(queue: "q") == now + 60_000)
        #expect(try store.promoteDelayed(now: now + 59_000) == 0)
        #expect(try store.promoteDelayed(now: now + 60_000) == 1)
        #expect(try store.reserve(queue: "q", count: 5, owner: "me", leaseUntil: now + 1000, now: now).map(\.payload) == ["later"])
    }

    @Test func outcomesRetriesAndDeadJobs() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        try store.push(queue: "q", jobs("ok", "fail", "retry"))
        var now = JobStore.now()
        let taken = try store.reserve(queue: "q", count: 3, owner: "me", leaseUntil: now + 1000, now: now)
        try store.finish([.done(id: taken[0].id, result: "42"), .dead(id: taken[1].id, error: "bad input"),
                          .retry(id: taken[2].id, error: "flaky", delay: .zero, maxAttempts: 2)], owner: "me", now: now)
        // None was given to a worker (no `.started`), and none is ahead once finished, as in Redis.
        #expect(try Database(path: file.path, create: false).scalarInt("SELECT count(*) FROM jobs WHERE ahead <> 0") == 0)
        var counts = try #require(try store.counts().first)
        #expect(counts.done == 1 && counts.dead == 1 && counts.delayed == 1)
        #expect(try store.jobs(queue: "q", states: ["done"], limit: 10).first?.result == "42")
        #expect(try store.jobs(queue: "q", states: ["dead"], limit: 10).first?.error == "bad input")

        // The second attempt is the last one (max 2): a retry makes it dead, and says why.
        now += 1
        try store.promoteDelayed(now: now)
        let again = try store.reserve(queue: "q", count: 1, owner: "me", leaseUntil: now + 1000, now: now)
        #expect(again.first?.attempts == 2)
        try store.finish([.retry(id: again[0].id, error: "flaky", delay: .zero, maxAttempts: 2)], owner: "me", now: now)
        counts = try #require(try store.counts().first)
        #expect(counts.dead == 2 && counts.delayed == 0)
        let dead = try store.jobs(queue: "q", states: ["dead"], limit: 10).last
        #expect(dead?.error == "flaky (no attempt left: 2 of 2)" && dead?.payload == "retry")

        #expect(try store.retryDead(queue: "q") == 2)
        #expect(try store.counts().first?.ready == 2)
    }

    @Test func leasesOfDeadSupervisorsComeBack() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        try store.push(queue: "q", jobs("a", "b", "c"))
        let now = JobStore.now()
        let taken = try store.reserve(queue: "q", count: 1, owner: "host/old", leaseUntil: now + 30_000, now: now)
        let other = try store.reserve(queue: "q", count: 1, owner: "other", leaseUntil: now - 1, now: now)
        let alive = try store.reserve(queue: "q", count: 1, owner: "alive", leaseUntil: now + 30_000, now: now)
        try store.finish(taken.map { .started(id: $0.id) }, owner: "host/old", now: now)
        try store.finish(other.map { .started(id: $0.id) }, owner: "other", now: now)
        // Our own name's leases (a dead predecessor) and expired ones come back; live ones stay.
        #expect(try store.reclaim(queue: "q", expiredBefore: now, owner: "host/old", maxAttempts: 5) == 2)
        let counts = try #require(try store.counts().first)
        #expect(counts.ready == 2 && counts.reserved == 1)
        #expect(try store.jobs(queue: "q", states: ["ready"], limit: 5).allSatisfy { $0.error?.contains("died while it ran") == true && $0.attempts == 1 })

        try store.renewLeases(queue: "q", ids: alive.map(\.id), owner: "alive", until: now + 90_000)
        #expect(try store.reclaim(queue: "q", expiredBefore: now + 60_000, owner: nil, maxAttempts: 5) == 0)
    }

    /// Issue 14.3: a supervisor paused longer than its lease never takes its own jobs back; at
    /// an opening of a file it takes back every job leased under its name (a dead predecessor's).
    @Test func aSupervisorNeverTakesBackTheJobsItHolds() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        try store.push(queue: "q", jobs("a", "b", "c"))
        let now = JobStore.now()
        let mine = try store.reserve(queue: "q", count: 2, owner: "me", leaseUntil: now - 1, now: now).map(\.id)
        _ = try store.reserve(queue: "q", count: 1, owner: "before", leaseUntil: now - 1, now: now)
        #expect(try store.reclaim(queue: "q", expiredBefore: now, owner: nil, keeping: mine, maxAttempts: 5) == 1, "its leases ran out, but it holds them")
        #expect(try store.jobs(queue: "q", states: ["reserved"], limit: 5).map(\.payload) == ["a", "b"])
        #expect(try store.reclaim(queue: "q", expiredBefore: now, owner: "me", maxAttempts: 5) == 2)
        #expect(try store.jobs(queue: "q", states: ["reserved"], limit: 5).isEmpty)
    }

    /// Issue 14.5: a dead supervisor's jobs that no worker had go back with their attempt given
    /// back, never dead; those a worker had keep it, and die when none is left.
    @Test func jobsTakenAheadGetTheirAttemptBack() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        try store.push(queue: "q", [NewJob(payload: Array("ran".utf8), maxAttempts: 1), NewJob(payload: Array("ahead".utf8), maxAttempts: 1)])
        let now = JobStore.now()
        let taken = try store.reserve(queue: "q", count: 2, owner: "dead", leaseUntil: now - 1, now: now)
        #expect(taken.map(\.attempts) == [1, 1])
        try store.finish([.started(id: taken[0].id)], owner: "dead", now: now)
        try store.finish([.started(id: taken[1].id)], owner: "intruder", now: now)
        #expect(try store.reclaim(queue: "q", expiredBefore: now, owner: nil, maxAttempts: 5) == 2)
        let records = try store.jobs(queue: "q", states: ["ready", "dead"], limit: 5)
        #expect(records.map(\.payload) == ["ran", "ahead"])
        #expect(records[0].state == "dead" && records[0].attempts == 1 && records[0].error?.contains("died while it ran") == true)
        #expect(records[1].state == "ready" && records[1].attempts == 0 && records[1].error == nil)
    }

    @Test func aLateOutcomeDoesNotOverwriteAJobAnotherSupervisorHolds() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        try store.push(queue: "q", jobs("a"))
        let now = JobStore.now()
        let first = try store.reserve(queue: "q", count: 1, owner: "stalled", leaseUntil: now - 1, now: now)
        try store.reclaim(queue: "q", expiredBefore: now, owner: nil, maxAttempts: 5)
        _ = try store.reserve(queue: "q", count: 1, owner: "other", leaseUntil: now + 30_000, now: now)
        try store.finish([.done(id: first[0].id, result: "late")], owner: "stalled", now: now)
        #expect(try store.counts().first?.reserved == 1, "the other supervisor still holds it")
    }

    /// Root may mount a small tmpfs (CI runs so); elsewhere the small-disk test is skipped.
    static let canMountTmpfs: Bool = {
        let probe = ScratchFile()
        guard getuid() == 0, mount("tmpfs", probe.directory, "tmpfs", 0, "size=64k") == 0 else { return false }
        umount(probe.directory)
        return true
    }()

    @Test(.enabled(if: canMountTmpfs, "needs root to mount a small tmpfs"))
    func aWALOutgrowingHalfTheRoomLeftIsCopiedAndEmptied() throws {
        let file = ScratchFile()
        try #require(mount("tmpfs", file.directory, "tmpfs", 0, "size=1m") == 0, "mount: errno \(errno)")
        defer { umount2(file.directory, Int32(MNT_DETACH)) }
        let store = try JobStore(path: file.path, create: true)
        try store.push(queue: "q", (0..<1000).map { NewJob(payload: Array("job \($0) \(String(repeating: "x", count: 100))".utf8)) })
        let wal = Files.stamp(of: file.path + "-wal")?.size ?? 0
        try #require(wal > 100_000, "the push is in the -wal (\(wal) bytes)")
        // Leave room for the copy, but less than twice the -wal.
        let filler = open(file.directory + "/filler", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        defer { close(filler) }
        let room = Int(Files.freeBytes(on: file.path) ?? 0)
        try #require(ftruncate(filler, 0) == 0 && posix_fallocate(filler, 0, off_t(max(0, room - Int(wal) * 3 / 2))) == 0)

        let unchanged = try store.makingRoom { () throws(QueueError) in try store.promoteDelayed(now: 0) }
        #expect(!unchanged.stored && Files.stamp(of: file.path + "-wal")?.size == wal, "a write that stored nothing leaves it")
        let taken = try store.makingRoom { () throws(QueueError) in
            try store.reserve(queue: "q", count: 1, owner: "me", leaseUntil: JobStore.now() + 1000, now: JobStore.now())
        }
        #expect(taken.stored && taken.value.count == 1)
        #expect(Files.stamp(of: file.path + "-wal")?.size == 0, "copied into the file and emptied")
        #expect(try store.counts().first?.ready == 999)
    }

    @Test func prefetchedJobsGoBackUntouched() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        try store.push(queue: "q", jobs("a"))
        let now = JobStore.now()
        let taken = try store.reserve(queue: "q", count: 1, owner: "me", leaseUntil: now + 1000, now: now)
        try store.release(taken.map(\.id), owner: "someone else")
        #expect(try store.counts().first?.reserved == 1, "only the holder puts a job back")
        try store.release(taken.map(\.id), owner: "me")
        let again = try store.reserve(queue: "q", count: 1, owner: "me", leaseUntil: now + 1000, now: now)
        #expect(again.first?.attempts == 1, "a release gives the attempt back")
    }

    @Test func groupsAndTheirResultsAreKeptWhileTheyRun() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        try store.push(queue: "q", [NewJob(payload: Array("a".utf8), group: "g"), NewJob(payload: Array("b".utf8), group: "g"),
                                    NewJob(payload: Array("solo".utf8))])
        let now = JobStore.now()
        let taken = try store.reserve(queue: "q", count: 3, owner: "me", leaseUntil: now + 1000, now: now)
        try store.assign(taken[0].id, to: "me/pool/7", owner: "me")
        #expect(try store.groupOfJob(heldBy: "me/pool/7") == "g")
        try store.finish([.done(id: taken[0].id, result: "ra"), .done(id: taken[2].id, result: nil)], owner: "me", now: now - 10_000)
        #expect(try store.groupCounts("g") == { var c = QueueCounts(queue: "g"); c.done = 1; c.reserved = 1; return c }())
        // Old done jobs go, but not those of a group that still runs.
        #expect(try store.purgeDone(queue: "other", before: now) == 0)
        #expect(try store.purgeDone(queue: "q", before: now) == 1)
        try store.finish([.done(id: taken[1].id, result: "rb")], owner: "me", now: now - 10_000)
        #expect(try store.purgeDone(queue: "q", before: now) == 2)
    }

    @Test func anotherProgramMayEnqueueWithPlainSQL() throws {
        let file = ScratchFile()
        let store = try JobStore(path: file.path, create: true)
        // What an application does with its own SQLite driver (solo-queue(5)).
        let app = try Database(path: file.path, create: false)
        try app.execute("INSERT INTO jobs (queue, payload) VALUES ('mailer', '{\"to\": \"a@example.org\"}')")
        let later = JobStore.now() + 3_600_000
        try app.execute("INSERT INTO jobs (queue, payload, priority, run_at, max_attempts, grp) VALUES ('mailer', 'x', 5, \(later), 3, 'batch-1')")
        try app.execute("INSERT INTO jobs (queue, payload, run_at) VALUES ('mailer', 'past', 1000)")
        let counts = try #require(try store.counts().first)
        #expect(counts.queue == "mailer" && counts.ready == 2 && counts.delayed == 1, "a future run_at makes it delayed")
        #expect(try store.groupCounts("batch-1").delayed == 1)
    }

    @Test func olderFilesAreMigrated() throws {
        let file = ScratchFile()
        // A version 1 file, with a job in it, as solo 0.1 wrote it.
        let old = try Database(path: file.path, create: true)
        try old.execute("PRAGMA journal_mode = WAL")
        try old.execute(QueueSchema.migrations[1]!)
        try old.execute("PRAGMA user_version = 1")
        try old.execute("INSERT INTO jobs (queue, payload) VALUES ('q', 'from v1')")
        try old.execute("INSERT INTO jobs (queue, payload, state, attempts, lease_owner, lease_until) VALUES ('q', 'leased', 'reserved', 1, 'gone', 0)")
        let store = try JobStore(path: file.path, create: false)
        #expect(try store.schemaVersion() == QueueSchema.version)
        // A job reserved before version 4 may have run: taken back, it keeps its attempt.
        #expect(try store.reclaim(queue: "q", expiredBefore: JobStore.now(), owner: nil, maxAttempts: 5) == 1)
        #expect(try store.jobs(queue: "q", states: ["ready"], limit: 5).map(\.attempts) == [0, 1])
        let now = JobStore.now()
        let taken = try store.reserve(queue: "q", count: 1, owner: "me", leaseUntil: now + 1000, now: now)
        #expect(taken.map(\.payload) == ["from v1"])
        try store.assign(taken[0].id, to: "w", owner: "me")
        // Jobs from before version 7 hold no key; a new one takes its key.
        let writer = try store.writer(queue: "q", template: NewJob(payload: []))
        for payload in ["keyed", "again"] { try Array(payload.utf8).withUnsafeBytes { try writer.add($0, uniqueKey: "k") } }
        let pushed = try writer.commit()
        #expect(pushed.queued == 1 && pushed.duplicates.count == 1)
        #expect(try store.jobs(queue: "q", states: ["ready", "reserved"], limit: 5).map(\.uniqueKey) == [nil, nil, "k"])
    }

    @Test func filesThatAreNotQueuesAreRefusedWithoutBeingTouched() throws {
        let file = ScratchFile()
        let other = try Database(path: file.path, create: true)
        try other.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
        #expect(throws: QueueError(.unavailable, "\(file.path) is an SQLite database but not a solo queue (it has no solo_queue table); point queue at another file")) {
            _ = try JobStore(path: file.path, create: true)
        }
        #expect(try other.scalarInt("SELECT count(*) FROM sqlite_schema WHERE name = 'jobs'") == 0)
        let mode = try other.prepare("PRAGMA journal_mode")
        #expect(try mode.step() && mode.text(0) == "delete", "left in its own journal mode")

        let garbage = file.directory + "/garbage.db"
        FileManager.default.createFile(atPath: garbage, contents: Data(repeating: 0x41, count: 8192))
        do {
            _ = try JobStore(path: garbage, create: true)
            Issue.record("opened a garbage file")
        } catch {
            #expect(error.message.contains("is not an SQLite database, so not a solo queue"))
        }

        let newer = file.directory + "/newer.db"
        let future = try Database(path: newer, create: true)
        try future.execute(QueueSchema.migrations[1]!)
        try future.execute("PRAGMA user_version = 99")
        do {
            _ = try JobStore(path: newer, create: true)
            Issue.record("opened a newer schema")
        } catch {
            #expect(error.message.contains("has queue schema 99, newer than this solo knows"))
        }
        #expect(throws: QueueError.self) { _ = try JobStore(path: file.directory + "/missing.db", create: false) }
    }
}

@Suite struct PayloadTests {
    @Test func onlyOneLineOfUTF8() {
        #expect(Payloads.problem(in: Array("{\"id\": 1}".utf8), maximum: 100) == nil)
        #expect(Payloads.problem(in: Array("héllo wörld".utf8), maximum: 100) == nil)
        #expect(Payloads.problem(in: [], maximum: 100) == .empty)
        #expect(Payloads.problem(in: [0x61, 0x00, 0x62], maximum: 100) == .nulByte)
        #expect(Payloads.problem(in: Array("two\nlines".utf8), maximum: 100) == .newline)
        #expect(Payloads.problem(in: Array("one\rtwo".utf8), maximum: 100) == .carriageReturn, "line readers split a job at a bare CR")
        #expect(Payloads.problem(in: [0x61, 0xff, 0x62], maximum: 100) == .invalidUTF8)
        #expect(Payloads.problem(in: [0xc3], maximum: 100) == .invalidUTF8)
        #expect(Payloads.problem(in: Array(repeating: 0x61, count: 101), maximum: 100) == .tooLong(maximum: 100))
    }
}

@Suite struct QueueTextTests {
    @Test func jsonIsEscaped() {
        let value = JSON.object([("a", .string("x\"y\\z\n\u{1}")), ("n", .number(-3)), ("list", .array([.bool(true), .null]))])
        #expect(value.text == #"{"a":"x\"y\\z\n\u0001","n":-3,"list":[true,null]}"#)
        let parsed = try? JSONSerialization.jsonObject(with: Data(value.text.utf8)) as? [String: Any]
        #expect(parsed?["a"] as? String == "x\"y\\z\n\u{1}")
    }

    @Test func progressLine() {
        var counts = QueueCounts(queue: "g")
        counts.done = 50
        counts.dead = 2
        counts.ready = 48
        let line = Progress.line(counts, elapsed: .seconds(2), width: 10)
        #expect(line == "[#####.....] 52/100 done, 2 dead, 26/s, ETA 1.8s")
    }

    @Test func theQueueACommandMeans() throws {
        let loader = memoryLoader(["/etc/solo/solo.conf": "[a]\ncommand = x\n[b]\ncommand = y\nqueue_name = shared\n[c]\ncommand = z\nqueue = none\n"])
        let config = try loader.load("solo.conf").config
        let file = QueueSetting.sqlite(path: "/var/lib/solo/queue.db")
        #expect(try QueueTarget.resolve(config, queue: "a") == QueueTarget(place: file, queue: "a", pools: ["a"]))
        #expect(try QueueTarget.resolve(config, queue: "nobody").pools.isEmpty)
        #expect(throws: UsageError.self) { try QueueTarget.resolve(config, queue: nil) }
        let single = try memoryLoader(["/etc/solo/solo.conf": "[a]\ncommand = x\nqueue = sqlite:q.db\n"]).load("solo.conf").config
        #expect(try QueueTarget.resolve(single, queue: nil) == QueueTarget(place: .sqlite(path: "/etc/solo/q.db"), queue: "a", pools: ["a"]))
        #expect(QueueTarget.places(config) == [file])
        // Redis pools: one server and database is one place, whoever names it.
        let redis = try memoryLoader(["/etc/solo/solo.conf": """
            [a]
            command = x
            queue = redis://10.0.0.5:6379/2
            [b]
            command = y
            queue = redis://u:pw@10.0.0.5:6379/2
            queue_name = a
            [c]
            command = z
            """]).load("solo.conf").config
        let server = try RedisURL.parse("redis://10.0.0.5:6379/2")
        #expect(try QueueTarget.resolve(redis, queue: "c").place == file)
        #expect(throws: UsageError.self) { try QueueTarget.resolve(redis, queue: "a") }
        #expect(QueueTarget.places(redis).count == 3)
        #expect(QueueTarget.places(redis).first == .redis(server))
    }
}
