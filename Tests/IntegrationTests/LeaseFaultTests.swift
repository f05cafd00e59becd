import Foundation
import Glibc
import SoloKit
import Testing

/// The two queues a feed pool can use, for tests that must hold on both.
enum QueueKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, redis
    var testDescription: String { rawValue }
}

/// A supervisor paused or killed while it holds leases, on either queue: paused longer than its
/// lease (SIGSTOP, a VM suspended), it takes none of its own jobs back when it resumes; killed,
/// the jobs it took ahead and never gave a worker come back without losing an attempt.
@Suite struct LeaseFaultTests {
    /// A scratch directory, a port, and the queue the test runs on.
    final class Setup {
        let scratch = Scratch()
        let port: UInt16
        let redis: RedisServer?

        init(_ kind: QueueKind) throws {
            port = try freePort()
            redis = kind == .redis ? try RedisServer(scratch) : nil
        }

        /// The pool `feed` of one worker, fed from a file beside the config or from the test's
        /// Redis; a job takes `seconds`, and the worker notes each in `runs` and its pid in `pid`.
        func configure(global: String = "", pool: String = "", seconds: String) {
            scratch.write("work/worker.sh", """
                #!/bin/sh
                echo $$ > pid
                echo ready >&3
                while IFS= read -r job; do echo "$job" >> runs; sleep \(seconds); echo ok >&3; done
                """, executable: true)
            let place = redis.map(\.url) ?? "sqlite:queue.db"
            scratch.config(port: port, global: global, "[feed]\ncommand = ./worker.sh\ndirectory = work\nworkers = 1\nqueue = \(place)\n\(pool)")
        }

        func queue() throws -> any JobQueue {
            if let redis { return try RedisQueue(url: RedisURL(host: "127.0.0.1", port: redis.port)) }
            return try JobStore(path: scratch.file("queue.db"), create: false, busyTimeout: 5000)
        }

        func push(_ count: Int) throws {
            let lines = (1...count).map { "j\($0)\n" }.joined()
            let result = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array(lines.utf8))
            try #require(result.status == 0, "solo push: \(result.stderr)")
        }

        /// Every payload a worker was given, once per run.
        var runs: [String] { scratch.read("work/runs").split(separator: "\n").map(String.init) }

        func records(_ states: [String]) throws -> [JobRecord] {
            try queue().jobs(queue: "feed", states: states, group: nil, after: 0, limit: 1000)
        }

        /// Reserved jobs whose lease has not run out yet (by the store's own clock for Redis).
        func leasesLeft() throws -> Int {
            let now = JobStore.now()
            if let redis {
                return Int(try redis.command("ZCOUNT", "solo:{feed}:reserved", "\(now)", "+inf").integer ?? -1)
            }
            let database = try Database(path: scratch.file("queue.db"), create: false)
            return Int(try database.scalarInt("SELECT count(*) FROM jobs WHERE state = 'reserved' AND lease_until >= \(now)") ?? -1)
        }
    }

    /// Issue 14.3: a supervisor stopped for twice its lease, with a job in its worker's hands and
    /// dozens taken ahead, renews them when it resumes: every job runs once.
    @Test(arguments: QueueKind.allCases)
    func aSupervisorPausedLongerThanItsLeaseRunsNoJobTwice(_ kind: QueueKind) throws {
        let setup = try Setup(kind)
        setup.configure(global: "lease = 3s", seconds: "0.1")
        let supervisor = try RunningSupervisor(setup.scratch)
        try setup.push(100)
        try waitFor("10 jobs run", seconds: 20) { setup.runs.count >= 10 }
        supervisor.child.signal(SIGSTOP)
        defer { supervisor.child.signal(SIGCONT) }
        try waitFor("every lease to run out while the supervisor is stopped", seconds: 10) {
            (try? setup.leasesLeft()) == 0 && (try? setup.records(["reserved"]).count) ?? 0 > 0
        }
        supervisor.child.signal(SIGCONT)
        try waitFor("every job done", seconds: 60) { (try? setup.records(["done"]).count) == 100 }
        #expect(setup.runs.count == 100 && Set(setup.runs).count == 100, "\(setup.runs.count) runs for 100 jobs")
        #expect(supervisor.lines(containing: "took back").isEmpty, "\(supervisor.log)")
        #expect(try supervisor.stop() == 0)
    }

    /// Issue 14.5: one worker whose jobs take 10 s, its supervisor killed five times while the
    /// worker holds a job and 64 more are taken ahead. The jobs that never ran come back ready,
    /// their attempts untouched; only the job that ran at every start may use its attempts up.
    @Test(arguments: QueueKind.allCases)
    func jobsTakenAheadLoseNoAttemptWhenTheirSupervisorIsKilled(_ kind: QueueKind) throws {
        let setup = try Setup(kind)
        let scratch = setup.scratch
        setup.configure(pool: "stop_timeout = 1s\n", seconds: "10")
        try setup.push(100)
        for round in 1...5 {
            let supervisor = try RunningSupervisor(scratch, name: "supervisor-\(round)")
            try waitFor("round \(round): a job in the worker's hands", seconds: 20) { setup.runs.count == round }
            let worker = pid_t(scratch.read("work/pid").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            supervisor.child.signal(SIGKILL)
            _ = try supervisor.child.wait()
            try waitFor("round \(round): the guardian to kill worker \(worker)", seconds: 5) { !isRunning(worker) }
        }
        // A last start takes the jobs back; its stop gives back those it took ahead again.
        let last = try RunningSupervisor(scratch, name: "supervisor-6")
        try waitFor("a job in the last worker's hands", seconds: 20) { setup.runs.count == 6 }
        #expect(try last.stop() == 0)

        let ran = Set(setup.runs)
        let all = try setup.records(["ready", "delayed", "reserved", "done", "dead"])
        try #require(all.count == 100, "\(all.count) jobs")
        let neverRan = all.filter { !ran.contains($0.payload) }
        #expect(neverRan.count >= 94, "\(ran.count) jobs ran")
        for job in neverRan {
            #expect(job.state == "ready" && job.attempts == 0, "\(job.payload) never ran, but is \(job.state) after \(job.attempts) attempt(s): \(job.error ?? "")")
        }
        for job in all where ran.contains(job.payload) {
            let times = setup.runs.filter { $0 == job.payload }.count
            #expect(job.attempts <= times, "\(job.payload) ran \(times) time(s) and counts \(job.attempts) attempt(s)")
        }
    }
}
