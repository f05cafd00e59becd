import Foundation
import Glibc
import SoloKit
import Testing

/// The dashboard's server without a browser: its token renewed, readonly, and clients that
/// stall or crowd it while the workers are fed.
@Suite struct DashboardTests {
    /// A feed worker that records each job in `handled`; a "flaky" job fails the first time
    /// it runs (with max_attempts = 1: dead) and succeeds after.
    static let worker = """
        #!/bin/sh
        echo ready >&3
        while IFS= read -r job; do
            echo "$$ $job" >> handled
            echo "running $job"
            case "$job" in
                flaky) if [ ! -e failed-once ]; then touch failed-once; echo "fail first time" >&3; else echo "ok second time" >&3; fi ;;
                *) echo "ok" >&3 ;;
            esac
        done
        """

    /// A supervisor with pool feed (2 workers, max_attempts = 1) and the dashboard; its port and token.
    static func start(_ scratch: Scratch, queue: String = "sqlite:queue.db", global: String = "", sections: String = "") throws
        -> (RunningSupervisor, UInt16, String) {
        let port = try freePort()
        scratch.write("work/worker.sh", worker, executable: true)
        scratch.config(port: try freePort(), global: "dashboard_listen = 127.0.0.1:\(port)\n\(global)",
                       "[feed]\ncommand = ./worker.sh\ndirectory = work\nqueue = \(queue)\nworkers = 2\nmax_attempts = 1\n\(sections)")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("dashboard at http://127.0.0.1:\(port)/")
        let printed = try runSolo(["dashboard", "solo.conf"], in: scratch)
        try #require(printed.status == 0, "\(printed.stderr)")
        return (supervisor, port, String(printed.stdout.trimmed.split(separator: "=").last ?? ""))
    }

    /// A raw connection that sent `request` (whole or not).
    func open(_ port: UInt16, _ request: String) throws -> Int32 {
        let (socket, error) = connectLoopback(port)
        let fd = try #require(socket, "connect: errno \(error)")
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        return fd
    }

    /// Reads until `text` has come (what came), the peer closed (nil), or 5 s passed (a Timeout).
    func read(_ fd: Int32, until text: String) throws -> String? {
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(5)
        while !received.contains(text) {
            guard Date() < deadline else { throw Timeout(what: "\"\(text)\" or the end of the connection; got \(received.suffix(300))") }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return nil }
            received += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        return received
    }

