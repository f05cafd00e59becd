import Foundation
import Glibc
import SoloKit

// The peers, side by side: solo, supervisord and runit running the same bench worker (bench/
// worker.c, which announces "pid ns" on a FIFO as it starts) on the same machine. bench/peers
// installs supervisord (PyPI) and runit (Debian) and runs this part.

/// A supervisor under comparison, running `workers` copies of the bench worker.
protocol PeerSupervisor: AnyObject {
    var announcements: Announcements { get }
    /// The processes that are the supervisor (runit: runsvdir and a runsv per worker).
    var processes: [pid_t] { get }
    func stop()
}

extension BenchSupervisor: PeerSupervisor {
    /// solo and its guardian.
    var processes: [pid_t] { [pid] + (guardian.map { [$0] } ?? []) }
}

/// Proportional set size in KiB (/proc/PID/smaps_rollup): shared pages split between the
/// processes that map them, so that a hundred runsv are not charged a hundred libcs.
func proportionalKiB(of pid: pid_t) -> Double {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)) ?? ""
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Pss:") }) else { return 0 }
    return Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
}

/// supervisord in the foreground, one program with `numprocs` copies, restarted at once.
final class Supervisord: PeerSupervisor {
    let directory = scratchDirectory()
    let announcements: Announcements
    let pid: pid_t

    init(path: String, tools: String, workers: Int, exitMilliseconds: Int?) {
        announcements = Announcements(path: directory + "/announce")
        let exit = exitMilliseconds.map { ",BENCH_EXIT_MS=\"\($0)\"" } ?? ""
        let config = """
            [supervisord]
            nodaemon = true
            logfile = \(directory)/supervisord.log
            pidfile = \(directory)/supervisord.pid
            childlogdir = \(directory)

            [program:bench]
            command = \(tools)/worker
            numprocs = \(workers)
            process_name = %(program_name)s_%(process_num)03d
            autorestart = true
            startsecs = 0
            startretries = 1000000
            stopsignal = KILL
            stdout_logfile = NONE
            stderr_logfile = NONE
            environment = BENCH_FIFO="\(directory)/announce"\(exit)
            """
        _ = FileManager.default.createFile(atPath: directory + "/supervisord.conf", contents: config.data(using: .utf8))
        pid = start([path, "-n", "-c", directory + "/supervisord.conf"])
    }

    var processes: [pid_t] { [pid] }

