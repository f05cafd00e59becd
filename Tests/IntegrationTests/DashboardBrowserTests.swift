import Foundation
import Glibc
import SoloKit
import Testing

/// The dashboard in a real browser (headless Chromium over WebDriver): it shows what
/// `solo status --json` says, follows a crash without a reload, retries a dead job with a
/// click; and a request without the token, or an action from another origin, is refused.
@Suite(.serialized) struct DashboardBrowserTests {
    func status(_ scratch: Scratch) throws -> JSON {
        let result = try runSolo(["status", "--json", "--config", "solo.conf"], in: scratch)
        try #require(result.status == 0, "\(result.stderr)")
        return try JSON.parse(result.stdout.trimmed)
    }

    func livePids(_ status: JSON) -> Set<Int> {
        let workers = status["pools"]?.arrayValue?.first?["workers"]?.arrayValue ?? []
        return Set(workers.filter { ["ready", "busy"].contains($0["state"]?.stringValue ?? "") }.compactMap { $0["pid"]?.intValue })
    }

    /// What the page shows of pool feed: workers running, each worker's pid and restarts, the queue's counts.
    struct Shown {
        var running: Int?
        var pids: Set<Int>
        var restarts: Int
        var dead: Int?
        var ready: Int?
        var live: Bool
    }

    func shown(_ browser: Browser) throws -> Shown {
        let value = try browser.run("""
            const pool = document.querySelector('[data-pool="feed"]');
            if (!pool) return null;
            const rows = [...pool.querySelectorAll('tr[data-slot]')];
            const number = (f) => { const e = pool.querySelector('[data-field="' + f + '"]'); return e ? Number(e.textContent) : null; };
            return { running: number("workers-running"), dead: number("queue-dead"), ready: number("queue-ready"),
                     pids: rows.map((r) => r.querySelector('[data-field="pid"]').textContent).filter((p) => p).map(Number),
                     restarts: rows.map((r) => Number(r.querySelector('[data-field="restarts"]').textContent)).reduce((a, b) => a + b, 0),
                     live: document.getElementById("connection").dataset.state === "live" };
            """) as? [String: Any]
        guard let value else { return Shown(running: nil, pids: [], restarts: 0, dead: nil, ready: nil, live: false) }
        return Shown(running: value["running"] as? Int, pids: Set((value["pids"] as? [Int]) ?? []), restarts: value["restarts"] as? Int ?? 0,
                     dead: value["dead"] as? Int, ready: value["ready"] as? Int, live: value["live"] as? Bool ?? false)
    }

