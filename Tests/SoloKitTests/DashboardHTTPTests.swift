import Testing
@testable import SoloKit

/// The dashboard's routing and its checks, without a socket: the token on every request, the
/// header (not the URL) on actions, the page's own origin on actions, readonly.
@Suite struct DashboardHTTPTests {
    static let token = String(repeating: "ab", count: 32)

    func request(_ method: String, _ target: String, headers: [String: String] = [:], body: String = "") -> HTTPRequest {
        let raw = "\(method) \(target) HTTP/1.1\r\n" + headers.map { "\($0.key): \($0.value)\r\n" }.joined()
            + (body.isEmpty ? "" : "Content-Length: \(body.utf8.count)\r\n") + "\r\n" + body
        guard case .request(let parsed, let length) = HTTP.parse(Array(raw.utf8), maximumBody: DashboardHTTP.maximumBody) else {
            Issue.record("not parsed: \(raw)")
            return HTTPRequest(method: "", path: "")
        }
        #expect(length == raw.utf8.count)
        return parsed
    }

    func route(_ request: HTTPRequest, readonly: Bool = false) -> Result<DashboardRoute, DashboardHTTP.Refusal> {
        DashboardHTTP.route(request, token: Self.token, readonly: readonly)
    }

    func status(_ result: Result<DashboardRoute, DashboardHTTP.Refusal>) -> Int? {
        if case .failure(let refusal) = result { return refusal.status }
        return nil
    }

    func ok(_ result: Result<DashboardRoute, DashboardHTTP.Refusal>) -> DashboardRoute? { try? result.get() }

    var action: [String: String] { ["X-Solo-Token": Self.token, "Host": "127.0.0.1:9465", "Origin": "http://127.0.0.1:9465"] }

    @Test func theHistoryGroupsClusterAndJobSearchesAreRead() {
        let t = "token=\(Self.token)"
        #expect(ok(route(request("GET", "/api/history?\(t)"))) == .history)
        #expect(ok(route(request("GET", "/api/cluster?\(t)"))) == .cluster)
        #expect(ok(route(request("GET", "/api/groups?\(t)"))) == .groups)
        #expect(ok(route(request("GET", "/api/groups/nightly%20batch?pool=mail&\(t)"))) == .group("nightly batch", pool: "mail"))
        #expect(ok(route(request("GET", "/api/jobs?group=batch&\(t)"))) == .findJobs(pool: nil, .group("batch")))
        #expect(ok(route(request("GET", "/api/jobs?key=report%2F7&pool=mail&\(t)"))) == .findJobs(pool: "mail", .uniqueKey("report/7")))
        #expect(status(route(request("GET", "/api/jobs?group=a&key=b&\(t)"))) == 400, "one of them")
        #expect(status(route(request("GET", "/api/jobs?\(t)"))) == 400)
    }

    @Test func pagesTakeTheTokenFromTheQueryOrTheHeader() {
        #expect(ok(route(request("GET", "/?token=\(Self.token)"))) == .page)
        #expect(ok(route(request("GET", "/events", headers: ["X-Solo-Token": Self.token]))) == .events)
        #expect(ok(route(request("GET", "/api/status?token=\(Self.token)"))) == .status)
        #expect(ok(route(request("GET", "/api/dead?limit=5&token=\(Self.token)"))) == .dead(limit: 5))
        #expect(ok(route(request("GET", "/api/jobs/12?pool=mail&token=\(Self.token)"))) == .job(pool: "mail", id: 12))
        #expect(status(route(request("GET", "/api/dead?limit=0&token=\(Self.token)"))) == 400)
        #expect(status(route(request("GET", "/api/nothing?token=\(Self.token)"))) == 404)
    }

