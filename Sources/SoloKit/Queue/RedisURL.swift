/// Where a Redis server is, as the usual URL says it:
/// `redis://[[user]:password@]host[:port][/db]`, and for a fleet lock `.../NAME` or
/// `.../db/NAME`. Percent-escapes are decoded in the user and password (`%40` for `@`).
public struct RedisURL: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16 = 6379
    public var user: String? = nil
    public var password: String? = nil
    public var database = 0
    /// The lock's name, for `-lock=redis://host/NAME`.
    public var name: String? = nil

    public init(host: String, port: UInt16 = 6379, user: String? = nil, password: String? = nil, database: Int = 0, name: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.name = name
    }

    /// The URL with the password left out: fit for logs, `solo status` and metrics labels.
    public var description: String {
        let who = (user ?? "") + (password == nil ? "" : ":***")
        return "redis://\(who.isEmpty ? "" : who + "@")\(host):\(port)/\(database)" + (name.map { "/\($0)" } ?? "")
    }

    /// The server and database only (two pools on one server and database share a connection).
    public var server: RedisURL {
        var copy = self
        copy.name = nil
        return copy
    }

    static let example = "redis://127.0.0.1:6379/0"

    /// Parses a URL; `named` asks for a lock name after the database (`redis://host/NAME`).
    public static func parse(_ text: String, named: Bool = false) throws(ValueError) -> RedisURL {
        let example = named ? "redis://127.0.0.1:6379/nightly-report" : Self.example
        if text.hasPrefix("rediss://") {
            throw ValueError("\(quoted(text)): TLS (rediss://) is not supported; reach Redis over loopback or a tunnel (like \(example))")
        }
        guard text.hasPrefix("redis://") else { throw ValueError("\(quoted(text)) is not a Redis URL (write \(example))") }
        var rest = Substring(text.dropFirst("redis://".count))
        var url = RedisURL(host: "")
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = try decode(credentials[..<colon], in: text)
                url.user = user.isEmpty ? nil : user
                url.password = try decode(credentials[credentials.index(after: colon)...], in: text)
            } else {
                // redis://secret@host is how many clients write a password alone.
                url.password = try decode(credentials, in: text)
            }
        }
        if rest.hasPrefix("[") {
            throw ValueError("\(quoted(text)): IPv6 addresses are not supported (use an IPv4 address or a host name)")
        }
        if let colon = rest.lastIndex(of: ":") {
            let port = rest[rest.index(after: colon)...]
            guard let number = UInt16(port), number > 0 else {
                throw ValueError("\(quoted(text)): \(quoted(port)) is not a port (1 to 65535; Redis uses 6379)")
            }
            url.port = number
            rest = rest[..<colon]
        }
        guard !rest.isEmpty, rest.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else {
            throw ValueError("\(quoted(text)) has no host (write \(example))")
        }
        url.host = String(rest)

        var segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if segments.last == "" { segments.removeLast() }
        if let first = segments.first, let database = Int(first), first.allSatisfy(\.isNumber), segments.count > (named ? 1 : 0) {
            guard database <= 65535 else { throw ValueError("\(quoted(text)): database \(first) is out of range (0 to 65535; Redis has 0 to 15 by default)") }
            url.database = database
            segments.removeFirst()
        }
        if named {
            guard segments.count == 1, let name = segments.first, !name.isEmpty else {
                throw ValueError("\(quoted(text)) names no lock (write \(example), or redis://HOST:PORT/DB/NAME)")
            }
            guard name.count <= 128, name.allSatisfy({ $0.isLetter || $0.isNumber || "._-:".contains($0) }) else {
                throw ValueError("\(quoted(text)): lock name \(quoted(name)) may hold only letters, digits, ., _, - and : (like nightly-report)")
            }
            url.name = name
        } else if !segments.isEmpty {
            throw ValueError("\(quoted(text)): \(quoted(path)) is not a database number (write \(example))")
        }
        return url
    }

    private static func decode(_ text: Substring, in url: String) throws(ValueError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next(), let low = iterator.next(),
                  let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) else {
                throw ValueError("\(quoted(url)): a bad percent escape in the user or password (write %40 for @, %3A for :)")
            }
            bytes.append(value)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