    @Test func theDashboardShowsStatusFollowsACrashAndRetriesADeadJobInABrowser() throws {
        let scratch = Scratch()
        let (supervisor, dashboardPort, _) = try DashboardTests.start(scratch, sections: "concurrency = 10\n[schedule:nightly]\ncron = @yearly\nqueue = feed\npayload = nightly\n")
        try waitFor("two workers ready") { livePids((try? status(scratch)) ?? .null).count == 2 }

        let printed = try runSolo(["dashboard", "solo.conf"], in: scratch)
        try #require(printed.status == 0, "solo dashboard: \(printed.stderr)")
        let url = printed.stdout.trimmed
        let token = try #require(url.split(separator: "=").last.map(String.init))
        #expect(url == "http://127.0.0.1:\(dashboardPort)/?token=\(token)" && token.count == 64)

        // Refusals, as a script on another page (or a stranger) would meet them.
        #expect(try TestHTTP.request("GET", port: dashboardPort, "/").status == 200, "the page, which holds no data")
        #expect(try TestHTTP.request("GET", port: dashboardPort, "/api/status").status == 401)
        #expect(try TestHTTP.request("GET", port: dashboardPort, "/events?token=0123").status == 401)
        let foreign = try TestHTTP.request("POST", port: dashboardPort, "/api/pool/feed/stop",
                                           headers: ["X-Solo-Token": token, "Origin": "http://evil.example"])
        #expect(foreign.status == 403, "a POST from another origin is refused")
        let withoutHeader = try TestHTTP.request("POST", port: dashboardPort, "/api/pool/feed/stop?token=\(token)",
                                                 headers: ["Origin": "http://127.0.0.1:\(dashboardPort)"])
        #expect(withoutHeader.status == 401, "an action takes its token from the header only")
        #expect(livePids(try status(scratch)).count == 2, "nothing was stopped")

        guard let browser = try Browser.start(in: scratch) else { return }
        defer { browser.quit() }
        try browser.open(url)
        let before = try status(scratch)
        try waitFor("the page to show pool feed with 2 workers running and their pids") {
            let page = (try? shown(browser))
            return page?.live == true && page?.running == 2 && page?.pids == livePids(before)
        }
        #expect(try shown(browser).running == before["pools"]?.arrayValue?.first?["workers_running"]?.intValue)
        #expect(try browser.run("return location.search") as? String == "", "the token is taken out of the address bar")
        #expect(try browser.run("return document.querySelector('[data-schedule=\"nightly\"]').textContent") as? String ?? "" != "",
                "the schedules are shown")
        #expect(try browser.run("return document.querySelector('[data-pool=\"feed\"] [data-field=\"limits\"]').textContent") as? String == "limits: concurrency 10",
                "the queue's limits are shown")

        // A worker killed: the page shows its successor and the restart without a reload.
        let victim = try #require(livePids(before).min())
        kill(pid_t(victim), SIGKILL)
        let killed = Date()
        try waitFor("the page to show a new pid in place of \(victim) and a restart", seconds: 5) {
            guard let page = try? shown(browser) else { return false }
            return !page.pids.contains(victim) && page.pids.count == 2 && page.restarts >= 1
        }
        let seen = Date().timeIntervalSince(killed)
        print("dashboard showed the replaced worker \(String(format: "%.2f", seen)) s after SIGKILL")
        #expect(seen < 2, "the page follows within 2 s (took \(seen) s)")
        #expect(try browser.run("return performance.getEntriesByType('navigation').length") as? Int == 1, "no reload")

        // A job goes dead; its retry button runs it again.
        let pushed = try runSolo(["push", "--config", "solo.conf", "flaky"], in: scratch)
        try #require(pushed.status == 0, "\(pushed.stderr)")
        try waitFor("the page to list the dead job with a retry button") {
            ((try? browser.run("return document.querySelectorAll('button[data-retry]').length")) as? Int ?? 0) == 1
        }
        #expect(try shown(browser).dead == 1)
        #expect(try browser.run("return document.querySelector('button[data-retry-all]').textContent") as? String == "retry these 1",
                "the list's jobs can be retried or deleted all at once")
        let deadID = try #require(try browser.run("return document.querySelector('[data-dead-job]').dataset.deadJob") as? String)
        try browser.screenshot(to: scratch.file("dashboard-dead-job.png"))
        try browser.click("button[data-retry]")
        try waitFor("the retried job to run again and the page to count no dead job", seconds: 5) {
            scratch.read("work/handled").components(separatedBy: " flaky").count == 3 && (try? shown(browser))?.dead == 0
        }
        try waitFor("the retry among the pool's log lines on the page") {
            ((try? browser.run("return document.querySelector('[data-log=\"feed\"]').textContent")) as? String ?? "").contains("dashboard: retry of job \(deadID)")
        }
        let done = try runSolo(["queue", "list", "--state", "done", "--json", "--config", "solo.conf"], in: scratch)
        #expect(done.stdout.contains("\"result\":\"second time\""), "\(done.stdout)")
        // The job looked up by id on the page: its result, as the queue has it.
        try browser.type("input[data-lookup-input=\"feed\"]", deadID)
        try browser.click("button[data-action=\"lookup\"]")
        try waitFor("the job looked up on the page") {
            ((try? browser.run("return document.querySelector('[data-lookup=\"feed\"]').textContent")) as? String ?? "").contains("result: second time")
        }

        // A group: its progress, and its results once it is done.
        let group = try runSolo(["push", "--config", "solo.conf", "--group", "batch"], in: scratch, input: Array("g1\ng2\n".utf8))
        try #require(group.status == 0, "\(group.stderr)")
        try waitFor("the page to show group batch finished") {
            ((try? browser.run("return document.querySelector('[data-group=\"batch\"] [data-field=\"group-progress\"]').textContent")) as? String ?? "") == " 2 of 2 finished"
        }
        try browser.click("button[data-group-results=\"batch\"]")
        try waitFor("the group's results on the page") {
            ((try? browser.run("return document.querySelector('[data-group-results-of=\"feed/batch\"]').textContent")) as? String ?? "").hasPrefix("batch: 2 jobs, 2 done, 0 dead")
        }

        let screenshot = scratch.file("dashboard.png")
        try browser.screenshot(to: screenshot)
        print("dashboard screenshot: \(screenshot)")
        browser.quit()
        #expect(try supervisor.stop() == 0)
    }
}
