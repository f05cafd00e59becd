import Foundation
import Glibc
import SoloKit

// solo-bench: the figures of the README, measured with real processes.
//   bench/run              builds everything and runs this (release, static solo)
//   solo-bench --solo PATH --tools DIR [--quick]
// It prints a markdown report: the held-port check next to true, perl and C; the time from a
// worker's death to its replacement running; the supervisor's RSS and idle CPU with 100
// workers; its CPU per restart with workers that exit every 50 ms.

struct Options {
    var solo = ".build-static/release/solo"
    var tools = ".build-static/bench"
    var quick = false
    /// Which parts: core (the supervisor), queue (feed mode), kill (jobs run again after a
    /// kill -9) and soak (a million jobs); peers (solo next to supervisord and runit) only when
    /// asked for, by bench/peers.
    var parts: Set<String> = ["core", "queue", "kill", "soak"]
    var supervisord: String?
    var runsvdir: String?
    /// For the Redis part (bench/redis): the server, and a Python with redis-py.
    var redisServer: String?
    var python: String?
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--solo": options.solo = arguments.popFirst() ?? options.solo
        case "--tools": options.tools = arguments.popFirst() ?? options.tools
        case "--quick": options.quick = true
        case "--only": options.parts = [arguments.popFirst() ?? ""]
        case "--supervisord": options.supervisord = arguments.popFirst()
        case "--runsvdir": options.runsvdir = arguments.popFirst()
        case "--redis-server": options.redisServer = arguments.popFirst()
        case "--python": options.python = arguments.popFirst()
        default:
            FileHandle.standardError.write("usage: solo-bench [--solo PATH] [--tools DIR] [--quick] [--only core|queue|soak|kill|peers|redis|recycle] [--supervisord PATH] [--runsvdir PATH] [--redis-server PATH] [--python PATH]\n".data(using: .utf8)!)
            exit(2)
        }
    }
    return options
}

// MARK: - small tools

func fail(_ message: String) -> Never {
    FileHandle.standardError.write("solo-bench: \(message)\n".data(using: .utf8)!)
    exit(1)
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
}

func format(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

let devNull = try! FileDescriptor.open("/dev/null", O_RDWR)

func start(_ arguments: [String], stderr: FileDescriptor = devNull) -> pid_t {
    var request = SpawnRequest(path: arguments[0], arguments: arguments,
                               environment: ProcessInfo.processInfo.environment.map { "\($0)=\($1)" },
                               descriptors: [devNull, devNull, stderr])
    request.newSession = false
    do { return try spawn(request) } catch { fail("cannot start \(arguments[0]): \(error)") }
}

/// Wall time of one run of a command, in milliseconds (spawn to reap).
func timeOnce(_ arguments: [String]) -> Double {
    let begin = Moment.now()
    let pid = start(arguments)
    _ = Processes.wait(for: pid)
    return Double((Moment.now() - begin).nanoseconds) / 1e6
}

func freePort() -> UInt16 {
    do {
        let lock = try PortLock.acquire(address: 0x7f00_0001, port: 0, inheritable: false)
        defer { lock.release() }
        return try lock.boundPort()
    } catch { fail("no free port: \(error)") }
}

func statusValue(of pid: pid_t, _ field: String) -> Double {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return 0 }
    let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
    return parts.count > 1 ? Double(parts[1]) ?? 0 : 0
}

/// Nanoseconds the process has run on a CPU (/proc/PID/schedstat).
func cpuNanoseconds(of pid: pid_t) -> Double {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/schedstat", encoding: .utf8)) ?? "0"
    return Double(text.split(separator: " ").first ?? "0") ?? 0
}

/// Reads "pid ns" announcements from the bench worker's FIFO.
final class Announcements {
    let fd: Int32
    var pending = ""

    init(path: String) {
        mkfifo(path, 0o600)
        fd = open(path, O_RDWR | O_CLOEXEC)  // read-write: never sees EOF between writers
        if fd < 0 { fail("cannot open the FIFO \(path)") }
    }