    @Test func aNewTokenEndsThePagesOfTheOldOneAndReadonlyRefusesActions() throws {
        let scratch = Scratch()
        let (supervisor, port, token) = try Self.start(scratch, global: "dashboard_readonly = yes")
        var status = stat()
        #expect(stat(scratch.file("state/dashboard.token"), &status) == 0 && status.st_mode & 0o777 == 0o600)

        let stream = try open(port, "GET /events?token=\(token) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
        defer { close(stream) }
        let first = try #require(try read(stream, until: "\n\n"), "the first picture")
        #expect(first.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream") && first.contains("\"readonly\":true"))
        let action = try TestHTTP.request("POST", port: port, "/api/pool/feed/stop",
                                          headers: ["X-Solo-Token": token, "Origin": "http://127.0.0.1:\(port)"])
        #expect(action.status == 403 && String(decoding: action.body, as: UTF8.self).contains("dashboard_readonly"))

        let renewed = try runSolo(["dashboard", "--new-token", "solo.conf"], in: scratch)
        let newToken = String(renewed.stdout.trimmed.split(separator: "=").last ?? "")
        #expect(renewed.status == 0 && newToken.count == 64 && newToken != token)
        #expect(try TestHTTP.request("GET", port: port, "/api/status?token=\(token)").status == 401)
        #expect(try TestHTTP.request("GET", port: port, "/api/status?token=\(newToken)").status == 200)
        #expect(try read(stream, until: "never sent") == nil, "the old token's stream is ended")
        #expect(try supervisor.stop() == 0)
    }

    @Test func soloDashboardSaysWhatToAddWhenNoneIsServed() throws {
        let scratch = Scratch()
        scratch.config(port: try freePort(), "[feed]\ncommand = ./worker.sh\n")
        let printed = try runSolo(["dashboard", "solo.conf"], in: scratch)
        #expect(printed.status == 1 && printed.stdout.isEmpty)
        #expect(printed.stderr.contains("serves no dashboard: add dashboard_listen = 9465 to [global] and run solo reload"), "\(printed.stderr)")
        #expect(!scratch.exists("state/dashboard.token"), "no token is made for no dashboard")
    }

    @Test func clientsThatStallOrCrowdTheDashboardDoNotHoldUpFeeding() throws {
        let scratch = Scratch()
        let (supervisor, port, token) = try Self.start(scratch)
        // A page's stream, read; then half a request, a stream that is never read, and more
        // connections than the cap.
        let page = try open(port, "GET /events?token=\(token) HTTP/1.1\r\n\r\n")
        defer { close(page) }
        #expect(try read(page, until: "data:") != nil)
        var sockets = [try open(port, "GET /api/status?token=\(token) HTTP/1.1\r\nHost: x")]
        var small: Int32 = 4096
        let unread = try open(port, "")
        setsockopt(unread, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        _ = "GET /events?token=\(token) HTTP/1.1\r\n\r\n".withCString { send(unread, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        sockets.append(unread)
        for _ in 0..<80 { sockets.append(try open(port, "")) }
        defer { sockets.forEach { close($0) } }

        let jobs = (1...2000).map { "job-\($0)" }
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array((jobs.joined(separator: "\n") + "\n").utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")
        try waitFor("2000 jobs done while the dashboard's clients stall", seconds: 30) {
            scratch.read("work/handled").split(separator: "\n").count == 2000
        }
        #expect(try TestHTTP.request("GET", port: port, "/api/status?token=\(token)").status == 200, "a new client is still answered")
        #expect(try read(sockets[0], until: "never sent") == nil, "the oldest connections were dropped past the cap")
        #expect(try read(page, until: "data:") != nil, "the page's stream outlives the crowd: idle connections go first")
        #expect(try supervisor.stop() == 0)
    }

    func api(_ port: UInt16, _ method: String, _ path: String, token: String, body: String? = nil) throws -> (status: Int, json: JSON) {
        let answer = try TestHTTP.request(method, port: port, path, body: body.map { Data($0.utf8) },
                                          headers: ["X-Solo-Token": token, "Origin": "http://127.0.0.1:\(port)"])
        return (answer.status, try JSON.parse(String(decoding: answer.body, as: UTF8.self)))
    }

    @Test func theSupervisorKeepsEachQueuesThroughputAndWaitForTheCharts() throws {
        let scratch = Scratch()
        let (supervisor, port, token) = try Self.start(scratch)
        let jobs = (1...40).map { "job-\($0)" }.joined(separator: "\n") + "\n"
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array(jobs.utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")
        var samples: [JSON] = []
        // The first sample is taken when the dashboard opens, the next 10 s later.
        try waitFor("a sample of queue feed in /api/history", seconds: 25) {
            samples = (try? api(port, "GET", "/api/history", token: token))?.json["pools"]?["feed"]?.arrayValue ?? []
            return !samples.isEmpty
        }
        let sample = try #require(samples.first?.arrayValue)
        #expect(sample.count == 4 && (sample[0].intValue ?? 0) > 1_700_000_000_000, "[at_ms, jobs/s, mean wait ms, oldest waiting ms]: \(samples)")
        let rate = Double(sample[1].text) ?? 0
        #expect(rate > 3.5 && rate <= 4, "40 jobs in a little over 10 s: \(samples)")
        #expect(sample[2].intValue != nil, "the jobs handed out waited a mean time: \(samples)")
        #expect(try api(port, "GET", "/api/history", token: token).json["interval_ms"]?.intValue == 10_000)
        #expect(try supervisor.stop() == 0)
    }

    @Test(arguments: ["sqlite", "redis"])
    func aGroupsProgressAndResultsAreShownOnEitherStore(store: String) throws {
        let scratch = Scratch()
        let redis = store == "redis" ? try RedisServer(scratch) : nil
        let (supervisor, port, token) = try Self.start(scratch, queue: redis?.url ?? "sqlite:queue.db")
        let pushed = try runSolo(["push", "--config", "solo.conf", "--group", "nightly batch"], in: scratch, input: Array("a\nb\nflaky\n".utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")
        var listed: [JSON] = []
        try waitFor("group nightly batch finished in /api/groups") {
            listed = (try? api(port, "GET", "/api/groups", token: token))?.json["groups"]?.arrayValue ?? []
            return listed.count == 1 && listed[0]["pending"]?.intValue == 0
        }
        #expect(listed[0]["pool"]?.stringValue == "feed" && listed[0]["group"]?.stringValue == "nightly batch", "\(listed)")
        #expect(listed[0]["total"]?.intValue == 3 && listed[0]["done"]?.intValue == 2 && listed[0]["dead"]?.intValue == 1, "\(listed)")
        let group = try api(port, "GET", "/api/groups/nightly%20batch", token: token)
        #expect(group.status == 200 && group.json["results"]?.arrayValue?.count == 2 && group.json["took_ms"]?.intValue != nil, "\(group.json.text)")
        #expect(group.json["dead_jobs"]?.arrayValue?.first?["error"]?.stringValue == "first time", "\(group.json.text)")
        let missing = try api(port, "GET", "/api/groups/none?pool=feed", token: token)
        #expect(missing.status == 409 && missing.json["error"]?.stringValue == "no job of group none is kept", "\(missing.json.text)")
        #expect(try supervisor.stop() == 0)
    }

    @Test(arguments: ["sqlite", "redis"])
    func jobsAreLookedUpByGroupOrUniqueKeyOnEitherStore(store: String) throws {
        let scratch = Scratch()
        let redis = store == "redis" ? try RedisServer(scratch) : nil
        let (supervisor, port, token) = try Self.start(scratch, queue: redis?.url ?? "sqlite:queue.db")
        let grouped = try runSolo(["push", "--config", "solo.conf", "--group", "batch"], in: scratch, input: Array("a\nb\n".utf8))
        let unique = try runSolo(["push", "--config", "solo.conf", "--unique", "report-7", "--unique-for", "1h", "u"], in: scratch)
        try #require(grouped.status == 0 && unique.status == 0, "\(grouped.stderr)\(unique.stderr)")
        try waitFor("the three jobs done") { scratch.read("work/handled").split(separator: "\n").count == 3 }
        let group = try api(port, "GET", "/api/jobs?group=batch", token: token)
        #expect(group.status == 200 && group.json["jobs"]?.arrayValue?.compactMap { $0["payload"]?.stringValue } == ["a", "b"], "\(group.json.text)")
        let keyed = try api(port, "GET", "/api/jobs?pool=feed&key=report-7", token: token)
        #expect(keyed.json["jobs"]?.arrayValue?.compactMap { $0["payload"]?.stringValue } == ["u"], "\(keyed.json.text)")
        #expect(try api(port, "GET", "/api/jobs?key=none", token: token).json["jobs"]?.arrayValue?.isEmpty == true)
        #expect(try api(port, "GET", "/api/jobs?group=batch&key=report-7", token: token).status == 400, "one of them")
        #expect(try supervisor.stop() == 0)
    }

    @Test func everySupervisorOfTheClusterAndTheFleetLocksHolderAreShown() throws {
        let scratch = Scratch()
        let redis = try RedisServer(scratch)
        let (supervisor, port, token) = try Self.start(scratch, queue: redis.url, global: "cluster_lock = nightly\ncluster_lock_ttl = 3s")
        var listed: [JSON] = []
        try waitFor("this supervisor in /api/cluster, holding the fleet lock") {
            listed = (try? api(port, "GET", "/api/cluster", token: token))?.json["supervisors"]?.arrayValue ?? []
            return listed.count == 1 && listed[0]["fleet_lock"]?["role"]?.stringValue == "holding"
        }
        #expect(listed[0]["pid"]?.intValue == Int(supervisor.pid) && listed[0]["pools"]?.arrayValue?.first?["name"]?.stringValue == "feed", "\(listed)")

        let fileScratch = Scratch()
        let (fileSupervisor, filePort, fileToken) = try Self.start(fileScratch)
        let none = try api(filePort, "GET", "/api/cluster", token: fileToken)
        #expect(none.status == 409 && none.json["error"]?.stringValue == "this config uses no Redis server: there is no cluster to show", "\(none.json.text)")
        #expect(try fileSupervisor.stop() == 0)
        #expect(try supervisor.stop() == 0)
    }

    @Test(arguments: ["sqlite", "redis"])
    func deadJobsAreListedLookedUpRetriedAndDeletedOnEitherStore(store: String) throws {
        let scratch = Scratch()
        let redis = store == "redis" ? try RedisServer(scratch) : nil
        // Redis by host name: the dashboard opens its connections with the address the
        // supervisor resolved beside the loop, not by resolving in it.
        let (supervisor, port, token) = try Self.start(scratch, queue: redis.map { "redis://localhost:\($0.port)" } ?? "sqlite:queue.db")
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array("first\nflaky\n".utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")
        var dead: [JSON] = []
        try waitFor("the flaky job in /api/dead") {
            dead = (try? api(port, "GET", "/api/dead?limit=10", token: token))?.json["queues"]?.arrayValue?.first?["jobs"]?.arrayValue ?? []
            return dead.count == 1
        }
        let id = try #require(dead[0]["id"]?.intValue)
        #expect(dead[0]["payload"]?.stringValue == "flaky" && dead[0]["error"]?.stringValue == "first time")
        let shown = try api(port, "GET", "/api/jobs/\(id)?pool=feed", token: token)
        #expect(shown.status == 200 && shown.json["job"]?["state"]?.stringValue == "dead", "\(shown.json.text)")
        let missing = try api(port, "GET", "/api/jobs/\(id + 100)", token: token)
        #expect(missing.status == 409 && missing.json["error"]?.stringValue == "no job \(id + 100) in queue feed")

        let retried = try api(port, "POST", "/api/jobs/retry", token: token, body: #"{"pool": "feed", "ids": [\#(id), \#(id + 100)]}"#)
        #expect(retried.status == 200 && retried.json["changed"]?.arrayValue?.compactMap(\.intValue) == [id], "\(retried.json.text)")
        try waitFor("the retried job done") {
            (try? api(port, "GET", "/api/jobs/\(id)", token: token))?.json["job"]?["result"]?.stringValue == "second time"
        }
        let deleted = try api(port, "POST", "/api/jobs/delete", token: token, body: #"{"pool": "feed", "ids": [\#(id)]}"#)
        #expect(deleted.json["changed"]?.arrayValue?.compactMap(\.intValue) == [id], "\(deleted.json.text)")
        #expect(try api(port, "GET", "/api/jobs/\(id)", token: token).status == 409, "deleted")
        try supervisor.waitForLog("pool feed: dashboard: retry of job \(id)")
        #expect(try supervisor.stop() == 0)
    }
}
