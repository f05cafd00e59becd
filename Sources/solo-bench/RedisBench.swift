import Foundation
import Glibc
import SoloKit

// Feed mode through Redis (bench/redis): solo with two workers on a Redis queue, next to the
// same Python worker popping the same jobs from Redis by itself (bench/redis-worker.py with
// redis-py: BLMOVE to a processing list, LREM when done), two of them, as users run today.

/// A redis-server of the benchmark's own, without persistence, on a free loopback port.
final class BenchRedis {
    let port = freePort()
    let directory = scratchDirectory()
    let pid: pid_t

    init(path: String) {
        pid = start([path, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory])
        let deadline = Moment.now() + .seconds(10)
        while (try? client().call(RedisCommand("PING"))) == nil {
            if Moment.now() > deadline { fail("redis-server did not start on port \(port)") }
            usleep(10_000)
        }
    }

    var url: String { "redis://127.0.0.1:\(port)/0" }

    func client() throws -> RedisClient { try RedisClient(url: RedisURL(host: "127.0.0.1", port: port)) }

    func integer(_ words: String...) -> Int {
        Int((try? client().call(RedisCommand(words)))?.integer ?? -1)
    }

    func stop() {
        kill(pid, SIGTERM)
        _ = Processes.wait(for: pid)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A run through solo with two workers on a Redis queue filled beforehand, from the
/// supervisor's start to the last outcome written; `pool`: more keys for the pool.
func redisFeedThroughput(_ options: Options, redis: BenchRedis, command: String, jobs: Int, pool: String = "") -> FeedRun {
    _ = try? redis.client().call(RedisCommand("FLUSHALL"))
    do {
        let queue = try RedisQueue(url: RedisURL(host: "127.0.0.1", port: redis.port))
        let writer = try queue.makeWriter(queue: "bench", template: NewJob(payload: []))
        for _ in 0..<jobs { try samplePayload.withUnsafeBytes { try writer.add($0) } }
        try writer.commit()
    } catch { fail("filling the Redis queue: \(error)") }
    let begin = Moment.now(), serverCPU = cpuNanoseconds(of: redis.pid)
    let supervisor = BenchSupervisor(solo: options.solo, tools: options.tools,
                                     pool: "workers = 2\njob_timeout = none\nbackoff_min = 10ms\nbackoff_reset = 10ms\n" + pool,
                                     command: command, queue: redis.url)
    defer { supervisor.stop() }
    while redis.integer("ZCARD", "solo:{bench}:done") < jobs {
        if Moment.now() - begin > .seconds(600) { fail("solo did not finish \(jobs) Redis jobs in 10 minutes") }
        usleep(5_000)
    }
    let cpu = cpuNanoseconds(of: supervisor.pid) + cpuNanoseconds(of: redis.pid) - serverCPU
    return FeedRun(jobsPerSecond: Double(jobs) / (Moment.now() - begin).seconds, cpuPerJob: cpu / 1000 / Double(jobs))
}

/// Jobs per second with two Python workers popping their own jobs (bench/redis-worker.py).
func redisSelfPop(_ options: Options, redis: BenchRedis, python: String, jobs: Int) -> Double {
    _ = try? redis.client().call(RedisCommand("FLUSHALL"))
    do {
        let client = try redis.client()
        for start in stride(from: 0, to: jobs, by: 1000) {
            var command = RedisCommand("RPUSH", "bench:queue")
            for _ in start..<min(jobs, start + 1000) { command.append(samplePayload) }
            try client.call(command)
        }
    } catch { fail("filling the Redis list: \(error)") }
    let begin = Moment.now()
    let workers = (0..<2).map { _ in start([python, options.tools + "/redis-worker.py", "\(redis.port)"], stderr: .standardError) }
    // Done when the list is empty and neither worker holds a job.
    while true {
        let left = redis.integer("LLEN", "bench:queue")
        let held = workers.map { redis.integer("LLEN", "bench:processing:\($0)") }.reduce(0, +)
        if left == 0 && held == 0 { break }
        if Moment.now() - begin > .seconds(600) { fail("the Python workers did not finish in 10 minutes") }
        usleep(5_000)
    }
    let seconds = (Moment.now() - begin).seconds
    for worker in workers { kill(worker, SIGTERM); _ = Processes.wait(for: worker) }
    return Double(jobs) / seconds
}

func redisReport(_ options: Options) {
    guard let server = options.redisServer, let python = options.python else { fail("the Redis part needs --redis-server and --python (run bench/redis)") }
    let redis = BenchRedis(path: server)
    defer { redis.stop() }
    let runs = options.quick ? 1 : 3
    func median(_ measure: () -> Double) -> Double { percentile((0..<runs).map { _ in measure() }, 0.5) }
    let jobs = options.quick ? 10_000 : 50_000
    let pythonCommand = "python3 " + options.tools + "/feed-worker.py"
    let soloC = median { redisFeedThroughput(options, redis: redis, command: options.tools + "/feed-worker", jobs: jobs).jobsPerSecond }
    let soloPython = median { redisFeedThroughput(options, redis: redis, command: pythonCommand, jobs: jobs).jobsPerSecond }
    let selfPop = median { redisSelfPop(options, redis: redis, python: python, jobs: jobs) }
    print("| two workers, \(jobs) jobs through Redis on loopback (median of \(runs)) | jobs/s |")
    print("|---|---|")
    print("| **solo feed mode, Redis queue**, C worker | \(format(soloC, 0)) |")
    print("| **solo feed mode, Redis queue**, Python worker (bench/feed-worker.py) | \(format(soloPython, 0)) |")
    print("| Python workers popping their own jobs (redis-py, BLMOVE + LREM) | \(format(selfPop, 0)) |")
    print("| **solo / self-popping, Python** | **\(format(soloPython / selfPop))x** |\n")
    printLimitsCost(store: "Redis", jobs: jobs, pairs: options.quick ? 2 : 5, cpu: "supervisor + redis-server") { redisFeedThroughput(options, redis: redis, command: options.tools + "/feed-worker", jobs: jobs, pool: $0) }
    let lines = options.quick ? 100_000 : 1_000_000
    let push = median {
        _ = try? redis.client().call(RedisCommand("FLUSHALL"))
        return pushRate(options, lines: lines, queue: "queue = \(redis.url)")
    }
    print("| `solo push` of \(lines) lines to Redis (transactions of 10,000, median of \(runs)) | \(format(push, 0)) jobs/s |")
    print("|---|---|")
    let (unique, plain) = uniquePushRates(options, runs: runs, queue: "queue = \(redis.url)",
                                          before: { _ = try? redis.client().call(RedisCommand("FLUSHALL")) }, plainLines: lines, plain: push)
    print("| `solo push --unique-payload` of \(uniqueLines) lines to Redis, a distinct key each (median of \(runs)) | \(format(unique, 0)) jobs/s (plain push of the same lines: \(format(plain, 0))) |\n")
}