    func stop() {
        kill(pid, SIGTERM)
        _ = Processes.wait(for: pid)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// runsvdir over a service directory per worker, each `run` the bench worker itself (no shell).
final class Runit: PeerSupervisor {
    let directory = scratchDirectory()
    let announcements: Announcements
    let pid: pid_t

    init(path: String, tools: String, workers: Int, exitMilliseconds: Int?) {
        announcements = Announcements(path: directory + "/announce")
        for n in 0..<workers {
            let service = directory + "/sv/bench\(n)"
            try? FileManager.default.createDirectory(atPath: service, withIntermediateDirectories: true)
            symlink(tools + "/worker", service + "/run")
        }
        var environment = ["PATH=/usr/bin:/bin", "BENCH_FIFO=\(directory)/announce"]
        if let exitMilliseconds { environment.append("BENCH_EXIT_MS=\(exitMilliseconds)") }
        var request = SpawnRequest(path: path, arguments: [path, directory + "/sv"], environment: environment,
                                   descriptors: [devNull, devNull, devNull])
        request.newSession = false
        do { pid = try spawn(request) } catch { fail("cannot start runsvdir: \(error)") }
    }

    var processes: [pid_t] { [pid] + ProcFS.children(of: pid) }

    /// runsvdir passes SIGHUP on to its runsv as TERM, which stop their services and exit.
    func stop() {
        let runsv = ProcFS.children(of: pid)
        let services = runsv.flatMap { ProcFS.children(of: $0) }
        kill(pid, SIGHUP)
        _ = Processes.wait(for: pid)
        let deadline = Moment.now() + .seconds(5)
        while (runsv + services).contains(where: { kill($0, 0) == 0 }) && Moment.now() < deadline { usleep(10_000) }
        for left in runsv + services where kill(left, 0) == 0 { kill(left, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

struct PeerFigures {
    var name: String
    var latency: [Double]
    var restartsPerSecond: Double
    var cpuPerRestart: Double
    var cpuPercent: Double
    var rssMiB: Double
}

/// Each measurement for one supervisor: `make(workers, exit)` starts it.
func measurePeer(_ name: String, quick: Bool, _ make: (Int, Int?) -> PeerSupervisor) -> PeerFigures {
    // A worker that has run for over a second dies: the time until its replacement runs.
    // (Not sooner: runsv waits a second before restarting what ran less than one.)
    var latency: [Double] = []
    do {
        let supervisor = make(1, nil)
        defer { supervisor.stop() }
        guard var current = supervisor.announcements.next() else { fail("\(name): the first worker never started") }
        for _ in 0..<(quick ? 5 : 20) {
            usleep(1_200_000)
            let killed = Moment.now().nanoseconds
            kill(current.pid, SIGKILL)
            guard let next = supervisor.announcements.next(seconds: 10) else { fail("\(name): no replacement after a kill") }
            latency.append(Double(next.ns - killed) / 1e6)
            current = next
        }
    }
    // Four workers that exit 50 ms after they start, for a while.
    var restarts = 0, seconds = quick ? 3.0 : 10.0, cpu = 0.0
    do {
        let supervisor = make(4, 50)
        defer { supervisor.stop() }
        for _ in 0..<4 where supervisor.announcements.next() == nil { fail("\(name): the workers did not start") }
        let processes = supervisor.processes
        let cpu0 = processes.map(cpuNanoseconds).reduce(0, +)
        let begin = Moment.now()
        let end = begin + .milliseconds(Int64(seconds * 1000))
        while Moment.now() < end { if supervisor.announcements.next(seconds: 1) != nil { restarts += 1 } }
        seconds = (Moment.now() - begin).seconds
        cpu = (processes.map(cpuNanoseconds).reduce(0, +) - cpu0) / 1e6
    }
    // A hundred workers: the supervisor's memory.
    var rss = 0.0
    do {
        let supervisor = make(100, nil)
        defer { supervisor.stop() }
        for _ in 0..<100 where supervisor.announcements.next(seconds: 30) == nil { fail("\(name): not all 100 workers started") }
        sleep(1)
        rss = supervisor.processes.map(proportionalKiB).reduce(0, +) / 1024
    }
    return PeerFigures(name: name, latency: latency, restartsPerSecond: Double(restarts) / seconds,
                       cpuPerRestart: cpu / Double(max(restarts, 1)), cpuPercent: cpu / 10 / seconds, rssMiB: rss)
}

func peersReport(_ options: Options) {
    guard let supervisord = options.supervisord, let runsvdir = options.runsvdir else {
        fail("--only peers needs --supervisord PATH and --runsvdir PATH (bench/peers installs them)")
    }
    let tools = options.tools
    let figures = [
        measurePeer("**solo**", quick: options.quick) { workers, exit in
            BenchSupervisor(solo: options.solo, tools: tools, pool: "workers = \(workers)\nbackoff_min = 10ms\nbackoff_reset = 10ms",
                            environment: exit.map { ", BENCH_EXIT_MS=\($0)" } ?? "")
        },
        measurePeer("supervisord \(version(of: [supervisord, "--version"]))", quick: options.quick) { workers, exit in
            Supervisord(path: supervisord, tools: tools, workers: workers, exitMilliseconds: exit)
        },
        measurePeer("runit (runsvdir + runsv)", quick: options.quick) { workers, exit in
            Runit(path: runsvdir, tools: tools, workers: workers, exitMilliseconds: exit)
        },
    ]
    let checks = heldPortCheck(options)
    print("| held-port check, the port held by another (\(checks[0].1.count) runs each, interleaved) | median ms | p90 ms |")
    print("|---|---|---|")
    for (name, samples) in checks {
        print("| \(name) | \(format(percentile(samples, 0.5))) | \(format(percentile(samples, 0.9))) |")
    }
    print("")
    print("| same C worker, same machine | death → replacement, median (p90) | restarts/s with 4 workers exiting every 50 ms | CPU per restart | supervisor CPU | memory with 100 workers (PSS) |")
    print("|---|---|---|---|---|---|")
    for f in figures {
        print("| \(f.name) | \(format(percentile(f.latency, 0.5))) ms (\(format(percentile(f.latency, 0.9))) ms) | \(format(f.restartsPerSecond, 0)) | \(format(f.cpuPerRestart, 3)) ms | \(format(f.cpuPercent, 1)) % | \(format(f.rssMiB, 1)) MiB |")
    }
    print("")
}

/// The first line a program prints, for the report.
func version(of command: [String]) -> String {
    output(of: command, errorsToo: true).split(separator: "\n").first.map(String.init) ?? "?"
}