    /// The next announcement, or nil after `seconds`.
    func next(seconds: Double = 10) -> (pid: pid_t, ns: Int64)? {
        let deadline = Moment.now() + .milliseconds(Int64(seconds * 1000))
        while true {
            if let newline = pending.firstIndex(of: "\n") {
                let line = pending[..<newline]
                pending.removeSubrange(...newline)
                let parts = line.split(separator: " ")
                if parts.count == 2, let pid = pid_t(parts[0]), let ns = Int64(parts[1]) { return (pid, ns) }
                continue
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let wait = deadline.millisecondsFrom(Moment.now())
            if wait == 0 || poll(&poller, 1, wait) <= 0 { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { pending += String(decoding: buffer[0..<n], as: UTF8.self) }
        }
    }
}

/// A supervisor on a generated config, in a scratch directory.
final class BenchSupervisor {
    let directory: String
    private(set) var pid: pid_t
    let announcements: Announcements

    init(solo: String, tools: String, pool: String, environment: String = "", command: String? = nil, queue: String = "none", maxJobs: String = "none") {
        directory = scratchDirectory()
        announcements = Announcements(path: directory + "/announce")
        let config = """
            [global]
            lock_port = \(freePort())
            state_dir = \(directory)/state

            [bench]
            command = \(command ?? tools + "/worker")
            queue = \(queue == "none" || queue.hasPrefix("redis://") ? queue : "sqlite:" + directory + "/" + queue)
            environment = BENCH_FIFO=\(directory)/announce\(environment)
            max_jobs = \(maxJobs)
            \(pool)
            """
        _ = FileManager.default.createFile(atPath: directory + "/solo.conf", contents: config.data(using: .utf8))
        pid = 0
        pid = run(solo)
    }

    private func run(_ solo: String) -> pid_t {
        let log = try! Files.openForAppend(directory + "/solo.log")
        defer { log.close() }
        return start([solo, "run", directory + "/solo.conf"], stderr: log)
    }

    /// SIGKILL, as a crash would; `again` then starts a new supervisor on the same config.
    func kill9() {
        kill(pid, SIGKILL)
        _ = Processes.wait(for: pid)
    }

    func again(_ solo: String) { pid = run(solo) }

    func stop() {
        kill(pid, SIGTERM)
        _ = Processes.wait(for: pid)
        try? FileManager.default.removeItem(atPath: directory)
    }

    var guardian: pid_t? {
        ProcFS.children(of: pid).first { (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) == "solo-guardian\n" }
    }
}

// MARK: - the measurements

func heldPortCheck(_ options: Options) -> [(String, [Double])] {
    let port = freePort()
    let holder = start([options.solo, "-port=\(port)", "sleep", "600"])
    defer { kill(holder, SIGKILL); _ = Processes.wait(for: holder) }
    let deadline = Moment.now() + .seconds(5)
    while !((try? PortLock.isHeld(address: 0x7f00_0001, port: port)) ?? false) {
        if Moment.now() > deadline { fail("the holder never took port \(port)") }
        usleep(1000)
    }
    let perlSolo = "use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) or die; "
        + "bind($s, pack_sockaddr_in(\(port), inet_aton('127.0.0.1'))) or die \"solo(\(port)): $!\\n\"; exec @ARGV"
    let candidates: [(String, [String])] = [
        ("`true` (process start floor)", ["/bin/true"]),
        ("`perl -e 1`", ["/usr/bin/perl", "-e", "1"]),
        ("perl bind, as the original solo", ["/usr/bin/perl", "-e", perlSolo, "true"]),
        ("C bind (bench/bindcheck.c)", [options.tools + "/bindcheck", "\(port)", "true"]),
        ("**`solo -port`** (static release)", [options.solo, "-port=\(port)", "true"]),
    ]
    var samples = [[Double]](repeating: [], count: candidates.count)
    let runs = options.quick ? 100 : 500
    for _ in 0..<20 { for candidate in candidates { _ = timeOnce(candidate.1) } }  // warm-up
    for _ in 0..<runs {
        for (index, candidate) in candidates.enumerated() { samples[index].append(timeOnce(candidate.1)) }
    }
    return zip(candidates.map(\.0), samples).map { ($0, $1) }
}

func replacementLatency(_ options: Options) -> [Double] {
    let supervisor = BenchSupervisor(solo: options.solo, tools: options.tools, pool: "backoff_min = 10ms\nbackoff_reset = 10ms")
    defer { supervisor.stop() }
    guard var current = supervisor.announcements.next() else { fail("the first worker never started") }
    var latencies: [Double] = []
    for _ in 0..<(options.quick ? 50 : 300) {
        usleep(20_000)  // longer than backoff_reset: every death is a first death, restarted at once
        let killed = Moment.now().nanoseconds
        kill(current.pid, SIGKILL)
        guard let next = supervisor.announcements.next() else { fail("no replacement after a kill") }
        latencies.append(Double(next.ns - killed) / 1e6)
        current = next
    }
    return latencies
}

struct IdleFigures {
    var supervisorRSS: Double, guardianRSS: Double, idleCPU: Double, idleSwitches: Double
    var sampledCPU: Double
}

func hundredWorkers(_ options: Options) -> IdleFigures {
    let seconds: UInt32 = options.quick ? 3 : 10
    func measure(_ pool: String) -> (rss: Double, guardian: Double, cpu: Double, switches: Double) {
        let supervisor = BenchSupervisor(solo: options.solo, tools: options.tools, pool: "workers = 100\n" + pool)
        defer { supervisor.stop() }
        for _ in 0..<100 where supervisor.announcements.next() == nil { fail("not all 100 workers started") }
        sleep(1)
        let cpu0 = cpuNanoseconds(of: supervisor.pid)
        let switches0 = statusValue(of: supervisor.pid, "voluntary_ctxt_switches") + statusValue(of: supervisor.pid, "nonvoluntary_ctxt_switches")
        sleep(seconds)
        let cpu = (cpuNanoseconds(of: supervisor.pid) - cpu0) / 1e6
        let switches = statusValue(of: supervisor.pid, "voluntary_ctxt_switches") + statusValue(of: supervisor.pid, "nonvoluntary_ctxt_switches") - switches0
        let guardian = supervisor.guardian.map { statusValue(of: $0, "VmRSS") } ?? 0
        return (statusValue(of: supervisor.pid, "VmRSS") / 1024, guardian / 1024, cpu, switches)
    }
    let idle = measure("")
    let sampled = measure("memory_limit = 1G\nmemory_interval = 1s")
    return IdleFigures(supervisorRSS: idle.rss, guardianRSS: idle.guardian, idleCPU: idle.cpu / Double(seconds),
                       idleSwitches: idle.switches, sampledCPU: sampled.cpu / Double(seconds))
}

func restartCost(_ options: Options) -> (restarts: Int, seconds: Double, cpuPerRestart: Double) {
    let supervisor = BenchSupervisor(solo: options.solo, tools: options.tools,
                                     pool: "workers = 4\nbackoff_min = 10ms\nbackoff_reset = 10ms", environment: ", BENCH_EXIT_MS=50")
    defer { supervisor.stop() }
    for _ in 0..<4 where supervisor.announcements.next() == nil { fail("workers did not start") }
    let seconds = options.quick ? 3.0 : 10.0
    let cpu0 = cpuNanoseconds(of: supervisor.pid)
    let end = Moment.now() + .milliseconds(Int64(seconds * 1000))
    var restarts = 0
    while Moment.now() < end {
        if supervisor.announcements.next(seconds: 1) != nil { restarts += 1 }
    }
    let cpu = (cpuNanoseconds(of: supervisor.pid) - cpu0) / 1e6
    return (restarts, seconds, cpu / Double(max(restarts, 1)))
}

// MARK: - report

/// A million jobs (fewer with --quick) through two workers recycled every 100 to 200 jobs: the
/// supervisor's RSS at each tenth of the run, and the recycles.
func soak(_ options: Options, jobs: Int) -> (rss: [(done: Int, anon: Double, file: Double)], recycles: Int, seconds: Double) {
    let supervisor = BenchSupervisor(solo: options.solo, tools: options.tools,
                                     pool: "workers = 2\njob_timeout = none\nkeep_done = 10s", command: options.tools + "/feed-worker",
                                     queue: "queue.db", maxJobs: "100-200")
    defer { supervisor.stop() }
    let store = queueFile(of: supervisor)
    usleep(500_000)
    let batch = 100_000
    let begin = Moment.now()
    var pushed = 0
    var samples: [(Int, Double, Double)] = []
    var finished = 0
    while finished < jobs {
        // Keep at most a batch waiting, so the file stays the size a busy queue has.
        let unfinished = (try? store.unfinished(queue: "bench")) ?? 0
        if unfinished < batch / 2 && pushed < jobs {
            let count = min(batch, jobs - pushed)
            do { try store.push(queue: "bench", (0..<count).map { _ in NewJob(payload: samplePayload) }) } catch { fail("push: \(error)") }
            pushed += count
        }
        finished = pushed - ((try? store.unfinished(queue: "bench")) ?? 0)
        if finished >= (samples.count + 1) * jobs / 10 {
            samples.append((finished, statusValue(of: supervisor.pid, "RssAnon") / 1024, statusValue(of: supervisor.pid, "RssFile") / 1024))
        }
        usleep(100_000)
    }
    let seconds = (Moment.now() - begin).seconds
    let log = (try? String(contentsOfFile: supervisor.directory + "/solo.log", encoding: .utf8)) ?? ""
    let recycles = log.components(separatedBy: "recycling worker").count - 1
    return (samples, recycles, seconds)
}

func machine() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?"
    let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?.split(separator: "\n").first?
        .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) } ?? 0
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: &name.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    return "\(model), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores, \(format(memory / 1048576, 0)) GiB, Linux \(release)"
}

