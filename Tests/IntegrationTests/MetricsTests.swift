import Foundation
import Glibc
import SoloKit
import Testing

struct HTTPFailure: Error, CustomStringConvertible {
    let description: String
}

/// One HTTP request to 127.0.0.1:`port` over a real TCP socket; the whole answer, read to the
/// end (solo closes each connection after its answer). Each read waits 5 s at most. Throws
/// (without failing the test) when the port cannot be reached, so that it can be polled.
func httpRequest(port: UInt16, _ request: String) throws -> (status: Int, head: String, body: String) {
    let attempt = connectLoopback(port)
    guard let socket = attempt.socket else { throw HTTPFailure(description: "connect to 127.0.0.1:\(port): errno \(attempt.error)") }
    defer { close(socket) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let bytes = Array(request.utf8)
    guard send(socket, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw HTTPFailure(description: "send: errno \(errno)") }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(socket, &buffer, buffer.count, 0)
        guard n >= 0 else { throw HTTPFailure(description: "reading the answer: errno \(errno) (a timeout is EAGAIN)") }
        if n == 0 { break }
        answer += buffer[0..<n]
    }
    let text = String(decoding: answer, as: UTF8.self)
    let parts = text.components(separatedBy: "\r\n\r\n")
    let head = parts[0]
    let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, head, parts.dropFirst().joined(separator: "\r\n\r\n"))
}

/// The Prometheus text format, checked as a scraper would: every family announced by HELP and
/// TYPE once, before its samples; every sample `name{labels} value`. Samples by their series.
func parseMetrics(_ text: String) throws -> [String: Double] {
    var samples: [String: Double] = [:]
    var typed: [String: String] = [:]
    for line in text.split(separator: "\n").map(String.init) {
        if line.hasPrefix("# TYPE ") {
            let words = line.split(separator: " ")
            try #require(words.count == 4 && typed[String(words[2])] == nil, "a family typed twice, or a bad TYPE line: \(line)")
            typed[String(words[2])] = String(words[3])
            continue
        }
        if line.hasPrefix("# HELP ") { continue }
        let space = try #require(line.lastIndex(of: " "), "a sample without a value: \(line)")
        let series = String(line[..<space])
        let value = try #require(Double(line[line.index(after: space)...].replacingOccurrences(of: "+Inf", with: "inf")), "not a number: \(line)")
        let name = String(series.prefix { $0 != "{" })
        let family = typed[name] != nil ? name : ["_bucket", "_sum", "_count"].compactMap { suffix in
            name.hasSuffix(suffix) ? String(name.dropLast(suffix.count)) : nil
        }.first { typed[$0] == "histogram" } ?? name
        try #require(typed[family] != nil, "a sample before its TYPE line: \(line)")
        try #require(samples[series] == nil, "a series given twice: \(series)")
        samples[series] = value
    }
    return samples
}

