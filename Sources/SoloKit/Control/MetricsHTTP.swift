/// The little HTTP/1.x a Prometheus scraper needs: a GET (or HEAD) of /metrics, answered
/// whole and closed. Anything else gets the status a client can act on, never a hang.
public enum MetricsHTTP {
    /// A request head longer than this is refused (431), so a client cannot make solo buffer without end.
    public static let maximumHead = 8192

    /// The answer to the request whose first bytes are `received`; nil while its head is incomplete.
    /// `metrics` is called only when the metrics are asked for.
    public static func response(to received: [UInt8], metrics: () -> String) -> [UInt8]? {
        guard let headEnd = endOfHead(received) else {
            return received.count > maximumHead ? reply(431, "Request Header Fields Too Large", "request head over 8 KiB\n") : nil
        }
        guard headEnd <= maximumHead else { return reply(431, "Request Header Fields Too Large", "request head over 8 KiB\n") }
        let head = String(decoding: received[..<headEnd], as: UTF8.self)
        let requestLine = head.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/") else {
            return reply(400, "Bad Request", "expected a request line like GET /metrics HTTP/1.1\n")
        }
        let method = String(parts[0])
        let path = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard method == "GET" || method == "HEAD" else {
            return reply(405, "Method Not Allowed", "only GET and HEAD are served\n", extra: [("Allow", "GET, HEAD")], head: method == "HEAD")
        }
        switch path {
        case "/metrics":
            return reply(200, "OK", metrics(), contentType: MetricsText.contentType, head: method == "HEAD")
        case "/":
            return reply(200, "OK", "solo: the metrics are at /metrics\n", head: method == "HEAD")
        default:
            return reply(404, "Not Found", "no such page: the metrics are at /metrics\n", head: method == "HEAD")
        }
    }

    /// Where the blank line that ends the head ends (CRLF CRLF, or bare LF LF from a lax client).
    static func endOfHead(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { return index + 2 }
                if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") { return index + 3 }
            }
            index += 1
        }
        return nil
    }

    static func reply(_ status: Int, _ reason: String, _ body: String, contentType: String = "text/plain; charset=utf-8",
                      extra: [(String, String)] = [], head: Bool = false) -> [UInt8] {
        let bodyBytes = Array(body.utf8)
        var text = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(bodyBytes.count)\r\n"
        for (name, value) in extra { text += "\(name): \(value)\r\n" }
        text += "Connection: close\r\n\r\n"
        return Array(text.utf8) + (head ? [] : bodyBytes)
    }
}