let options = parseOptions()
guard FileManager.default.isExecutableFile(atPath: options.solo) else { fail("no solo at \(options.solo) (run bench/run)") }
guard FileManager.default.isExecutableFile(atPath: options.tools + "/worker") else { fail("no bench worker in \(options.tools) (run bench/run)") }

print("machine: \(machine())\n")

if options.parts.contains("core") {
    let checks = heldPortCheck(options)
    print("| held-port check (\(checks[0].1.count) runs each, interleaved) | median ms | p90 ms |")
    print("|---|---|---|")
    for (name, samples) in checks { print("| \(name) | \(format(percentile(samples, 0.5))) | \(format(percentile(samples, 0.9))) |") }
    let cMedian = percentile(checks[3].1, 0.5), soloMedian = percentile(checks[4].1, 0.5)
    print("\nsolo / C: \(format(soloMedian / cMedian))x (target: within 1.5x)\n")

    let latencies = replacementLatency(options)
    print("| worker death → replacement running (\(latencies.count) SIGKILLs) | ms |")
    print("|---|---|")
    print("| median | \(format(latencies.isEmpty ? 0 : percentile(latencies, 0.5), 3)) |")
    print("| p90 | \(format(percentile(latencies, 0.9), 3)) |")
    print("| p99 | \(format(percentile(latencies, 0.99), 3)) |\n")

    let idle = hundredWorkers(options)
    print("| 100 workers | value |")
    print("|---|---|")
    print("| supervisor RSS | \(format(idle.supervisorRSS, 1)) MiB |")
    print("| guardian RSS (forked, mostly shared pages) | \(format(idle.guardianRSS, 1)) MiB |")
    print("| supervisor CPU while idle | \(format(idle.idleCPU, 3)) ms/s, \(format(idle.idleSwitches, 0)) context switches in the window |")
    print("| supervisor CPU with memory_limit (tree RSS of 100 workers sampled every 1 s) | \(format(idle.sampledCPU, 3)) ms/s |\n")

    let churn = restartCost(options)
    print("| workers exiting every 50 ms (4 workers, \(format(churn.seconds, 0)) s) | value |")
    print("|---|---|")
    print("| restarts | \(churn.restarts) (\(format(Double(churn.restarts) / churn.seconds, 0))/s) |")
    print("| supervisor CPU per restart | \(format(churn.cpuPerRestart, 3)) ms |\n")
}

