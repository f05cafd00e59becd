import Foundation
import Glibc
import SoloKit
import Testing

/// Recycling with real workers: the memory limit held to one job, warm replacements, spread.
@Suite struct RecycleTests {
    /// A Python feed worker that keeps `leak` MiB more after every job, and records
    /// "pid payload rss" in `handled` as it reports each outcome.
    static func leaker(leak: Int, bootSeconds: Double = 0, ready: Bool = true) -> String {
        """
        import os, sys, time
        time.sleep(\(bootSeconds))
        fd3 = os.fdopen(3, 'w', buffering=1)
        kept = []
        \(ready ? "fd3.write('ready\\n')" : "")
        for line in sys.stdin:
            kept.append(b'x' * (\(leak) << 20))
            with open('/proc/self/statm') as statm:
                rss = int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
            with open('handled', 'a') as out:
                out.write('%d %s %d %d\\n' % (os.getpid(), line.strip(), rss, time.monotonic_ns()))
            fd3.write('ok\\n')
        """
    }

    struct Handled { var pid: String; var payload: String; var rss: UInt64; var ns: Int64 }

    func handled(_ scratch: Scratch) -> [Handled] {
        scratch.read("handled").split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return Handled(pid: String(parts[0]), payload: String(parts[1]), rss: UInt64(parts[2]) ?? 0, ns: Int64(parts[3]) ?? 0)
        }
    }

    func push(_ scratch: Scratch, _ lines: [String], group: String, queue: String? = nil) throws {
        let result = try runSolo(["push", "--config", "solo.conf", "--group", group] + (queue.map { ["--queue", $0] } ?? []), in: scratch,
                                 input: Array((lines.joined(separator: "\n") + "\n").utf8))
        try #require(result.status == 0, "solo push: \(result.stderr)")
    }

    func waitForGroup(_ scratch: Scratch, _ group: String, jobs: Int) throws {
        let wait = try runSolo(["wait", group, "--config", "solo.conf"], in: scratch, seconds: 60)
        #expect(wait.status == 0, "\(wait.stderr)")
        #expect(wait.stderr.contains("group \(group): \(jobs) jobs, \(jobs) done, 0 dead"), "\(wait.stderr)")
    }

    /// The timed sample is far away (10s), so only the check after each outcome can see the
    /// leak: every worker leaves at the first job that takes it over memory_limit. With
    /// prefetch, the job written ahead is taken back when still in the pipe; one that Python
    /// read into its buffer runs first: two jobs over at most.
    @Test(arguments: [0, 1])
    func aFastLeakerIsRecycledWithinOneJobOfItsLimit(prefetch: Int) throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("leak.py", Self.leaker(leak: 4))
        scratch.config(port: port, """
            [leak]
            command = python3 leak.py
            queue = sqlite:queue.db
            memory_limit = 48M
            memory_interval = 10s
            max_jobs = 100000
            prefetch = \(prefetch)
            """)
        let supervisor = try RunningSupervisor(scratch)
        try push(scratch, (1...60).map { "job\($0)" }, group: "leak")
        try waitForGroup(scratch, "leak", jobs: 60)
        let jobs = handled(scratch)
        #expect(jobs.map(\.payload).sorted() == (1...60).map { "job\($0)" }.sorted(), "each job exactly once")
        let limit: UInt64 = 48 << 20, growth: UInt64 = 4 << 20
        let highest = jobs.map(\.rss).max() ?? 0
        #expect(highest <= limit + growth * UInt64(1 + prefetch), "highest RSS \(highest >> 20)M, over the limit by more than \(1 + prefetch) jobs' 4M")
        #expect(supervisor.lines(containing: "over memory_limit 48M").count >= 3, "\(supervisor.log)")
        #expect(try supervisor.stop() == 0)
    }

    /// A worker that never says `ready` gets its first job as soon as it waits on its stdin,
    /// not a second after it started; one that dies at boot never holds a job.
    @Test func aQuietWorkerGetsItsFirstJobOnceItWaitsForOne() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("quiet.sh", """
            #!/bin/sh
            echo "$$ boot $(date +%s%N)" >> booted
            while IFS= read -r job; do
                echo "$$ $job $(date +%s%N)" >> handled
                echo ok >&3
            done
            """, executable: true)
        scratch.write("dies.sh", "#!/bin/sh\nsleep 0.05\nexit 3\n", executable: true)
        scratch.config(port: port, """
            [quiet]
            command = ./quiet.sh
            queue = sqlite:queue.db
            max_jobs = 2
            [dies]
            command = ./dies.sh
            queue = sqlite:dies.db
            max_attempts = 2
            backoff_min = 10ms
            backoff_max = 50ms
            """)
        try push(scratch, (1...6).map { "job\($0)" }, group: "quiet", queue: "quiet")
        let dying = try runSolo(["push", "--config", "solo.conf", "--queue", "dies", "doomed"], in: scratch)
        try #require(dying.status == 0, "\(dying.stderr)")
        let supervisor = try RunningSupervisor(scratch)
        try waitForGroup(scratch, "quiet", jobs: 6)
        let boots = Dictionary(scratch.read("booted").split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), Int64(parts[2]) ?? 0)
        }, uniquingKeysWith: min)
        let firstJobs = Dictionary(scratch.read("handled").split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), Int64(parts[2]) ?? 0)
        }, uniquingKeysWith: min)
        #expect(firstJobs.count == 3, "three workers of two jobs each: \(firstJobs)")
        for (pid, first) in firstJobs {
            let wait = first - (boots[pid] ?? 0)
            #expect(wait < 500_000_000, "worker \(pid) waited \(wait / 1_000_000)ms for its first job")
        }
        // The worker that dies at boot has died again and again without ever taking the job.
        try supervisor.waitForLog("pool dies: worker 0", count: 5, seconds: 20)
        let list = try runSolo(["queue", "list", "--queue", "dies", "--json", "--config", "solo.conf"], in: scratch)
        let jobs = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]], "\(list.stderr)")
        #expect(jobs.count == 1 && jobs.first?["attempts"] as? Int == 0 && jobs.first?["state"] as? String == "ready", "\(jobs)")
        #expect(try supervisor.stop() == 0)
    }

    /// A feed worker that boots for `boot` seconds, then says `ready`, and takes `job` seconds a job.
    static func booter(boot: Double, job: Double) -> String {
        """
        import os, sys, time
        time.sleep(\(boot))
        with open('booted', 'a') as out:
            out.write('%d %d\\n' % (os.getpid(), time.monotonic_ns()))
        fd3 = os.fdopen(3, 'w', buffering=1)
        fd3.write('ready\\n')
        for line in sys.stdin:
            with open('handled', 'a') as out:
                out.write('%d %s 0 %d\\n' % (os.getpid(), line.strip(), time.monotonic_ns()))
            time.sleep(\(job))
            fd3.write('ok\\n')
        """
    }

    /// Every second start dies at once: every warm replacement, and no worker started as before.
    static let failEven = """
        #!/bin/sh
        printf x >> starts
        [ $(( $(wc -c < starts) % 2 )) -eq 0 ] && exit 3
        exec python3 boot.py
        """

    func boots(_ scratch: Scratch) -> [String: Int64] {
        Dictionary(scratch.read("booted").split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), Int64(parts[1]) ?? 0)
        }, uniquingKeysWith: min)
    }

    /// A worker that boots in 200ms is recycled every 15 jobs of 150ms: its replacement boots beside it
    /// and takes the next job the moment it is done, so no job waits on a boot.
    @Test func aWarmReplacementServesTheNextJobWithNoGap() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("boot.py", Self.booter(boot: 0.2, job: 0.15))
        scratch.config(port: port, "[warm]\ncommand = python3 boot.py\nqueue = sqlite:queue.db\nmax_jobs = 15-15\n")
        try push(scratch, (1...45).map { "job\($0)" }, group: "warm")
        let supervisor = try RunningSupervisor(scratch)
        try waitForGroup(scratch, "warm", jobs: 45)
        let jobs = handled(scratch).sorted { $0.ns < $1.ns }
        #expect(jobs.map(\.payload).sorted() == (1...45).map { "job\($0)" }.sorted(), "each job exactly once")
        let pids = jobs.reduce(into: [String]()) { order, job in if order.last != job.pid { order.append(job.pid) } }
        #expect(pids.count == 3, "three workers of 15 jobs, one after another: \(pids)")
        let booted = boots(scratch)
        for (old, new) in zip(pids, pids.dropFirst()) {
            // Each job starts with its line and takes 150ms.
            let oldDone = jobs.last { $0.pid == old }!.ns + 150_000_000, firstOfNew = jobs.first { $0.pid == new }!.ns
            #expect((booted[new] ?? .max) < oldDone, "worker \(new) had booted before \(old) finished its last job")
            #expect(firstOfNew - oldDone < 100_000_000, "the slot idled \((firstOfNew - oldDone) / 1_000_000)ms between \(old) and \(new)")
        }
        #expect(supervisor.lines(containing: "started a warm replacement for worker 0").count >= 2, "\(supervisor.log)")
        #expect(try supervisor.stop() == 0)
    }

    /// Every warm replacement dies as it starts: each recycle goes on as it did without them, and
    /// every job is done once.
    @Test func aReplacementThatFailsToBootLeavesTheSlotServedAsBefore() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("boot.py", Self.booter(boot: 0.05, job: 0.05))
        scratch.write("start.sh", Self.failEven, executable: true)
        scratch.config(port: port, "[warm]\ncommand = ./start.sh\nqueue = sqlite:queue.db\nmax_jobs = 20-20\n")
        try push(scratch, (1...60).map { "job\($0)" }, group: "warm")
        let supervisor = try RunningSupervisor(scratch)
        try waitForGroup(scratch, "warm", jobs: 60)
        let jobs = handled(scratch)
        #expect(jobs.map(\.payload).sorted() == (1...60).map { "job\($0)" }.sorted(), "each job exactly once")
        #expect(Set(jobs.map(\.pid)).count == 3, "\(supervisor.log)")
        #expect(supervisor.lines(containing: "died before it was needed: exit status 3; the worker is recycled without one").count >= 2, "\(supervisor.log)")
        #expect(supervisor.lines(containing: "restarting in").isEmpty, "no back-off: \(supervisor.log)")
        #expect(try supervisor.stop() == 0)
    }
}
