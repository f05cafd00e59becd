import Foundation
import Glibc
import Testing

/// A small blocking HTTP/1.1 client over a loopback socket, for tests (WebDriver, and the
/// requests a browser would not make): one request a connection, its answer read by its
/// Content-Length (chromedriver does not close first, nor answer HTTP/1.0).
enum TestHTTP {
    static func request(_ method: String, port: UInt16, _ path: String, body: Data? = nil, headers: [String: String] = [:],
                        seconds: Int = 30) throws -> (status: Int, body: Data) {
        let (socket, error) = connectLoopback(port)
        guard let socket else { throw WebDriverError(message: "cannot connect to 127.0.0.1:\(port): errno \(error)") }
        defer { close(socket) }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nContent-Length: \(body?.count ?? 0)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let request = Array((head + "\r\n").utf8) + [UInt8](body ?? Data())
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw WebDriverError(message: "\(method) \(path): send failed, errno \(errno)") }
            sent += n
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        func answer() -> (status: Int, body: Data)? {
            let text = String(decoding: received, as: UTF8.self)
            guard let split = text.range(of: "\r\n\r\n") else { return nil }
            let head = text[..<split.lowerBound]
            let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
            let body = Array(text[split.upperBound...].utf8)
            guard let status = Int(head.split(separator: " ").dropFirst().first ?? ""), body.count >= (length ?? Int.max) else { return nil }
            return (status, Data(body))
        }
        while true {
            if let whole = answer() { return whole }
            let n = recv(socket, &chunk, chunk.count, 0)
            guard n > 0 else {
                throw WebDriverError(message: "\(method) \(path): no whole answer within \(seconds) s (errno \(errno)): \(String(decoding: received.prefix(200), as: UTF8.self))")
            }
            received += chunk[0..<n]
        }
    }
}

/// Headless Chromium driven over the WebDriver protocol (W3C) through Debian's chromedriver,
/// started here on a free port, and killed (with every process below it) at the end.
final class Browser {
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"

    let driver: Child
    let port: UInt16
    private(set) var session = ""

    /// nil (after recording why) when Chromium or chromedriver is missing: .ci/run installs them.
    static func start(in scratch: Scratch) throws -> Browser? {
        for program in [chromium, chromedriver] where !FileManager.default.isExecutableFile(atPath: program) {
            Issue.record("\(program) is missing: the browser test needs Debian's chromium and chromium-driver (.ci/run installs them: apt-get install chromium chromium-driver)")
            return nil
        }
        return try Browser(scratch)
    }

    private init(_ scratch: Scratch) throws {
        let port = try freePort()
        self.port = port
        driver = try Child(["--port=\(port)"], in: scratch, name: "chromedriver", executable: Self.chromedriver)
        try waitFor("chromedriver to answer on \(port); its output: \(driver.stdout) \(driver.stderr) (running: \(driver.process.isRunning))", seconds: 20) {
            ((try? TestHTTP.request("GET", port: port, "/status", seconds: 2))?.status ?? 0) == 200
        }
        let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": ["binary": Self.chromium,
                                   "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-crash-reporter",
                                            "--window-size=1200,1400", "--user-data-dir=\(scratch.file("chromium-profile"))"]],
        ]]]
        let answer = try call("POST", "/session", capabilities)
        session = try #require((answer as? [String: Any])?["sessionId"] as? String, "no session from chromedriver: \(answer)")
    }

    deinit { quit() }

    /// Ends the session (chromedriver closes the browser), then kills chromedriver and whatever
    /// it left below it, by pid.
    func quit() {
        if !session.isEmpty { _ = try? call("DELETE", "/session/\(session)", seconds: 10) }
        session = ""
        guard driver.process.isRunning else { return }
        for pid in Self.descendants(of: driver.pid) + [driver.pid] { kill(pid, SIGKILL) }
    }

    /// Every process below `root`, from the parent pids in /proc.
    static func descendants(of root: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { children[parent, default: []].append(pid) }
        }
        var found: [pid_t] = []
        var next = [root]
        while let pid = next.popLast() {
            let below = children[pid] ?? []
            found += below
            next += below
        }
        return found
    }

    @discardableResult
    func call(_ method: String, _ path: String, _ body: Any? = nil, seconds: Int = 60) throws -> Any {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? (method == "POST" ? Data("{}".utf8) : nil)
        let answer = try TestHTTP.request(method, port: port, path, body: data, headers: ["Content-Type": "application/json"], seconds: seconds)
        let json = try JSONSerialization.jsonObject(with: answer.body, options: [.fragmentsAllowed]) as? [String: Any]
        guard answer.status == 200 else { throw WebDriverError(message: "\(method) \(path): \(answer.status) \(json?["value"] ?? "")") }
        return json?["value"] ?? NSNull()
    }

    func open(_ url: String) throws { try call("POST", "/session/\(session)/url", ["url": url]) }

    /// The value of a JavaScript function body run in the page.
    func run(_ script: String) throws -> Any { try call("POST", "/session/\(session)/execute/sync", ["script": script, "args": []]) }

    /// Clicks the element the CSS selector finds, as a user would.
    func click(_ selector: String) throws {
        try call("POST", "/session/\(session)/element/\(try element(selector))/click")
    }

    /// Types into the element the CSS selector finds.
    func type(_ selector: String, _ text: String) throws {
        try call("POST", "/session/\(session)/element/\(try element(selector))/value", ["text": text])
    }

    func element(_ selector: String) throws -> String {
        let found = try call("POST", "/session/\(session)/element", ["using": "css selector", "value": selector]) as? [String: Any]
        return try #require(found?.values.first as? String, "no element \(selector)")
    }

    func screenshot(to path: String) throws {
        let base64 = try #require(try call("GET", "/session/\(session)/screenshot") as? String)
        try #require(FileManager.default.createFile(atPath: path, contents: Data(base64Encoded: base64)))
    }
}

struct WebDriverError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
