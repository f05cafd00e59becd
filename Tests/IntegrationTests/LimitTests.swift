import Foundation
import Glibc
import SoloKit
import Testing

/// Limits end to end: real supervisors, real Python workers, a real queue file and a real
/// redis-server. Each worker notes when each job ran; the notes say what ran at once and how fast.
@Suite struct LimitTests {
    let control = ControlTests()

    /// Notes "WHO JOB START END" (wall clock, seconds) for every job; a job named slow-* takes
    /// 300 ms.
    static let worker = """
        import os, sys, time
        solo = os.fdopen(int(os.environ["SOLO_FD"]), "w", buffering=1)
        who = sys.argv[1]
        solo.write("ready\\n")
        for line in sys.stdin:
            job = line.strip()
            start = time.time()
            if job.startswith("slow"):
                time.sleep(0.3)
            with open("ran", "a") as f:
                f.write("%s %s %.6f %.6f\\n" % (who, job, start, time.time()))
            solo.write("ok\\n")
        """

    struct Run {
        let who: String, job: String, start: Double, end: Double
    }

    static func runs(_ scratch: Scratch) -> [Run] {
        scratch.read("work/ran").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 4, let start = Double(f[2]), let end = Double(f[3]) else { return nil }
            return Run(who: String(f[0]), job: String(f[1]), start: start, end: end)
        }
    }

    /// The most of `runs` running at one moment.
    static func mostAtOnce(_ runs: [Run]) -> Int {
        var edges: [(at: Double, step: Int)] = []
        for run in runs { edges += [(run.start, 1), (run.end, -1)] }
        // An end and a start at one moment: the end first.
        edges.sort { (a: (at: Double, step: Int), b: (at: Double, step: Int)) -> Bool in a.at != b.at ? a.at < b.at : a.step < b.step }
        var now = 0, most = 0
        for edge in edges {
            now += edge.step
            most = max(most, now)
        }
        return most
    }

    /// a.conf and b.conf: two supervisors (two lock ports and state directories, as on two
    /// hosts) whose pool py of the worker above takes from one queue.
    static func twoHosts(_ scratch: Scratch, queue: String, _ keys: String) throws {
        scratch.write("work/worker.py", worker)
        for name in ["a", "b"] {
            scratch.write("\(name).conf", "[global]\nlock_port = \(try freePort())\nstate_dir = state-\(name)\n\n"
                + "[py]\ncommand = python3 worker.py \(name)\ndirectory = work\n\(queue)\n\(keys)\n")
        }
    }

    func push(_ jobs: [String], key: String? = nil, config: String = "solo.conf", in scratch: Scratch) throws {
        let push = try runSolo(["push", "--config", config, "--group", "batch"] + (key.map { ["--key", $0] } ?? []), in: scratch,
                               input: Array((jobs.joined(separator: "\n") + "\n").utf8))
        try #require(push.status == 0, "solo push: \(push.stderr)")
    }

    /// One customer's jobs run one at a time (key_concurrency = 1) while the other jobs use the
    /// other workers; `solo status` says what is held back, and nothing fails.
    @Test func aKeyAtItsConcurrencyRunsItsJobsOneAtATimeBesideTheOthers() throws {
        let scratch = Scratch()
        scratch.write("work/worker.py", Self.worker)
        scratch.config(port: try freePort(), """
            [py]
            command = python3 worker.py one
            directory = work
            queue = sqlite:queue.db
            workers = 4
            key_concurrency = 1
            """)
        let supervisor = try RunningSupervisor(scratch)
        try push((1...4).map { "slow-a\($0)" }, key: "customer:a", in: scratch)
        try push((1...6).map { "slow-n\($0)" }, in: scratch)
        var text = ""
        try waitFor("solo status to show jobs held back") {
            text = (try? runSolo(["status", "--config", "solo.conf"], in: scratch).stdout) ?? ""
            return text.contains("by key_concurrency")
        }
        #expect(text.contains("held back: "), "\(text)")
        let wait = try runSolo(["wait", "batch", "--config", "solo.conf"], in: scratch, seconds: 30)
        #expect(wait.stderr.contains("10 jobs, 10 done"), "\(wait.stderr)\n\(supervisor.log)")
        let runs = Self.runs(scratch)
        let customer = runs.filter { $0.job.hasPrefix("slow-a") }
        #expect(customer.count == 4 && Self.mostAtOnce(customer) == 1, "customer:a one at a time: \(customer)")
        // The jobs without a key did not wait behind the customer's: they shared the workers.
        #expect(Self.mostAtOnce(runs) >= 3, "\(runs)")
        #expect(try supervisor.stop() == 0)
    }

    /// Two supervisors (two lock ports, as on two hosts) on one queue file with concurrency = 2
    /// and three workers each: never more than two jobs run at once between them.
    @Test func concurrencyHoldsAcrossSupervisorsOnOneFile() throws {
        let scratch = Scratch()
        try Self.twoHosts(scratch, queue: "queue = sqlite:\(scratch.file("queue.db"))", "workers = 3\nconcurrency = 2")
        let a = try RunningSupervisor(scratch, config: "a.conf", name: "a")
        let b = try RunningSupervisor(scratch, config: "b.conf", name: "b")
        try push((1...12).map { "slow-\($0)" }, config: "a.conf", in: scratch)
        let wait = try runSolo(["wait", "batch", "--config", "a.conf"], in: scratch, seconds: 30)
        #expect(wait.stderr.contains("12 jobs, 12 done"), "\(wait.stderr)\n\(a.log)\n\(b.log)")
        let runs = Self.runs(scratch)
        #expect(runs.count == 12 && Self.mostAtOnce(runs) == 2, "at most two at once: \(runs)")
        #expect(try a.stop() == 0)
        #expect(try b.stop() == 0)
    }

    /// Two supervisors on one Redis with rate_limit = 50/s: together they run 500 jobs in ten
    /// seconds, within 10%, and both take part.
    @Test func aRateLimitHoldsAcrossTwoSupervisorsOnOneRedis() throws {
        let scratch = Scratch()
        let redis = try RedisServer(scratch)
        try withExtendedLifetime(redis) {
            try Self.twoHosts(scratch, queue: "queue = \(redis.url)\nqueue_name = paced", "workers = 2\nrate_limit = 50/s")
            let a = try RunningSupervisor(scratch, config: "a.conf", name: "a")
            let b = try RunningSupervisor(scratch, config: "b.conf", name: "b")
            try push((1...1500).map { "j\($0)" }, config: "a.conf", in: scratch)
            try waitFor("12 s of jobs", seconds: 30) {
                let runs = Self.runs(scratch)
                guard let first = runs.map(\.start).min() else { return false }
                return (runs.map(\.start).max() ?? 0) - first >= 12
            }
            let runs = Self.runs(scratch)
            let first = runs.map(\.start).min()!
            // Ten seconds after the first second (the burst and the start are left out).
            let window = runs.filter { $0.start >= first + 1 && $0.start < first + 11 }
            #expect(window.count >= 450 && window.count <= 550, "\(window.count) jobs in 10 s at 50/s")
            #expect(Set(window.map(\.who)) == ["a", "b"], "both supervisors took jobs")
            #expect(try a.stop() == 0)
            #expect(try b.stop() == 0)
        }
    }
}
