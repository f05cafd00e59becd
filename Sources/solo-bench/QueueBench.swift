import Foundation
import Glibc
import SoloKit

// The queue part: jobs per second through a supervisor's queue file (fed, process per job, raw
// exchange, solo push) and the cost of one reserve and one outcome.

func scratchDirectory() -> String {
    var template = Array("/tmp/solo-bench-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}

let samplePayload = Array(#"{"id": 12345, "to": "someone@example.org"}"#.utf8)

/// The supervisor's queue file, once it has made it.
func queueFile(of supervisor: BenchSupervisor) -> JobStore {
    let path = supervisor.directory + "/queue.db"
    let ready = Moment.now() + .seconds(10)
    while Moment.now() < ready {
        if let store = try? JobStore(path: path, create: false, busyTimeout: 5000) { return store }
        usleep(10_000)
    }
    fail("the supervisor made no queue file")
}

/// A feed-mode run: jobs per second, and the CPU each job cost the supervisor (with the
/// redis-server's, on Redis), in microseconds: the supervisor's cost alone, which a busy
/// neighbour on the machine slows but does not add to.
struct FeedRun {
    var jobsPerSecond: Double
    var cpuPerJob: Double
}

/// A run through a supervisor with two workers, from a queue filled beforehand; timed from
/// the `booted`th announcement on BENCH_FIFO (0: from the push).
func feedThroughput(_ options: Options, command: String, jobs: Int, environment: String = "", maxJobs: String = "none",
                    pool: String = "", booted: Int = 0) -> FeedRun {
    let supervisor = BenchSupervisor(solo: options.solo, tools: options.tools,
                                     pool: "workers = 2\njob_timeout = none\nbackoff_min = 10ms\nbackoff_reset = 10ms\n" + pool,
                                     environment: environment, command: command, queue: "queue.db", maxJobs: maxJobs)
    defer { supervisor.stop() }
    // The supervisor makes the file; fill it while its workers wait, then time the drain.
    let store = queueFile(of: supervisor)
    for _ in 0..<booted where supervisor.announcements.next() == nil { fail("a worker did not boot within 10 seconds") }
    for attempt in 1... {
        kill(supervisor.pid, SIGSTOP)
        do {
            try store.push(queue: "bench", (0..<jobs).map { _ in NewJob(payload: samplePayload) })
            break
        } catch {
            // Stopped while it held the file: let it finish, and try again.
            kill(supervisor.pid, SIGCONT)
            if attempt == 20 { fail("push: \(error)") }
            usleep(20_000)
        }
    }
    let begin = Moment.now(), cpu = cpuNanoseconds(of: supervisor.pid)
    kill(supervisor.pid, SIGCONT)
    while ((try? store.unfinished(queue: "bench")) ?? 1) > 0 { usleep(20_000) }
    return FeedRun(jobsPerSecond: Double(jobs) / (Moment.now() - begin).seconds,
                   cpuPerJob: (cpuNanoseconds(of: supervisor.pid) - cpu) / 1000 / Double(jobs))
}

/// Jobs per second when the same worker code is started once per job (two at a time).
func processPerJob(_ command: [String], jobs: Int) -> Double {
    let begin = Moment.now()
    var running: [pid_t] = []
    for _ in 0..<jobs {
        if running.count == 2 { _ = Processes.wait(for: running.removeFirst()) }
        let (stdinRead, stdinWrite) = try! FileDescriptor.pipe()
        let (fd3Read, fd3Write) = try! FileDescriptor.pipe()
        var request = SpawnRequest(path: command[0], arguments: command + ["once"], environment: ["PATH=/usr/bin:/bin"],
                                   descriptors: [stdinRead, devNull, devNull, fd3Write])
        request.newSession = false
        let pid = try! spawn(request)
        stdinRead.close()
        fd3Write.close()
        try? stdinWrite.writeAll(samplePayload + [10])
        var answer = [UInt8](repeating: 0, count: 16)
        _ = try? fd3Read.read(into: &answer)
        stdinWrite.close()
        fd3Read.close()
        running.append(pid)
    }
    for pid in running { _ = Processes.wait(for: pid) }
    return Double(jobs) / (Moment.now() - begin).seconds
}

/// What a program prints on its standard output (and error, with `errorsToo`), run to its end.
func output(of command: [String], errorsToo: Bool = false) -> String {
    let output = try! FileDescriptor.pipe()
    var request = SpawnRequest(path: command[0], arguments: command, environment: ["PATH=/usr/bin:/bin"],
                               descriptors: [devNull, output.write, errorsToo ? output.write : devNull])
    request.newSession = false
    guard let pid = try? spawn(request) else { fail("cannot run \(command[0])") }
    output.write.close()
    var text: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 256)
    while case .bytes(let n)? = try? output.read.read(into: &chunk) { text += chunk[0..<n] }
    output.read.close()
    _ = Processes.wait(for: pid)
    return String(decoding: text, as: UTF8.self)
}

func rawExchange(_ options: Options, _ command: [String], jobs: Int) -> Double {
    let text = output(of: [options.tools + "/pingpong", "\(jobs)", "2"] + command)
    return Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
}

/// `solo push` of `lines` lines from standard input into a fresh file (or the `queue` given),
/// with `arguments` (`--unique-payload`: a distinct key a line); jobs per second.
func pushRate(_ options: Options, lines: Int, queue: String = "", arguments: [String] = []) -> Double {
    let directory = scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let config = "[global]\nlock_port = \(freePort())\nstate_dir = \(directory)\n[bench]\ncommand = true\n\(queue)\n"
    _ = FileManager.default.createFile(atPath: directory + "/solo.conf", contents: config.data(using: .utf8))
    var input = [UInt8]()
    input.reserveCapacity(lines * 48)
    for n in 0..<lines { input += Array("{\"id\": \(n), \"to\": \"someone@example.org\"}\n".utf8) }
    _ = FileManager.default.createFile(atPath: directory + "/jobs.txt", contents: Data(input))
    let jobsFile = try! FileDescriptor.open(directory + "/jobs.txt", O_RDONLY)
    defer { jobsFile.close() }
    var request = SpawnRequest(path: options.solo, arguments: [options.solo, "push", "--config", directory + "/solo.conf"] + arguments,
                               environment: ["PATH=/usr/bin:/bin"], descriptors: [jobsFile, devNull, FileDescriptor.standardError])
    request.newSession = false
    let begin = Moment.now()
    let status = Processes.wait(for: try! spawn(request))
    let seconds = (Moment.now() - begin).seconds
    guard status == .exited(0) else { fail("solo push failed: \(String(describing: status))") }
    return Double(lines) / seconds
}

/// Median microseconds of a reserve of one job (under `limits`), and of its outcome, with
/// `waiting` jobs ready.
func reserveTime(waiting: Int, rounds: Int, limits: JobLimits = JobLimits()) -> (reserve: Double, finish: Double) {
    let directory = scratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try! JobStore(path: directory + "/queue.db", create: true)
    var pushed = 0
    while pushed < waiting {
        let batch = min(100_000, waiting - pushed)
        try! store.push(queue: "bench", (0..<batch).map { _ in NewJob(payload: samplePayload) })
        pushed += batch
    }
    var reserves: [Double] = [], finishes: [Double] = []
    for _ in 0..<rounds {
        let now = JobStore.now()
        let begin = Moment.now()
        let job = try! store.reserve(queue: "bench", count: 1, owner: "bench", leaseUntil: now + 30_000, now: now, limits: limits).jobs[0]
        let reserved = Moment.now()
        try! store.finish([.done(id: job.id, result: nil)], owner: "bench", now: now)
        let finished = Moment.now()
        try! store.push(queue: "bench", [NewJob(payload: samplePayload)])  // keep `waiting` jobs waiting
        reserves.append(Double((reserved - begin).nanoseconds) / 1000)
        finishes.append(Double((finished - reserved).nanoseconds) / 1000)
    }
    return (percentile(reserves, 0.5), percentile(finishes, 0.5))
}

/// How many lines the unique push is measured with.
let uniqueLines = 100_000

/// `solo push --unique-payload` of `uniqueLines` distinct lines, and a plain push of as many
/// (`plain`, measured with `plainLines`, when that is the same count) to set it against.
func uniquePushRates(_ options: Options, runs: Int, queue: String = "", before: () -> Void = {}, plainLines: Int,
                     plain: Double) -> (unique: Double, plain: Double) {
    func median(_ measure: () -> Double) -> Double { percentile((0..<runs).map { _ in before(); return measure() }, 0.5) }
    let unique = median { pushRate(options, lines: uniqueLines, queue: queue, arguments: ["--unique-payload"]) }
    let same = plainLines == uniqueLines ? plain : median { pushRate(options, lines: uniqueLines, queue: queue) }
    return (unique, same)
}

/// Issue 17's limits, set so that they never bind (a run has at most 100,000 jobs, and the
/// rate's burst alone is 10,000,000): what merely having them costs.
let idleLimits = JobLimits(concurrency: 100_000, rate: RateLimit(count: 100_000_000, period: .seconds(1)))
/// The same as a pool's config keys.
let idleLimitKeys = ["concurrency = \(idleLimits.concurrency!)", "rate_limit = \(idleLimits.rate!)"]

/// Feed mode with two C workers without `idleLimits` and with them, in pairs whose order
/// alternates: the medians of jobs/s and of CPU per job, and the median of the pairs' ratios
/// (each pair ran back to back, so this machine's drift weighs little on it) with the lowest
/// and highest.
func printLimitsCost(store: String, jobs: Int, pairs: Int, cpu: String, _ measure: (_ pool: String) -> FeedRun) {
    var without: [FeedRun] = [], with: [FeedRun] = []
    for pair in 0..<pairs {
        if pair % 2 == 0 { without.append(measure("")) }
        with.append(measure(idleLimitKeys.joined(separator: "\n")))
        if pair % 2 == 1 { without.append(measure("")) }
    }
    func ratio(_ figure: KeyPath<FeedRun, Double>, digits: Int) -> String {
        let ratios = zip(with, without).map { $0[keyPath: figure] / $1[keyPath: figure] }
        return "\(format(percentile(ratios, 0.5), digits)) (\(format(ratios.min()!, digits))–\(format(ratios.max()!, digits)))"
    }
    print("| feed mode, \(store), two C workers, \(jobs) jobs (\(pairs) pairs, alternating, medians) | jobs/s | CPU per job (\(cpu)) |")
    print("|---|---|---|")
    for (name, runs) in [("no limits", without), ("\(idleLimitKeys.map { "`\($0)`" }.joined(separator: ", ")) (never binding)", with)] {
        print("| \(name) | \(format(percentile(runs.map(\.jobsPerSecond), 0.5), 0)) | \(format(percentile(runs.map(\.cpuPerJob), 0.5), 1)) µs |")
    }
    print("| **with / without**, pair by pair (goal ≥ 0.9 for jobs/s) | **\(ratio(\.jobsPerSecond, digits: 2))** | \(ratio(\.cpuPerJob, digits: 3)) |\n")
}
