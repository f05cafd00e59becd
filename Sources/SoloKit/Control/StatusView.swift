/// `solo status` as text: a line per pool, a line per worker, from the supervisor's JSON.
/// What workers wrote (their status lines, how they ended) is escaped: see `Printable`.
public enum StatusView {
    public static func render(_ status: JSON) -> String {
        var lines: [String] = []
        let uptime = status["uptime_ms"]?.intValue.map { Values.formatElapsed(.milliseconds($0)) } ?? "?"
        lines.append(Printable.escape("solo \(status["pid"]?.intValue.map(String.init) ?? "?"), up \(uptime), \(status["config"]?.stringValue ?? "")"))
        if let lock = status["fleet_lock"] { lines.append(Printable.escape(fleetLock(lock))) }
        for pool in status["pools"]?.arrayValue ?? [] {
            lines.append("")
            var head = "\(pool["name"]?.stringValue ?? "?"): \(pool["state"]?.stringValue ?? "?"), "
            let fastcgi = pool["fastcgi"]
            head += fastcgi.map { "\($0["in_flight"]?.intValue ?? 0)/\(pool["workers_wanted"]?.intValue ?? 0) requests in flight" }
                ?? "\(pool["workers_running"]?.intValue ?? 0)/\(pool["workers_wanted"]?.intValue ?? 0) workers"
            if let scaling = pool["scaling"], let low = scaling["min"]?.intValue, let high = scaling["max"]?.intValue {
                head += " (scaling \(low)-\(high))"
            }
            head += ", "
            head += "\(pool["mode"]?.stringValue ?? "?") mode, \(Progress.formatRate((pool["jobs_per_second"].flatMap(doubleValue)) ?? 0)) jobs/s"
            if let rolling = pool["rolling_restart"]?.intValue, rolling > 0 { head += ", rolling restart: \(rolling) to go" }
            lines.append(Printable.escape(head))
            if let queue = pool["queue"] {
                var text = "  queue \(queue["name"]?.stringValue ?? "?"): "
                if let ready = queue["ready"]?.intValue {
                    text += "\(ready) ready, \(queue["delayed"]?.intValue ?? 0) delayed, \(queue["reserved"]?.intValue ?? 0) reserved, \(queue["dead"]?.intValue ?? 0) dead"
                }
                text += limits(queue)
                if let problem = queue["problem"]?.stringValue { text += " (unusable: \(problem))" }
                lines.append(Printable.escape(text))
            }
            for alert in pool["alerts"]?.arrayValue ?? [] { lines.append(Printable.escape("  alert: \(alert.stringValue ?? "?")")) }
            if let fastcgi {
                var text = "  php-fpm at \(fastcgi["address"]?.stringValue ?? "?"), script \(fastcgi["script"]?.stringValue ?? "?")"
                if let problem = fastcgi["problem"]?.stringValue {
                    let retry = Values.formatElapsed(.milliseconds(fastcgi["retry_in_ms"]?.intValue ?? 0))
                    text += ": \(problem); jobs wait, trying again in \(retry)"
                }
                lines.append(Printable.escape(text))
                continue
            }
            var rows = [["  SLOT", "PID", "STATE", "UPTIME", "JOBS", "RSS", "JOB", "RESTARTS", "LAST EXIT"]]
            for worker in pool["workers"]?.arrayValue ?? [] {
                let jobs = (worker["jobs"]?.intValue).map { done in "\(done)/" + (worker["job_limit"]?.intValue.map(String.init) ?? "-") } ?? ""
                var state = worker["state"]?.stringValue ?? "?"
                if let restart = worker["restart_in_ms"]?.intValue { state += " \(Values.formatElapsed(.milliseconds(restart)))" }
                var rss = worker["rss"]?.intValue.map { Values.formatSize(UInt64($0)) } ?? ""
                if let limit = pool["memory_limit"]?.intValue, !rss.isEmpty { rss += "/" + Values.formatSize(UInt64(limit)) }
                let job = worker["job"].map { "#\($0["id"]?.intValue ?? 0) " + Values.formatElapsed(.milliseconds($0["age_ms"]?.intValue ?? 0)) } ?? ""
                rows.append(["  \(worker["slot"]?.intValue ?? 0)", worker["pid"]?.intValue.map(String.init) ?? "-", state,
                             worker["uptime_ms"]?.intValue.map { Values.formatElapsed(.milliseconds($0)) } ?? "",
                             jobs, rss, job, "\(worker["restarts"]?.intValue ?? 0)",
                             worker["last_exit"]?.stringValue ?? (worker["status"]?.stringValue.map { "status: " + $0 } ?? "")])
            }
            lines.append(columns(rows))
        }
        return lines.joined(separator: "\n")
    }

