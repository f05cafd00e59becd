/// The little HTTP/1.x that solo's own endpoints speak (the metrics, the dashboard): one
/// request read whole (head, then a body of at most a fixed size), an answer that says what
/// to fix. A client can never make solo buffer without end: heads and bodies are capped.
public struct HTTPRequest: Equatable, Sendable {
    public var method: String
    /// The path without its query, as sent (no percent-decoding: solo's paths need none).
    public var path: String
    /// The query's parameters, percent-decoded; the first of a repeated name wins.
    public var query: [String: String]
    /// Header names in lower case; the first of a repeated header wins.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

public enum HTTP {
    /// A request head longer than this is refused (431).
    public static let maximumHead = 8192

    public enum Parsed: Equatable {
        /// More bytes are needed.
        case incomplete
        /// A whole request, and how many of the bytes it took.
        case request(HTTPRequest, length: Int)
        /// An answer that ends the connection (malformed, too large).
        case refused([UInt8])
    }

    /// Reads the request at the start of `received`; a body (Content-Length) of up to
    /// `maximumBody` bytes is waited for, a longer one refused (413).
    public static func parse(_ received: [UInt8], maximumBody: Int) -> Parsed {
        guard let headEnd = endOfHead(received) else {
            return received.count > maximumHead ? .refused(reply(431, "request head over 8 KiB\n")) : .incomplete
        }
        guard headEnd <= maximumHead else { return .refused(reply(431, "request head over 8 KiB\n")) }
        let lines = String(decoding: received[..<headEnd], as: UTF8.self).split(whereSeparator: \.isNewline)
        let parts = (lines.first.map(String.init) ?? "").split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1."), parts[1].hasPrefix("/") else {
            return .refused(reply(400, "expected a request line like GET /metrics HTTP/1.1\n"))
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            if headers[name] == nil { headers[name] = String(line[line.index(after: colon)...].trimmingSpaces()) }
        }
        var length = 0
        if let text = headers["content-length"] {
            guard let value = Int(text), value >= 0 else { return .refused(reply(400, "Content-Length \(text) is not a number of bytes\n")) }
            guard value <= maximumBody else { return .refused(reply(413, "request body over \(maximumBody) bytes\n")) }
            length = value
        }
        guard received.count >= headEnd + length else { return .incomplete }
        let target = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let request = HTTPRequest(method: String(parts[0]), path: String(target[0]),
                                  query: target.count > 1 ? queryParameters(String(target[1])) : [:],
                                  headers: headers, body: Array(received[headEnd..<headEnd + length]))
        return .request(request, length: headEnd + length)
    }

    /// `a=1&b=x%20y` as a dictionary; `+` is a space, as in a form.
    public static func queryParameters(_ query: String) -> [String: String] {
        var parameters: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let halves = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecoded(String(halves[0]))
            if parameters[name] == nil { parameters[name] = halves.count > 1 ? percentDecoded(String(halves[1])) : "" }
        }
        return parameters
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
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

    /// A whole answer, closed after it (`Connection: close`): solo serves one request a connection.
    public static func reply(_ status: Int, _ body: String, contentType: String = "text/plain; charset=utf-8",
                             extra: [(String, String)] = [], head: Bool = false) -> [UInt8] {
        let bodyBytes = Array(body.utf8)
        var text = "HTTP/1.1 \(status) \(reason(status))\r\nContent-Type: \(contentType)\r\nContent-Length: \(bodyBytes.count)\r\n"
        for (name, value) in extra { text += "\(name): \(value)\r\n" }
        text += "Connection: close\r\n\r\n"
        return Array(text.utf8) + (head ? [] : bodyBytes)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Error"
        }
    }
}
