import Foundation
import Glibc
import SoloKit
import Testing

/// A PHP-FPM of the test's own: its config, pid file, log and socket in the scratch directory;
/// stopped by its pid at the end, whatever happened.
final class PHPFPM {
    /// Debian's, whichever PHP version it is (php-fpm8.2 on bookworm).
    static let binary = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/sbin")) ?? [])
        .filter { $0.hasPrefix("php-fpm") }.sorted().last.map { "/usr/sbin/" + $0 } ?? "/usr/sbin/php-fpm"
    let scratch: Scratch
    let socket: String
    /// What `fastcgi =` says for it.
    let address: String
    private(set) var child: Child?
    private var starts = 0

    /// On a unix socket in the scratch directory, or on `listen` (`127.0.0.1:PORT`, `[::1]:PORT`),
    /// with room for `backlog` connections waiting for a child (the system's most by default).
    init(_ scratch: Scratch, listen: String? = nil, children: Int = 4, backlog: Int = -1) {
        self.scratch = scratch
        socket = listen ?? scratch.file("fpm.sock")
        address = listen ?? "unix:" + socket
        scratch.write("fpm.conf", """
            [global]
            pid = \(scratch.file("fpm.pid"))
            error_log = \(scratch.file("fpm.log"))
            daemonize = no
            [solo-jobs]
            listen = \(socket)
            listen.backlog = \(backlog)
            pm = static
            pm.max_children = \(children)
            pm.max_requests = 50
            catch_workers_output = yes
            """)
    }

    /// Starts it (in the foreground, so that its pid is the master's; as root only with -R,
    /// as CI runs) and waits for its socket and pid file.
    func start() throws {
        try? FileManager.default.removeItem(atPath: scratch.file("fpm.pid"))
        starts += 1
        let child = try Child(["-F", "-n", "-R", "-y", scratch.file("fpm.conf"), "-p", scratch.path], in: scratch,
                              name: "fpm-\(starts)", executable: Self.binary)
        self.child = child
        try waitFor("php-fpm's pid file and socket; its log: \(scratch.read("fpm.log")) \(child.stderr)") {
            scratch.exists("fpm.pid") && scratch.read("fpm.log").contains("ready to handle connections")
        }
    }

    /// SIGTERM to the master, by its pid: it ends its children (and their requests) at once.
    func stop() throws {
        guard let child, child.process.isRunning else { return }
        child.signal(SIGTERM)
        try child.wait(seconds: 10)
        self.child = nil
    }

    deinit { try? stop() }
}

