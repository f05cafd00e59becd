import Foundation
import Glibc
import SoloKit

// The recycle part (bench/run --only recycle): what recycling costs a pool of PHP workers, and
// how far a leaking worker gets past memory_limit.

/// Jobs per second through two PHP workers that boot for `bootMs` before `ready` and spend
/// `jobMs` on each job, recycled every `maxJobs` jobs ("none": never) with `spare` warm
/// replacements; timed from when both have booted.
func recycleThroughput(_ options: Options, script: String, bootMs: Int, jobMs: Int, maxJobs: String, spare: Int, jobs: Int) -> Double {
    feedThroughput(options, command: "php " + script, jobs: jobs, environment: ", BOOT_MS=\(bootMs), JOB_MS=\(jobMs), ANNOUNCE=1",
                   maxJobs: maxJobs, pool: "spare = \(spare)", booted: 2).jobsPerSecond
}

/// The highest peak RSS of any worker of a pool that leaks `leakKB` a job at full speed.
func leakPeak(_ options: Options, script: String, leakKB: Int, limit: String, poll: Bool, jobs: Int) -> (peak: Double, recycles: Int) {
    let peaks = scratchDirectory() + "/peaks"
    let supervisor = BenchSupervisor(solo: options.solo, tools: options.tools,
                                     pool: "workers = 2\njob_timeout = none\nmemory_limit = \(limit)\nstop_timeout = 5s",
                                     environment: ", LEAK_KB=\(leakKB), PEAK_FILE=\(peaks)\(poll ? ", POLL=1" : "")",
                                     command: "php " + script, queue: poll ? "none" : "queue.db")
    if poll {
        // Poll mode makes up its own jobs: run until a number of recycles.
        let end = Moment.now() + .seconds(options.quick ? 5 : 15)
        while Moment.now() < end { usleep(100_000) }
    } else {
        let store = queueFile(of: supervisor)
        do { try store.push(queue: "bench", (0..<jobs).map { _ in NewJob(payload: samplePayload) }) } catch { fail("push: \(error)") }
        while ((try? store.unfinished(queue: "bench")) ?? 1) > 0 { usleep(20_000) }
    }
    supervisor.stop()
    let figures = ((try? String(contentsOfFile: peaks, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Double($0) }
    try? FileManager.default.removeItem(atPath: Path.directory(of: peaks))
    return ((figures.max() ?? 0) / 1024, max(0, figures.count - 2))
}

func recycleReport(_ options: Options) {
    guard output(of: ["/usr/bin/env", "php", "-m"]).contains("pcntl") else { fail("the recycle part needs php-cli with pcntl (apt-get install -y php-cli)") }
    let script = options.tools + "/php-worker.php"
    print("| two PHP workers, side by side in one run | no recycling | max_jobs = 200-400, spare = 1 | max_jobs = 200-400, spare = 0 | ratio spare = 1 (goal ≥ 0.95) | ratio spare = 0 |")
    print("|---|---|---|---|---|---|")
    // No-op jobs (the issue's setting), and jobs that wait 5 ms as a queue job waits on its
    // database or an HTTP call: then a worker's 200-400 jobs last 1-2 s, several 300 ms boots.
    for (jobMs, jobs) in [(0, options.quick ? 20_000 : 30_000), (5, options.quick ? 2_000 : 4_000)] {
        for boot in [0, 300] {
            // Interleaved, so that a busy neighbour weighs on all alike.
            var plain: [Double] = [], warm: [Double] = [], cold: [Double] = []
            for _ in 0..<(options.quick ? 1 : 3) {
                plain.append(recycleThroughput(options, script: script, bootMs: boot, jobMs: jobMs, maxJobs: "none", spare: 1, jobs: jobs))
                warm.append(recycleThroughput(options, script: script, bootMs: boot, jobMs: jobMs, maxJobs: "200-400", spare: 1, jobs: jobs))
                cold.append(recycleThroughput(options, script: script, bootMs: boot, jobMs: jobMs, maxJobs: "200-400", spare: 0, jobs: jobs))
            }
            let a = percentile(plain, 0.5), b = percentile(warm, 0.5), c = percentile(cold, 0.5)
            let worker = boot == 0 ? "boots in about 20 ms" : "sleeps \(boot) ms before ready"
            let job = jobMs == 0 ? "no-op jobs" : "jobs of usleep(\(jobMs) ms)"
            print("| \(jobs) \(job), worker \(worker) | \(format(a, 0)) jobs/s | \(format(b, 0)) jobs/s | \(format(c, 0)) jobs/s | **\(format(b / a))** | \(format(c / a)) |")
        }
    }
    print("")
    let leakJobs = options.quick ? 10_000 : 40_000
    let feed = leakPeak(options, script: script, leakKB: 256, limit: "96M", poll: false, jobs: leakJobs)
    let poll = leakPeak(options, script: script, leakKB: 256, limit: "96M", poll: true, jobs: leakJobs)
    print("| PHP worker leaking 256 KiB a job at full speed, memory_limit = 96M (goal ≤ 96.25 MiB) | highest worker RSS | recycles |")
    print("|---|---|---|")
    print("| feed mode, \(leakJobs) jobs | \(format(feed.peak, 2)) MiB | \(feed.recycles) |")
    print("| poll mode, \(options.quick ? 5 : 15) s | \(format(poll.peak, 2)) MiB | \(poll.recycles) |\n")
}