    /// What holds the queue's jobs back, and how long the oldest has waited: "; oldest waiting
    /// 12s; held back: 3 by key_concurrency; at concurrency 10".
    static func limits(_ queue: JSON) -> String {
        var text = ""
        if let oldest = queue["oldest_waiting_ms"]?.intValue { text += "; oldest waiting \(Values.formatElapsed(.milliseconds(oldest)))" }
        let held = [("key_concurrency", queue["held_key_concurrency"]?.intValue ?? 0), ("key_rate_limit", queue["held_key_rate_limit"]?.intValue ?? 0)]
            .filter { $0.1 > 0 }.map { "\($0.1) by \($0.0)" }
        if !held.isEmpty { text += "; held back: " + held.joined(separator: ", ") }
        if let limit = queue["limited_by"]?.stringValue {
            let value = queue[limit].map { $0.stringValue ?? $0.intValue.map(String.init) ?? "" } ?? ""
            text += "; at \(limit) \(value)"
        }
        return text
    }

    /// `fleet lock reports: holding (fence 7), valid for 28s` or who holds it instead.
    static func fleetLock(_ lock: JSON) -> String {
        let name = lock["name"]?.stringValue ?? "?"
        if lock["role"]?.stringValue == "holding" {
            let valid = lock["valid_ms"]?.intValue.map { ", valid for \(Values.formatElapsed(.milliseconds($0)))" } ?? ""
            return "fleet lock \(name): holding (fence \(lock["fence"]?.intValue ?? 0))\(valid)"
        }
        let holder = lock["holder"]?.stringValue.map { "held by \($0)" } ?? "free or unknown"
        let left = lock["holder_left_ms"]?.intValue.map { ", runs out in \(Values.formatElapsed(.milliseconds($0))) unless renewed" } ?? ""
        return "fleet lock \(name): standing by, \(holder)\(left)"
    }

    /// `solo status --cluster`: a row per pool of every live supervisor, from their heartbeats.
    public static func renderCluster(_ reports: [JSON]) -> String {
        var rows = [["SUPERVISOR", "ROLE", "UP", "POOL", "QUEUE", "WORKERS", "BUSY", "JOBS/S", "DONE"]]
        for report in reports {
            let owner = "\(report["owner"]?.stringValue ?? "?") (pid \(report["pid"]?.intValue ?? 0))"
            let role = report["fleet_lock"].map { $0["role"]?.stringValue ?? "?" } ?? "-"
            let up = report["uptime_ms"]?.intValue.map { Values.formatElapsed(.milliseconds($0)) } ?? "?"
            let pools = report["pools"]?.arrayValue ?? []
            if pools.isEmpty { rows.append([owner, role, up, "", "", "", "", "", ""]) }
            for (index, pool) in pools.enumerated() {
                let inFlight = pool["requests_in_flight"]?.intValue
                let workers = "\(inFlight ?? pool["workers_running"]?.intValue ?? 0)/\(pool["workers_wanted"]?.intValue ?? 0)" + (inFlight == nil ? "" : " requests")
                let state = pool["state"]?.stringValue.map { $0 == "running" ? "" : " " + $0 } ?? ""
                rows.append([index == 0 ? owner : "", index == 0 ? role : "", index == 0 ? up : "", pool["name"]?.stringValue ?? "?",
                             pool["queue_name"]?.stringValue ?? "", workers + state, "\(pool["busy"]?.intValue ?? 0)",
                             Progress.formatRate(pool["jobs_per_second"].flatMap(doubleValue) ?? 0), "\(pool["jobs_done"]?.intValue ?? 0)"])
            }
        }
        return columns(rows)
    }

    static func doubleValue(_ json: JSON) -> Double? {
        switch json {
        case .double(let value): return value
        case .number(let value): return Double(value)
        default: return nil
        }
    }

    /// Cells padded to their column's widest (control characters escaped first); the last
    /// column is left ragged.
    public static func columns(_ rows: [[String]]) -> String {
        let rows = rows.map { $0.map(Printable.escape) }
        guard let count = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