    @Test func theDeadListCutsEachJobShortAtACharacter() {
        let job = JobRecord(id: 1, queue: "q", state: "dead", payload: String(repeating: "é", count: 300), priority: 0, attempts: 1,
                            maxAttempts: nil, group: nil, runAt: 0, createdAt: 0, finishedAt: 1, result: nil, error: "short")
        let cut = job.cut(to: 255)
        #expect(cut.payload == String(repeating: "é", count: 127) + "…", "255 bytes end inside an é: cut before it")
        #expect(cut.error == "short" && cut.result == nil && cut.id == 1)
    }

    @Test func aMissingOrWrongTokenIsRefused() {
        // The page holds no data: served without the token, so that a reload works.
        #expect(ok(route(request("GET", "/"))) == .page)
        #expect(status(route(request("GET", "/api/status?token=\(Self.token.dropLast())0"))) == 401)
        #expect(status(route(request("GET", "/events?token="))) == 401)
        #expect(status(DashboardHTTP.route(request("GET", "/api/status?token=\(Self.token)"), token: nil, readonly: false)) == 503)
        #expect(DashboardHTTP.tokenMatches(Self.token, Self.token))
        #expect(!DashboardHTTP.tokenMatches(Self.token + "0", Self.token))
        #expect(!DashboardHTTP.tokenMatches("", ""), "an empty token opens nothing")
    }

    @Test func actionsRouteToTheControlRequests() {
        #expect(ok(route(request("POST", "/api/pool/mail/stop", headers: action))) == .steer(pool: "mail", .stop))
        #expect(ok(route(request("POST", "/api/pool/mail/restart", headers: action))) == .steer(pool: "mail", .restart))
        #expect(ok(route(request("POST", "/api/pool/mail/scale?n=3", headers: action))) == .scale(pool: "mail", workers: 3))
        #expect(status(route(request("POST", "/api/pool/mail/scale?n=x", headers: action))) == 400)
        #expect(ok(route(request("POST", "/api/jobs/retry", headers: action, body: #"{"pool": "mail", "ids": [3, 4]}"#)))
                == .jobs(.retry, pool: "mail", ids: [3, 4]))
        #expect(ok(route(request("POST", "/api/jobs/delete", headers: action, body: #"{"pool": "mail", "ids": [3]}"#)))
                == .jobs(.delete, pool: "mail", ids: [3]))
        #expect(status(route(request("POST", "/api/jobs/retry", headers: action, body: #"{"ids": [3]}"#))) == 400)
        #expect(status(route(request("POST", "/api/jobs/retry", headers: action, body: #"{"pool": "m", "ids": ["x"]}"#))) == 400)
        #expect(status(route(request("POST", "/api/pool/mail/explode", headers: action))) == 404)
        #expect(status(route(request("DELETE", "/api/pool/mail", headers: action))) == 405)
    }

    @Test func anActionNeedsTheTokenInItsHeaderNotItsURL() {
        var headers = action
        headers["X-Solo-Token"] = nil
        #expect(status(route(request("POST", "/api/pool/mail/stop?token=\(Self.token)", headers: headers))) == 401)
    }

    @Test func anActionNeedsTheDashboardsOwnOrigin() {
        var foreign = action
        foreign["Origin"] = "http://evil.example"
        #expect(status(route(request("POST", "/api/pool/mail/stop", headers: foreign))) == 403)
        var rebound = action
        rebound["Host"] = "evil.example:9465"
        rebound["Origin"] = "http://evil.example:9465"
        #expect(status(route(request("POST", "/api/pool/mail/stop", headers: rebound))) == 403, "a foreign name pointed here is no origin of ours")
        #expect(DashboardHTTP.sameOrigin(["host": "evil.example:9465", "origin": "http://evil.example:9465"], allowedHosts: ["evil.example"]))
        var noOrigin = action
        noOrigin["Origin"] = nil
        #expect(status(route(request("POST", "/api/pool/mail/stop", headers: noOrigin))) == 403)
        noOrigin["Sec-Fetch-Site"] = "same-origin"
        #expect(ok(route(request("POST", "/api/pool/mail/stop", headers: noOrigin))) == .steer(pool: "mail", .stop))
        #expect(DashboardHTTP.sameOrigin(["host": "localhost:9465", "origin": "http://localhost:9465"]))
        #expect(!DashboardHTTP.sameOrigin(["host": "127.0.0.1:9465", "origin": "https://127.0.0.1:9465"]))
        #expect(!DashboardHTTP.sameOrigin(["origin": "http://127.0.0.1:9465"]), "no Host, no origin to compare with")
    }

    @Test func readonlyRefusesEveryActionButShowsEverything() {
        #expect(status(route(request("POST", "/api/pool/mail/stop", headers: action), readonly: true)) == 403)
        #expect(status(route(request("POST", "/api/jobs/retry", headers: action, body: #"{"pool": "mail", "ids": [3]}"#), readonly: true)) == 403)
        #expect(ok(route(request("GET", "/api/status?token=\(Self.token)"), readonly: true)) == .status)
    }

    @Test func bodiesAreCappedAndWaitedFor() {
        let head = "POST /api/jobs/retry HTTP/1.1\r\nContent-Length: 20\r\n\r\n"
        #expect(HTTP.parse(Array((head + "{\"pool\"").utf8), maximumBody: 100) == .incomplete)
        guard case .refused(let answer) = HTTP.parse(Array(head.utf8), maximumBody: 10) else {
            Issue.record("a long body is refused")
            return
        }
        #expect(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 413 "))
        #expect(HTTP.queryParameters("a=1&b=x%20y+z&a=2&c") == ["a": "1", "b": "x y z", "c": ""])
    }

    @Test func theURLReachesAWildcardListenerThroughLoopback() {
        #expect(DashboardHTTP.url(ListenAddress(address: 0, port: 9465), token: "t") == "http://127.0.0.1:9465/?token=t")
        #expect(DashboardHTTP.url(ListenAddress(address: 0x7F00_0002, port: 80), token: "t") == "http://127.0.0.2:80/?token=t")
    }
}