if options.parts.contains("kill") { killReport(options) }
if options.parts.contains("peers") { peersReport(options) }
if options.parts.contains("redis") { redisReport(options) }
if options.parts.contains("recycle") { recycleReport(options) }

if options.parts.contains("soak") {
    let jobs = options.quick ? 200_000 : 1_000_000
    let run = soak(options, jobs: jobs)
    print("| soak: \(jobs) jobs, 2 C workers recycled every 100-200 jobs (\(run.recycles) recycles, \(format(run.seconds, 0)) s) | supervisor RSS | of which anonymous | of which file-backed |")
    print("|---|---|---|---|")
    for sample in run.rss {
        print("| after \(sample.done) jobs | \(format(sample.anon + sample.file, 1)) MiB | \(format(sample.anon, 1)) MiB | \(format(sample.file, 1)) MiB |")
    }
    print("")
}

if options.parts.contains("queue") {
    let runs = options.quick ? 1 : 3
    func median(_ measure: () -> Double) -> Double { percentile((0..<runs).map { _ in measure() }, 0.5) }
    let feedJobs = options.quick ? 20_000 : 100_000
    let c = options.tools + "/feed-worker", python = ["/usr/bin/env", "python3", options.tools + "/feed-worker.py"]
    let pythonCommand = "python3 " + options.tools + "/feed-worker.py"
    // Without and with prefetch, alternating, so that both see the same machine.
    func alternating(_ command: String) -> (plain: Double, ahead: Double) {
        var plain: [Double] = [], ahead: [Double] = []
        for _ in 0..<runs {
            plain.append(feedThroughput(options, command: command, jobs: feedJobs).jobsPerSecond)
            ahead.append(feedThroughput(options, command: command, jobs: feedJobs, pool: "prefetch = 1\n").jobsPerSecond)
        }
        return (percentile(plain, 0.5), percentile(ahead, 0.5))
    }
    let (feedC, aheadC) = alternating(c)
    let rawC = median { rawExchange(options, [c], jobs: feedJobs) }
    let perJobC = median { processPerJob([c], jobs: options.quick ? 500 : 3000) }
    let (feedPython, aheadPython) = alternating(pythonCommand)
    let rawPython = median { rawExchange(options, python, jobs: feedJobs) }
    let perJobPython = median { processPerJob(python, jobs: options.quick ? 100 : 400) }
    print("| two workers, \(feedJobs) jobs (median of \(runs)) | C worker | Python worker |")
    print("|---|---|---|")
    print("| **solo feed mode** (SQLite in WAL, outcomes committed in batches) | \(format(feedC, 0)) jobs/s | \(format(feedPython, 0)) jobs/s |")
    print("| the same worker started once per job | \(format(perJobC, 0)) jobs/s | \(format(perJobPython, 0)) jobs/s |")
    print("| **feed / process per job** | **\(format(feedC / perJobC, 0))x** | **\(format(feedPython / perJobPython, 0))x** |")
    print("| raw limit: lines over pipes, no queue (bench/pingpong.c) | \(format(rawC, 0)) jobs/s | \(format(rawPython, 0)) jobs/s |")
    print("| solo's cost per job against the raw limit | \(format(rawC / feedC))x | \(format(rawPython / feedPython))x |")
    print("| **solo feed mode, `prefetch = 1`** (the next job written ahead, runs alternating with the first row) | \(format(aheadC, 0)) jobs/s | \(format(aheadPython, 0)) jobs/s |")
    print("| prefetch's cost per job against the raw limit | \(format(rawC / aheadC))x | \(format(rawPython / aheadPython))x |\n")
    printLimitsCost(store: "SQLite", jobs: feedJobs, pairs: options.quick ? 2 : 5, cpu: "supervisor") { feedThroughput(options, command: c, jobs: feedJobs, pool: $0) }

    let lines = options.quick ? 100_000 : 1_000_000
    let push = median { pushRate(options, lines: lines) }
    print("| `solo push` of \(lines) lines from stdin, one transaction (median of \(runs)) | \(format(push, 0)) jobs/s |")
    print("|---|---|")
    let (unique, plain) = uniquePushRates(options, runs: runs, plainLines: lines, plain: push)
    print("| `solo push --unique-payload` of \(uniqueLines) lines, a distinct key each (median of \(runs)) | \(format(unique, 0)) jobs/s (plain push of the same lines: \(format(plain, 0))) |")
    let small = reserveTime(waiting: 1000, rounds: 2000)
    let limited = reserveTime(waiting: 1000, rounds: 2000, limits: idleLimits)
    let large = reserveTime(waiting: options.quick ? 100_000 : 1_000_000, rounds: 2000)
    print("| reserve one job, 1,000 waiting (median) | \(format(small.reserve, 1)) µs (outcome: \(format(small.finish, 1)) µs) |")
    print("| reserve one job, 1,000 waiting, under \(idleLimitKeys.map { "`\($0)`" }.joined(separator: ", ")) (median) | \(format(limited.reserve, 1)) µs |")
    print("| reserve one job, \(options.quick ? "100,000" : "1,000,000") waiting (median) | \(format(large.reserve, 1)) µs (outcome: \(format(large.finish, 1)) µs) |")
}