@Suite struct MetricsTests {
    @Test func metricsServeWorkersJobsAndQueuesInPrometheusFormat() throws {
        let scratch = Scratch()
        let port = try freePort(), metricsPort = try freePort()
        scratch.write("work/worker.sh", FeedModeTests.worker(), executable: true)
        scratch.config(port: port, global: "metrics_listen = 127.0.0.1:\(metricsPort)", """
            [feed]
            command = ./worker.sh
            directory = work
            queue = sqlite:queue.db
            workers = 2
            max_jobs = 3-3
            max_attempts = 2
            """)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("metrics at http://127.0.0.1:\(metricsPort)/metrics")
        try supervisor.waitForLog("started worker", count: 2)
        let jobs = (1...10).map { "job\($0)" } + ["always-fail", "always-fail", "retry-me"]
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array((jobs.joined(separator: "\n") + "\n").utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")

        let series = { (name: String) in "\(name){pool=\"feed\"" }
        let queue = "solo_queue_jobs{queue=\"feed\",file=\"\(scratch.file("queue.db"))\""
        var metrics: [String: Double] = [:]
        // Outcomes reach the queue file in batches, a moment after the answers are counted.
        try waitFor("every job answered and its outcome stored, in /metrics") {
            guard let answer = try? httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                  let parsed = try? parseMetrics(answer.body) else { return false }
            metrics = parsed
            return parsed["solo_job_duration_seconds_count{pool=\"feed\"}"] == 14 && parsed[queue + ",state=\"dead\"}"] == 3
        }
        #expect(metrics[series("solo_jobs_total") + ",outcome=\"done\"}"] == 10)
        #expect(metrics[series("solo_jobs_total") + ",outcome=\"failed\"}"] == 2)
        #expect(metrics[series("solo_jobs_total") + ",outcome=\"retried\"}"] == 2)
        #expect(metrics[series("solo_jobs_total") + ",outcome=\"worker_died\"}"] == 0)
        #expect(metrics[series("solo_job_duration_seconds_bucket") + ",le=\"+Inf\"}"] == 14)
        #expect((metrics[series("solo_job_duration_seconds_bucket") + ",le=\"5\"}"] ?? 0) == 14, "cumulative buckets")
        #expect((metrics[series("solo_job_duration_seconds_sum") + "}"] ?? -1) >= 0)
        // 14 answers with a limit of 3 jobs per worker: 4 recycles at least.
        let recycled = metrics[series("solo_worker_exits_total") + ",reason=\"job_limit\"}"] ?? 0
        #expect(recycled >= 4)
        #expect((metrics[series("solo_worker_starts_total") + "}"] ?? 0) >= 2 + recycled)
        #expect(metrics[series("solo_worker_exits_total") + ",reason=\"died\"}"] == 0)
        #expect(metrics[series("solo_workers_wanted") + "}"] == 2)
        #expect(metrics[queue + ",state=\"ready\"}"] == 0)
        // Every hand-out to a worker waited a measured time in the queue.
        #expect(metrics["solo_queue_wait_seconds_count{pool=\"feed\",queue=\"feed\"}"] == 14)
        #expect((metrics["solo_queue_wait_seconds_sum{pool=\"feed\",queue=\"feed\"}"] ?? -1) >= 0)
        let place = "{queue=\"feed\",file=\"\(scratch.file("queue.db"))\""
        #expect(metrics["solo_queue_held_jobs" + place + ",limit=\"key_concurrency\"}"] == 0)
        #expect(metrics["solo_queue_limited" + place + ",limit=\"rate_limit\"}"] == 0)
        #expect(metrics["solo_queue_oldest_waiting_seconds" + place + "}"] == 0)
        #expect((metrics["solo_resident_bytes"] ?? 0) > 1_000_000)
        #expect((metrics["solo_sqlite_memory_bytes"] ?? 0) > 10_000, "solo holds a queue file open")
        try waitFor("both workers ready and measured in /metrics") {
            guard let answer = try? httpRequest(port: metricsPort, "GET /metrics HTTP/1.0\r\n\r\n"),
                  let parsed = try? parseMetrics(answer.body) else { return false }
            metrics = parsed
            return parsed[series("solo_workers") + ",state=\"ready\"}"] == 2 && parsed[series("solo_worker_resident_bytes") + ",slot=\"1\"}"] != nil
        }
        #expect((metrics[series("solo_worker_resident_bytes") + ",slot=\"0\"}"] ?? 0) > 100_000)
        #expect((metrics[series("solo_pool_resident_bytes") + "}"] ?? 0) > 200_000)

        let head = try httpRequest(port: metricsPort, "HEAD /metrics HTTP/1.1\r\n\r\n")
        #expect(head.status == 200 && head.body.isEmpty && head.head.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(try httpRequest(port: metricsPort, "GET /nothing HTTP/1.1\r\n\r\n").status == 404)
        let post = try httpRequest(port: metricsPort, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        #expect(post.status == 405 && post.head.contains("Allow: GET, HEAD"))
        #expect(try httpRequest(port: metricsPort, "hello\r\n\r\n").status == 400)
        let huge = try httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 9000) + "\r\n\r\n")
        #expect(huge.status == 431)
        #expect(try supervisor.stop() == 0)
        #expect(!supervisor.log.contains("cannot listen"))
    }