/// The FastCGI executor against a real PHP-FPM and the example script, etc/fastcgi/job.php.
@Suite(.serialized) struct FastCGITests {
    static let script: String = {
        let tests = Path.directory(of: #filePath)
        return Path.normalize(tests + "/../../etc/fastcgi/job.php")
    }()

    /// A scratch directory, its PHP-FPM (started unless `fpmUp` is false) and a supervisor
    /// with pool [php] sending it the jobs of queue php.
    func start(pool: String = "", global: String = "", fpmUp: Bool = true, listen: ((UInt16) -> String)? = nil,
               workers: Int = 3, children: Int = 4, backlog: Int = -1) throws -> (Scratch, PHPFPM, RunningSupervisor) {
        let scratch = Scratch()
        let fpm = PHPFPM(scratch, listen: listen?(try freePort()), children: children, backlog: backlog)
        if fpmUp { try fpm.start() }
        scratch.config(port: try freePort(), global: global, Self.pool(fpm, pool, workers: workers))
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started")
        try waitFor("the control socket") { scratch.exists("state/run/solo.sock") }
        return (scratch, fpm, supervisor)
    }

    /// Pool [php], sending the jobs of queue php to `fpm`.
    static func pool(_ fpm: PHPFPM, _ keys: String = "", workers: Int = 3) -> String {
        """
        [php]
        fastcgi = \(fpm.address)
        script = \(script)
        workers = \(workers)
        retry_delay = 100ms-200ms
        \(keys)
        """
    }

    func push(_ scratch: Scratch, _ payloads: [String], _ options: [String] = []) throws {
        let result = try runSolo(["push", "--config", "solo.conf"] + options, in: scratch, input: Array((payloads.joined(separator: "\n") + "\n").utf8))
        try #require(result.status == 0, "solo push: \(result.stderr)")
    }

    func jobs(_ scratch: Scratch, state: String) throws -> [[String: Any]] {
        let list = try runSolo(["queue", "list", "--queue", "php", "--state", state, "--json", "--config", "solo.conf"], in: scratch)
        return try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]], "\(list.stderr)")
    }

    func fastcgiStatus(_ scratch: Scratch) throws -> JSON? {
        let result = try runSolo(["status", "--json", "--config", "solo.conf"], in: scratch)
        return try JSON.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))["pools"]?.arrayValue?.first?["fastcgi"]
    }

    @Test func jobsAreDoneRetriedAndFailedAsTheScriptSays() throws {
        let metricsPort = try freePort()
        let (scratch, fpm, supervisor) = try start(pool: "max_attempts = 3\n", global: "metrics_listen = 127.0.0.1:\(metricsPort)")
        // A payload of 300 KB: STDIN in several records, written as the socket takes it.
        let big = "{\"task\": \"big\", \"pad\": \"\(String(repeating: "x", count: 300_000))\"}"
        try push(scratch, (1...20).map { "{\"task\": \"t\($0)\"}" } + ["{\"flaky\": 1, \"task\": \"second time\"}", "{\"fail\": \"no such user\"}", "not json", big],
                 ["--group", "batch"])
        let wait = try runSolo(["wait", "batch", "--config", "solo.conf", "--results"], in: scratch, seconds: 30)
        #expect(wait.stderr.contains("group batch: 24 jobs, 22 done, 2 dead"), "\(wait.stderr)")
        let done = try jobs(scratch, state: "done")
        let results = done.compactMap { ($0["result"] as? String).flatMap { try? JSON.parse($0) } }
        #expect(Set(results.compactMap { $0["task"]?.stringValue }) == Set((1...20).map { "t\($0)" } + ["second time", "big"]), "every result kept")
        #expect(results.allSatisfy { $0["group"]?.stringValue == "batch" && $0["queue"]?.stringValue == "php" })
        let flaky = try #require(done.first { ($0["payload"] as? String)?.contains("flaky") == true })
        #expect(flaky["attempts"] as? Int == 2, "retried once, as its header said")
        let dead = Dictionary(uniqueKeysWithValues: try jobs(scratch, state: "dead").map { ($0["payload"] as! String, $0["error"] as! String) })
        #expect(dead["{\"fail\": \"no such user\"}"] == "no such user")
        #expect(dead["not json"] == "the payload is not a JSON object")
        let status = try #require(try fastcgiStatus(scratch))
        #expect(status["in_flight"]?.intValue == 0 && status["problem"] == nil)
        // Counted as a worker's answers are: 21 done at once and the flaky one, 2 failed, 1 retried.
        let metrics = try parseMetrics(try httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").body)
        for (outcome, count) in [("done", 22.0), ("failed", 2), ("retried", 1), ("worker_died", 0), ("timed_out", 0)] {
            #expect(metrics["solo_jobs_total{pool=\"php\",outcome=\"\(outcome)\"}"] == count, "\(outcome)")
        }
        #expect(metrics["solo_job_duration_seconds_count{pool=\"php\"}"] == 25 && metrics["solo_queue_wait_seconds_count{pool=\"php\",queue=\"php\"}"] == 25)
        let text = try runSolo(["status", "--config", "solo.conf"], in: scratch)
        #expect(text.stdout.contains("php: running, 0/3 requests in flight") && text.stdout.contains("php-fpm at unix:\(fpm.socket)"), "\(text.stdout)")
        #expect(try supervisor.stop() == 0)
        #expect(fpm.child?.process.isRunning == true, "solo never touches PHP-FPM's processes")
    }

    @Test func aRequestOverJobTimeoutIsAbortedAndRetried() throws {
        let metricsPort = try freePort()
        let (scratch, fpm, supervisor) = try start(pool: "job_timeout = 300ms\nmax_attempts = 2\n", global: "metrics_listen = 127.0.0.1:\(metricsPort)")
        try push(scratch, ["{\"sleep\": 2}", "{\"task\": \"quick\"}"])
        try waitFor("the slow job dead after its two attempts", seconds: 20) { ((try? jobs(scratch, state: "dead")) ?? []).count == 1 }
        let dead = try jobs(scratch, state: "dead")
        #expect(dead.first?["attempts"] as? Int == 2)
        #expect((dead.first?["error"] as? String)?.hasPrefix("it ran over job_timeout (300ms): the request was aborted") == true, "\(dead)")
        #expect(try jobs(scratch, state: "done").count == 1)
        try supervisor.waitForLog("pool php: job 1 (attempt 1 of 2): it ran over job_timeout")
        #expect(fpm.child?.process.isRunning == true, "an aborted request leaves PHP-FPM up")
        let metrics = try parseMetrics(try httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").body)
        #expect(metrics["solo_jobs_total{pool=\"php\",outcome=\"timed_out\"}"] == 2 && metrics["solo_jobs_total{pool=\"php\",outcome=\"done\"}"] == 1)
        #expect(try supervisor.stop() == 0)
    }

    @Test func phpFPMDownMeansJobsWaitAndRunOnceItIsUp() throws {
        let (scratch, fpm, supervisor) = try start(fpmUp: false)
        try push(scratch, (1...5).map { "{\"task\": \"w\($0)\"}" }, ["--group", "waiting"])
        try supervisor.waitForLog("pool php: php-fpm at unix:\(fpm.socket): No such file or directory; jobs wait, trying again in 1.0s")
        let status = try #require(try fastcgiStatus(scratch))
        #expect(status["problem"]?.stringValue == "No such file or directory" && status["retry_in_ms"] != nil)
        let text = try runSolo(["status", "--config", "solo.conf"], in: scratch)
        #expect(text.stdout.contains(": No such file or directory; jobs wait, trying again in"), "\(text.stdout)")
        // (A probe takes one for a moment, once a second, and gives it back untouched.)
        try waitFor("the 5 jobs waiting, their attempts unspent: \((try? jobs(scratch, state: "ready")) ?? [])") {
            let ready = (try? jobs(scratch, state: "ready")) ?? []
            return ready.count == 5 && ready.allSatisfy { $0["attempts"] as? Int == 0 }
        }
        #expect(try jobs(scratch, state: "dead").isEmpty)
        try fpm.start()
        let wait = try runSolo(["wait", "waiting", "--config", "solo.conf"], in: scratch, seconds: 60)
        #expect(wait.stderr.contains("group waiting: 5 jobs, 5 done, 0 dead"), "\(wait.stderr)")
        try supervisor.waitForLog("php-fpm at unix:\(fpm.socket) answers again")
        #expect(try fastcgiStatus(scratch)?["problem"] == nil)
        #expect(try supervisor.stop() == 0)
    }

    /// The CPU time (user and system, in clock ticks) the process has used so far.
    @Test func theMetricsAndTheDashboardShowRequestsInFlightAndTheOutage() throws {
        let metricsPort = try freePort(), dashboardPort = try freePort()
        let (scratch, fpm, supervisor) = try start(global: "metrics_listen = 127.0.0.1:\(metricsPort)\ndashboard_listen = 127.0.0.1:\(dashboardPort)",
                                                   fpmUp: false)
        let printed = try runSolo(["dashboard", "solo.conf"], in: scratch)
        let token = String(printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "=").last ?? "")
        func metrics() throws -> [String: Double] {
            try parseMetrics(try httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").body)
        }
        func dashboardPool() throws -> JSON? {
            let answer = try TestHTTP.request("GET", port: dashboardPort, "/api/status?token=\(token)")
            return try JSON.parse(String(decoding: answer.body, as: UTF8.self))["status"]?["pools"]?.arrayValue?.first
        }
        // The figures are gathered at most once a second: each is waited for.
        func waitForFigures(_ what: String, _ wanted: [String: Double]) throws {
            var last: [String: Double] = [:]
            do {
                try waitFor(what) {
                    last = (try? metrics()) ?? [:]
                    return wanted.allSatisfy { last[$0.key] == $0.value }
                }
            } catch {
                Issue.record("\(what): wanted \(wanted), scraped \(last.filter { $0.key.hasPrefix("solo_workers{") || $0.key.hasPrefix("solo_fastcgi") })")
                throw error
            }
        }
        let noWorkers = Dictionary(uniqueKeysWithValues: ["starting", "ready", "busy", "draining", "stopping", "backoff", "stopped", "standby"]
            .map { ("solo_workers{pool=\"php\",state=\"\($0)\"}", 0.0) })

        try push(scratch, ["{\"task\": \"first\"}"])
        try supervisor.waitForLog("pool php: php-fpm at unix:\(fpm.socket): No such file or directory; jobs wait")
        try waitForFigures("PHP-FPM down", noWorkers.merging(["solo_fastcgi_up{pool=\"php\"}": 0, "solo_fastcgi_requests_max{pool=\"php\"}": 3]) { $1 })
        let down = try #require(try dashboardPool())
        #expect(down["fastcgi"]?["problem"]?.stringValue == "No such file or directory" && down["fastcgi"]?["address"]?.stringValue == "unix:\(fpm.socket)",
                "the dashboard's pool has the fields of solo status --json: \(down)")
        // The page in a browser: requests in flight and the outage where a pool's workers would be.
        let browser = try Browser.start(in: scratch)
        defer { browser?.quit() }
        func shown(_ field: String) -> String {
            (try? browser?.run("const e = document.querySelector('[data-pool=\"php\"] [data-field=\"\(field)\"]'); return e ? e.textContent : ''")) as? String ?? ""
        }
        if let browser {
            try browser.open(printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            try waitFor("the page to show PHP-FPM down") {
                shown("fastcgi").hasPrefix("0/3 requests in flight, PHP-FPM at unix:\(fpm.socket)") && shown("fastcgi-problem").hasPrefix("No such file or directory; jobs wait")
            }
            #expect(try browser.run("return document.querySelectorAll('[data-workers=\"php\"]').length") as? Int == 0, "no list of workers")
        }

        try fpm.start()
        try supervisor.waitForLog("php-fpm at unix:\(fpm.socket) answers again")
        try push(scratch, ["{\"sleep\": 4}", "{\"sleep\": 4}"])
        try waitFor("two requests in flight") { (try? fastcgiStatus(scratch))?["in_flight"]?.intValue == 2 }
        try waitForFigures("two requests in flight", noWorkers.merging(["solo_fastcgi_up{pool=\"php\"}": 1, "solo_fastcgi_requests{pool=\"php\"}": 2]) { $1 })
        let up = try #require(try dashboardPool())
        #expect(up["fastcgi"]?["in_flight"]?.intValue == 2 && up["fastcgi"]?["problem"] == nil && up["workers_wanted"]?.intValue == 3, "\(up)")
        if browser != nil {
            try waitFor("the page to show 2 requests in flight and no outage") { shown("in-flight") == "2" && shown("fastcgi-problem") == "" }
        }
        browser?.quit()
        #expect(try supervisor.stop() == 0)
    }

    static func cpuTicks(of pid: pid_t) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        // After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
        return try #require(Int(fields[11])) + (try #require(Int(fields[12])))
    }

    /// A pool stopped while its PHP-FPM is away, with a job waiting: once the retry is due there
    /// is nothing to send, and the loop sleeps until there is (it used to spin on the past deadline).
    @Test func anOutageOfAStoppedPoolLeavesTheLoopAsleep() throws {
        let (scratch, fpm, supervisor) = try start(fpmUp: false)
        try push(scratch, ["{\"task\": \"held\"}"])
        try supervisor.waitForLog("pool php: php-fpm at unix:\(fpm.socket): No such file or directory; jobs wait")
        let stop = try runSolo(["stop", "php", "--wait", "--config", "solo.conf"], in: scratch, seconds: 10)
        #expect(stop.status == 0, "\(stop.stderr)")
        try waitFor("the retry due, the pool stopped") { (try? fastcgiStatus(scratch))??["retry_in_ms"]?.intValue == 0 }
        let before = try Self.cpuTicks(of: supervisor.pid)
        usleep(2_000_000)  // a measurement's window, not a wait for an event
        let used = try Self.cpuTicks(of: supervisor.pid) - before
        #expect(used < 20, "the supervisor used \(used) ticks of CPU in 2s (of 200 a spinning loop uses)")
        #expect(try jobs(scratch, state: "ready").count == 1)
        #expect(try supervisor.stop() == 0)
    }

    /// Requests that fail together (the socket missing) count as one try: the pause is the
    /// log's 1 second, not doubled once per request of the batch (it used to reach 30 s). The
    /// queue wait is measured once a job, when its request reaches PHP-FPM.
    @Test func aBatchOfRequestsThatCannotConnectDoublesThePauseOnce() throws {
        let metricsPort = try freePort()
        let (scratch, fpm, supervisor) = try start(global: "metrics_listen = 127.0.0.1:\(metricsPort)", fpmUp: false, workers: 8)
        try push(scratch, (1...8).map { "{\"task\": \"b\($0)\"}" }, ["--group", "batch"])
        try supervisor.waitForLog("pool php: php-fpm at unix:\(fpm.socket): No such file or directory; jobs wait, trying again in 1.0s")
        let retryIn = try #require(try fastcgiStatus(scratch)?["retry_in_ms"]?.intValue)
        #expect(retryIn <= 1000, "the pause is the log's 1s, not \(retryIn)ms")
        #expect(try jobs(scratch, state: "ready").allSatisfy { $0["attempts"] as? Int == 0 })
        try fpm.start()
        let wait = try runSolo(["wait", "batch", "--config", "solo.conf"], in: scratch, seconds: 30)
        #expect(wait.stderr.contains("group batch: 8 jobs, 8 done, 0 dead"), "\(wait.stderr)")
        let metrics = try parseMetrics(try httpRequest(port: metricsPort, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").body)
        #expect(metrics["solo_queue_wait_seconds_count{pool=\"php\",queue=\"php\"}"] == 8, "once a job, tries that never reached PHP-FPM left out")
        #expect(try supervisor.stop() == 0)
    }

    /// A PHP-FPM whose children are all busy and whose backlog is full refuses the connection
    /// with EAGAIN: it is up, so the jobs wait a moment and run, with no outage in the log.
    @Test func aFullBacklogIsBusyNotAnOutage() throws {
        let (scratch, fpm, supervisor) = try start(workers: 6, children: 1, backlog: 1)
        try push(scratch, (1...6).map { "{\"task\": \"q\($0)\", \"sleep\": 0.2}" }, ["--group", "busy"])
        let wait = try runSolo(["wait", "busy", "--config", "solo.conf"], in: scratch, seconds: 30)
        #expect(wait.stderr.contains("group busy: 6 jobs, 6 done, 0 dead"), "\(wait.stderr)")
        #expect(try jobs(scratch, state: "done").allSatisfy { $0["attempts"] as? Int == 1 }, "each ran once")
        #expect(supervisor.lines(containing: "jobs wait").isEmpty, "no outage: \(supervisor.log)")
        #expect(try supervisor.stop() == 0)
        try fpm.stop()
    }

    @Test func phpFPMRestartedMidRunLosesNoJob() throws {
        let (scratch, fpm, supervisor) = try start(pool: "max_attempts = 10\n")
        try push(scratch, (1...300).map { "{\"task\": \"r\($0)\", \"sleep\": 0.01}" }, ["--group", "restart"])
        try waitFor("some jobs done before the restart", seconds: 20) { ((try? jobs(scratch, state: "done")) ?? []).count >= 20 }
        try fpm.stop()
        try fpm.start()
        let wait = try runSolo(["wait", "restart", "--config", "solo.conf", "--results"], in: scratch, seconds: 90)
        #expect(wait.stderr.contains("group restart: 300 jobs, 300 done, 0 dead"), "\(wait.stderr)")
        let tasks = wait.stdout.split(separator: "\n").compactMap { try? JSON.parse(String($0))["task"]?.stringValue }
        #expect(Set(tasks) == Set((1...300).map { "r\($0)" }), "every job done")
        #expect(try supervisor.stop() == 0)
    }

    /// Over TCP (IPv4 and IPv6): a stop lets the requests in flight finish within stop_timeout,
    /// then aborts the others and retries their jobs.
    @Test(arguments: ["127.0.0.1", "[::1]"])
    func aStopLetsRequestsFinishWithinStopTimeout(host: String) throws {
        let (scratch, fpm, supervisor) = try start(pool: "stop_timeout = 1s\n", listen: { "\(host):\($0)" })
        try push(scratch, ["{\"task\": \"short\", \"sleep\": 0.3}", "{\"task\": \"long\", \"sleep\": 10}"])
        try waitFor("two requests in flight") { (try? fastcgiStatus(scratch))??["in_flight"]?.intValue == 2 }
        let stop = try runSolo(["stop", "php", "--wait", "--config", "solo.conf"], in: scratch, seconds: 10)
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(try jobs(scratch, state: "done").map { $0["payload"] as? String } == ["{\"task\": \"short\", \"sleep\": 0.3}"], "finished within stop_timeout")
        // Its outcome is written with the next batch, within a few milliseconds of the stop.
        var retried: [[String: Any]] = []
        try waitFor("the aborted job back in the queue") {
            retried = (try? jobs(scratch, state: "delayed,ready")) ?? []
            return !retried.isEmpty
        }
        #expect(retried.count == 1 && (retried.first?["error"] as? String)?.contains("outlasted stop_timeout (1s): aborted") == true, "\(retried)")
        #expect(try fastcgiStatus(scratch)?["in_flight"]?.intValue == 0)
        #expect(fpm.child?.process.isRunning == true)
        #expect(try supervisor.stop() == 0)
    }

    /// A reload removes the fastcgi pool (its jobs then wait in the queue) and adds it back.
    @Test func aReloadRemovesAndAddsAFastCGIPool() throws {
        let (scratch, fpm, supervisor) = try start()
        let port = try #require(scratch.read("solo.conf").split(separator: "\n").first { $0.hasPrefix("lock_port") }?.split(separator: " ").last)
        scratch.config(port: UInt16(port)!, "[idle]\nqueue = none\ncommand = sleep 1000\n")
        let removing = try runSolo(["reload", "--config", "solo.conf"], in: scratch)
        #expect(removing.status == 0, "\(removing.stderr)")
        try supervisor.waitForLog("pool php: removed")
        try push(scratch, ["{\"task\": \"later\"}"], ["--queue", "php", "--group", "later"])
        #expect(try jobs(scratch, state: "ready").count == 1, "no pool takes it")
        scratch.config(port: UInt16(port)!, Self.pool(fpm))
        #expect(try runSolo(["reload", "--config", "solo.conf"], in: scratch).status == 0)
        let wait = try runSolo(["wait", "later", "--config", "solo.conf"], in: scratch, seconds: 20)
        #expect(wait.stderr.contains("group later: 1 job, 1 done, 0 dead"), "\(wait.stderr)")
        #expect(try supervisor.stop() == 0)
    }

    /// A PHP-FPM that never accepts (its backlog full): the connection hangs, and after the
    /// connect timeout the job goes back with its attempt unspent, as for a refused one.
    @Test func aConnectionNeverAcceptedSpendsNoAttempt() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                try #require(bind(listener, raw, size) == 0 && listen(listener, 0) == 0 && getsockname(listener, raw, &size) == 0)
            }
        }
        let port = UInt16(bigEndian: address.sin_port)
        // The backlog's room taken by connections nobody accepts: the next SYN is dropped.
        var fillers: [Int32] = []
        defer { fillers.forEach { close($0) } }
        for _ in 0..<4 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withLoopbackAddress(port) { connect(fd, $0, $1) }
            fillers.append(fd)
        }
        let (scratch, _, supervisor) = try start(fpmUp: false, listen: { _ in "127.0.0.1:\(port)" })
        try push(scratch, ["{\"task\": \"patient\"}"])
        try supervisor.waitForLog("php-fpm at 127.0.0.1:\(port): no connection within 3.0s; jobs wait", seconds: 15)
        try waitFor("the job waiting, its attempt unspent: \((try? jobs(scratch, state: "ready")) ?? [])") {
            ((try? jobs(scratch, state: "ready")) ?? []).first?["attempts"] as? Int == 0
        }
        #expect(try supervisor.stop() == 0)
    }
}
