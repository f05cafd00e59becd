/// What the dashboard (`dashboard_listen`) is asked, and whether the asker may: pure, so the
/// token and origin checks are tested without a socket. The supervisor does what a route says.
public enum DashboardRoute: Equatable, Sendable {
    /// The page itself.
    case page
    /// Server-sent events: the status, the queues and the recent log lines, every second.
    case events
    /// The same, once, as JSON.
    case status
    /// Each queue's throughput and wait over the last hour (`QueueHistory`).
    case history
    case steer(pool: String, ControlRequest.Steering)
    case scale(pool: String, workers: Int)
    /// Retry or delete dead jobs of the pool's queue.
    case jobs(JobChange, pool: String, ids: [Int64])
    /// One job of the pool's queue (nil: the one queue of the config).
    case job(pool: String?, id: Int64)
    /// The jobs of a group in the pool's queue, or the one holding a unique key.
    case findJobs(pool: String?, JobSearch)
    /// Up to `limit` dead jobs of each queue.
    case dead(limit: Int)
    /// The groups of the jobs handed to workers lately, each with its counts.
    case groups
    /// Every live supervisor that shares a Redis server with this one, from the heartbeats.
    case cluster
    /// One group's counts in the pool's queue (nil: the one queue of the config), and its
    /// results and dead jobs once it is done.
    case group(String, pool: String?)
}

/// How the lookup box finds jobs besides by id.
public enum JobSearch: Equatable, Sendable {
    case group(String)
    case uniqueKey(String)
}

public enum DashboardHTTP {
    /// The longest body an action may have (a list of job ids).
    public static let maximumBody = 64 * 1024
    /// The header an action carries the token in (a page on another origin cannot set it
    /// without a CORS preflight, which solo never answers).
    public static let tokenHeader = "x-solo-token"

    /// Why a request is refused: its status and a message that says what to do.
    public struct Refusal: Error, Equatable {
        public let status: Int
        public let message: String
    }

    /// What `request` asks for, or why it is refused. `token` is the current one (nil: none
    /// could be read); `allowedHosts` are host names (besides IP literals and localhost) that an
    /// action's Host header may carry.
    public static func route(_ request: HTTPRequest, token: String?, readonly: Bool, allowedHosts: Set<String> = []) -> Result<DashboardRoute, Refusal> {
        let post = request.method == "POST"
        guard post || request.method == "GET" else { return .failure(Refusal(status: 405, message: "only GET and POST are served")) }
        // The page itself holds no data, and is served without the token, so that reloading it
        // (the token is then in the tab's sessionStorage, no longer in the address) works.
        if !post && request.path == "/" { return .success(.page) }
        guard let token else { return .failure(Refusal(status: 503, message: "no dashboard token could be read from state_dir (run solo dashboard, which makes one)")) }
        // An action takes the token from the header alone: a query or a link could be forged into another page.
        let given = post ? request.headers[tokenHeader] : request.headers[tokenHeader] ?? request.query["token"]
        guard tokenMatches(given, token) else {
            return .failure(Refusal(status: 401, message: "a valid token is needed: open the URL that solo dashboard prints"))
        }
        if post {
            guard sameOrigin(request.headers, allowedHosts: allowedHosts) else {
                return .failure(Refusal(status: 403, message: "actions are taken only from the dashboard's own page (the Origin header must be its own)"))
            }
            guard !readonly else { return .failure(Refusal(status: 403, message: "dashboard_readonly = yes: actions are refused (use the solo command)")) }
        }
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch (post, parts.count, parts.first) {
        case (false, 0, _): return .success(.page)
        case (false, 1, "events"): return .success(.events)
        case (false, 2, "api") where parts[1] == "status": return .success(.status)
        case (false, 2, "api") where parts[1] == "history": return .success(.history)
        case (false, 2, "api") where parts[1] == "dead":
            let limit = request.query["limit"].map { Int($0) } ?? 50
            guard let limit, (1...200).contains(limit) else { return .failure(Refusal(status: 400, message: "limit must be a number from 1 to 200")) }
            return .success(.dead(limit: limit))
        case (false, 2, "api") where parts[1] == "groups": return .success(.groups)
        case (false, 2, "api") where parts[1] == "cluster": return .success(.cluster)
        case (false, 3, "api") where parts[1] == "groups": return .success(.group(HTTP.percentDecoded(parts[2]), pool: request.query["pool"]))
        case (false, 2, "api") where parts[1] == "jobs":
            switch (request.query["group"], request.query["key"]) {
            case (let group?, nil) where !group.isEmpty: return .success(.findJobs(pool: request.query["pool"], .group(group)))
            case (nil, let key?) where !key.isEmpty: return .success(.findJobs(pool: request.query["pool"], .uniqueKey(key)))
            default: return .failure(Refusal(status: 400, message: "say which jobs: ?group=NAME or ?key=UNIQUE_KEY (one of them)"))
            }
        case (false, 3, "api") where parts[1] == "jobs":
            guard let id = Int64(parts[2]), id > 0 else { return .failure(Refusal(status: 400, message: "\(parts[2]) is not a job id (a number)")) }
            return .success(.job(pool: request.query["pool"], id: id))
        case (true, 4, "api") where parts[1] == "pool":
            let pool = parts[2]
            if let steering = ControlRequest.Steering(rawValue: parts[3]) { return .success(.steer(pool: pool, steering)) }
            guard parts[3] == "scale" else { break }
            guard let workers = request.query["n"].flatMap({ Int($0) }), (0...4096).contains(workers) else {
                return .failure(Refusal(status: 400, message: "scale needs n, a number of workers from 0 to 4096 (?n=4)"))
            }
            return .success(.scale(pool: pool, workers: workers))
        case (true, 3, "api") where parts[1] == "jobs" && (parts[2] == "retry" || parts[2] == "delete"):
            return jobChange(parts[2] == "retry" ? .retry : .delete, body: request.body)
        default: break
        }
        let allowed = post ? "POST /api/pool/NAME/{stop,start,restart,scale?n=N}, /api/jobs/{retry,delete}"
                           : "GET /, /events, /api/status, /api/history, /api/dead?limit=N, /api/jobs/ID?pool=NAME, /api/jobs?group=NAME|key=KEY, /api/groups, /api/groups/NAME?pool=NAME, /api/cluster"
        return .failure(Refusal(status: 404, message: "no such \(post ? "action" : "page") \(request.path): \(allowed)"))
    }