    @Test func aTakenMetricsPortLeavesTheWorkersRunningUntilAReloadGetsIt() throws {
        let scratch = Scratch()
        let port = try freePort()
        let squatter = try Sockets.listenTCP(address: 0x7f00_0001, port: 0)
        let metricsPort = try Sockets.localAddress(squatter).port
        scratch.config(port: port, global: "metrics_listen = \(metricsPort)", "[sleeper]\ncommand = sleep 600\nqueue = none\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("cannot listen on 127.0.0.1:\(metricsPort) for metrics_listen")
        try supervisor.waitForLog("started worker")
        squatter.close()
        #expect(try runSolo(["reload", "--config", "solo.conf"], in: scratch).status == 0)
        try supervisor.waitForLog("metrics at http://127.0.0.1:\(metricsPort)/metrics")
        let metrics = try parseMetrics(try httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\n\r\n").body)
        #expect(metrics["solo_workers{pool=\"sleeper\",state=\"ready\"}"] == 1 || metrics["solo_workers{pool=\"sleeper\",state=\"starting\"}"] == 1)
        #expect(metrics["solo_worker_starts_total{pool=\"sleeper\"}"] == 1)
        #expect(metrics["solo_job_duration_seconds_count{pool=\"sleeper\"}"] == nil, "no durations for a pool that polls its own queue")

        // Taking metrics_listen out of the config closes the port on reload.
        scratch.config(port: port, "[sleeper]\ncommand = sleep 600\nqueue = none\n")
        #expect(try runSolo(["reload", "--config", "solo.conf"], in: scratch).status == 0)
        try waitFor("the metrics port closed") { (try? httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\n\r\n")) == nil }
        #expect(try supervisor.stop() == 0)
    }

    @Test func aPoolAddedBackWhileItsWorkersStillLeaveIsOnePoolWithItsCounters() throws {
        let scratch = Scratch()
        let port = try freePort(), metricsPort = try freePort()
        // The worker shrugs off SIGTERM, so it leaves only at stop_timeout.
        let pool = "[slow]\nqueue = none\ncommand = sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'\nstop_timeout = 2s\n"
        let global = "metrics_listen = \(metricsPort)"
        scratch.config(port: port, global: global, pool)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("pool slow: started worker 0")
        scratch.config(port: port, global: global, "[other]\nqueue = none\ncommand = sleep 600\n")
        #expect(try runSolo(["reload", "--config", "solo.conf"], in: scratch).status == 0)
        scratch.config(port: port, global: global, pool + "[other]\nqueue = none\ncommand = sleep 600\n")
        #expect(try runSolo(["reload", "--config", "solo.conf"], in: scratch).status == 0)
        let status = try JSON.parse(try runSolo(["status", "--json", "--config", "solo.conf"], in: scratch).stdout.trimmed)
        #expect(status["pools"]?.arrayValue?.compactMap { $0["name"]?.stringValue }.sorted() == ["other", "slow"])
        try waitFor("the old worker gone and a new one started", seconds: 10) { supervisor.lines(containing: "pool slow: started worker 0").count == 2 }
        let metrics = try parseMetrics(try httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\n\r\n").body)
        #expect(metrics["solo_worker_starts_total{pool=\"slow\"}"] == 2, "one pool, counting on across both reloads")
        #expect(metrics["solo_worker_exits_total{pool=\"slow\",reason=\"stopped\"}"] == 1)
        #expect(!supervisor.log.contains("pool slow: removed"))
        #expect(try supervisor.stop() == 0)
    }
}