@Suite struct DashboardConfigTests {
    @Test func dashboardListenIsCheckedAgainstTheOtherPortsAndWarnedBeyondLoopback() throws {
        let conf = "/etc/solo/solo.conf"
        #expect(loadErrors([conf: "[global]\nlock_port = 9000\ndashboard_listen = 9000\n[a]\ncommand = x\n"]) ==
                ["\(conf):3: dashboard_listen: port 9000 is the lock port (lock_port); choose another, like 9465"])
        #expect(loadErrors([conf: "[global]\nmetrics_listen = 9464\ndashboard_listen = 127.0.0.1:9464\n[a]\ncommand = x\n"]) ==
                ["\(conf):3: dashboard_listen: port 9464 is metrics_listen's; choose another, like 9465"])
        let loaded = try memoryLoader([conf: "[global]\ndashboard_listen = 10.0.0.5:9465\ndashboard_readonly = yes\n[a]\ncommand = x\n"]).load(conf)
        #expect(loaded.config.global.dashboardListen == ListenAddress(address: 0x0A00_0005, port: 9465))
        #expect(loaded.config.global.dashboardReadonly)
        #expect(loaded.warnings.map(\.description) == [
            "\(conf):2: warning: dashboard_listen: 10.0.0.5:9465 serves the dashboard beyond this machine, over plain HTTP (its token can be read on the way) (firewall it, or use 127.0.0.1:9465)",
        ])
    }
}

@Suite struct DashboardTokenSpanTests {
    @Test func theDashboardHasTokensOfItsOwn() {
        #expect(EpollToken.source(of: EpollToken.dashboard.base) == .dashboard)
        #expect(EpollToken.source(of: EpollToken.dashboard.token(63)) == .dashboard)
        #expect(EpollToken.source(of: EpollToken.workerPipes.token(EpollToken.workerPipes.size - 1)) != .dashboard)
    }
}