    /// `{"pool": "mailer", "ids": [12, 13]}`: dead jobs of the pool's queue.
    static func jobChange(_ change: JobChange, body: [UInt8]) -> Result<DashboardRoute, Refusal> {
        let usage = "the body must be JSON like {\"pool\": \"mailer\", \"ids\": [12, 13]}"
        guard let json = try? JSON.parse(String(decoding: body, as: UTF8.self)), let pool = json["pool"]?.stringValue, !pool.isEmpty,
              let list = json["ids"]?.arrayValue, !list.isEmpty, list.count <= 1000 else {
            return .failure(Refusal(status: 400, message: usage))
        }
        let ids = list.compactMap(\.intValue).map(Int64.init).filter { $0 > 0 }
        guard ids.count == list.count else { return .failure(Refusal(status: 400, message: usage)) }
        return .success(.jobs(change, pool: pool, ids: ids))
    }

    /// Compares in time that does not depend on where the two differ.
    public static func tokenMatches(_ given: String?, _ token: String) -> Bool {
        guard let given, !token.isEmpty else { return false }
        let a = Array(given.utf8), b = Array(token.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// Whether an action comes from the dashboard's own page: its Origin is `http://` and the
    /// Host it was sent to (or, without an Origin, the browser says same-origin). The Host must
    /// be an IP address, localhost or an allowed name, so that a foreign name pointed at this
    /// machine (DNS rebinding) is no origin of its own.
    public static func sameOrigin(_ headers: [String: String], allowedHosts: Set<String> = []) -> Bool {
        guard let host = headers["host"]?.lowercased(), isOwnHost(host, allowedHosts: allowedHosts) else { return false }
        guard let origin = headers["origin"] else { return headers["sec-fetch-site"] == "same-origin" }
        return origin.lowercased() == "http://" + host
    }

    static func isOwnHost(_ host: String, allowedHosts: Set<String>) -> Bool {
        var name = Substring(host)
        if name.hasPrefix("[") { return name.contains("]") }
        if let colon = name.lastIndex(of: ":") {
            guard name[name.index(after: colon)...].allSatisfy(\.isNumber) else { return false }
            name = name[..<colon]
        }
        if name == "localhost" || allowedHosts.contains(String(name)) { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { UInt8($0) != nil }
    }

    /// The URL to open: every interface (0.0.0.0) is reached on this machine through 127.0.0.1.
    public static func url(_ address: ListenAddress, token: String) -> String {
        "http://\(LockAddress.format(address.address == 0 ? 0x7F00_0001 : address.address)):\(address.port)/?token=\(token)"
    }

    /// The head of an event stream; its events follow, each `data: JSON` and a blank line.
    public static let streamHead = Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n".utf8)

    public static func event(_ json: String) -> [UInt8] { Array("data: \(json)\n\n".utf8) }

    /// A refusal as the client sees it: JSON for the API, text otherwise.
    public static func answer(_ refusal: Refusal) -> [UInt8] {
        HTTP.reply(refusal.status, JSON.object([("ok", .bool(false)), ("error", .string(refusal.message))]).text + "\n",
                   contentType: "application/json")
    }

    public static func answer(_ json: JSON, status: Int = 200) -> [UInt8] {
        HTTP.reply(status, json.text + "\n", contentType: "application/json", extra: [("Cache-Control", "no-store")])
    }
}

/// The dashboard's secret: 32 random bytes in hex, in `state_dir/dashboard.token` (mode 0600).
/// The supervisor reads it at every request, so a new one (`solo dashboard --new-token`) takes
/// effect at once, and the old one stops working.
public enum DashboardToken {
    public static func path(_ global: GlobalConfig) -> String { global.stateDirectory + "/dashboard.token" }

    public static func read(_ path: String) -> String? {
        let text = ((try? Files.readText(path, limit: 256)) ?? "").prefix { $0.isHexDigit }
        return text.count >= 32 ? String(text) : nil
    }

    /// The token, made first if there is none.
    public static func readOrCreate(_ path: String) throws(Errno) -> String {
        if let token = read(path) { return token }
        return try renew(path)
    }

    /// A new token in place of the old one.
    @discardableResult
    public static func renew(_ path: String) throws(Errno) -> String {
        var random = SystemRandomNumberGenerator()  // getrandom(2) on Linux
        var token = ""
        for _ in 0..<4 {
            let word = String(random.next(), radix: 16)
            token += String(repeating: "0", count: 16 - word.count) + word
        }
        let directory = Path.directory(of: path)
        try Files.makeDirectories(directory, mode: 0o700)
        try Files.writeAtomically(path, token + "\n", mode: 0o600)
        // Written by root (`sudo solo dashboard --new-token`) for a supervisor that runs as the
        // state directory's owner: the file is that owner's, or it could not read it.
        if Accounts.effectiveUID == 0 { try Files.takeOwner(path, from: directory) }
        return token
    }
}
