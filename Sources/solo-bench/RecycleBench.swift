import Foundation
import Glibc
import SoloKit

// The recycle part (bench/run --only recycle): what recycling costs a pool of PHP workers, and
// how far a leaking worker gets past memory_limit.

/// Jobs per second through two PHP workers that boot for `bootMs` before `ready`, recycled
/// every `maxJobs` jobs ("none": never).
func recycleThroughput(_ options: Options, script: String, bootMs: Int, maxJobs: String, jobs: Int) -> Double {
    feedThroughput(options, command: "php " + script, jobs: jobs, environment: ", BOOT_MS=\(bootMs)", maxJobs: maxJobs)
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
    let jobs = options.quick ? 20_000 : 30_000
    print("| two PHP workers, \(jobs) jobs, side by side in one run | no recycling | max_jobs = 200-400 | ratio (goal ≥ 0.95) |")
    print("|---|---|---|---|")
    for boot in [0, 300] {
        // Interleaved, so that a busy neighbour weighs on both alike.
        var plain: [Double] = [], recycled: [Double] = []
        for _ in 0..<(options.quick ? 1 : 3) {
            plain.append(recycleThroughput(options, script: script, bootMs: boot, maxJobs: "none", jobs: jobs))
            recycled.append(recycleThroughput(options, script: script, bootMs: boot, maxJobs: "200-400", jobs: jobs))
        }
        let a = percentile(plain, 0.5), b = percentile(recycled, 0.5)
        let what = boot == 0 ? "PHP worker (boots in about 20 ms)" : "PHP worker sleeping \(boot) ms before ready"
        print("| \(what) | \(format(a, 0)) jobs/s | \(format(b, 0)) jobs/s | **\(format(b / a))** |")
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
