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

    func push(_ scratch: Scratch, _ lines: [String], group: String) throws {
        let result = try runSolo(["push", "--config", "solo.conf", "--group", group], in: scratch,
                                 input: Array((lines.joined(separator: "\n") + "\n").utf8))
        try #require(result.status == 0, "solo push: \(result.stderr)")
    }

    func waitForGroup(_ scratch: Scratch, _ group: String, jobs: Int) throws {
        let wait = try runSolo(["wait", group, "--config", "solo.conf"], in: scratch, seconds: 60)
        #expect(wait.status == 0, "\(wait.stderr)")
        #expect(wait.stderr.contains("group \(group): \(jobs) jobs, \(jobs) done, 0 dead"), "\(wait.stderr)")
    }

    /// The timed sample is far away (10s), so only the check after each outcome can see the
    /// leak: every worker leaves at the first job that takes it over memory_limit.
    @Test func aFastLeakerIsRecycledWithinOneJobOfItsLimit() throws {
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
            """)
        let supervisor = try RunningSupervisor(scratch)
        try push(scratch, (1...60).map { "job\($0)" }, group: "leak")
        try waitForGroup(scratch, "leak", jobs: 60)
        let jobs = handled(scratch)
        #expect(jobs.map(\.payload).sorted() == (1...60).map { "job\($0)" }.sorted(), "each job exactly once")
        let limit: UInt64 = 48 << 20, growth: UInt64 = 4 << 20
        let highest = jobs.map(\.rss).max() ?? 0
        #expect(highest <= limit + growth, "highest RSS \(highest >> 20)M, over the limit by more than one job's 4M")
        #expect(supervisor.lines(containing: "over memory_limit 48M").count >= 3, "\(supervisor.log)")
        #expect(try supervisor.stop() == 0)
    }
}
