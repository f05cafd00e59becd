/// The parsers of config values: sizes, durations, ranges, booleans, signals, octal modes,
/// environment lists. Each failure is a message that says what would be right. (The sizes and
/// durations are written back in Basics/ValueFormats.swift, which every layer uses.)
extension Values {
    /// `128M`, `1G`, `512k`, `64MB`, `2GiB` or plain bytes. Units are binary (1M = 1024 × 1024),
    /// as in PHP's memory_limit.
    public static func size(_ text: String) throws(ValueError) -> UInt64 {
        let lower = text.lowercased()
        var digits = Substring(lower)
        var unitText = ""
        while let last = digits.last, !last.isNumber && last != "." {
            unitText.insert(last, at: unitText.startIndex)
            digits.removeLast()
        }
        let multipliers: [String: UInt64] = [
            "": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
            "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
        ]
        guard !digits.isEmpty, let multiplier = multipliers[unitText.trimmed] else {
            throw ValueError("\(quoted(text)) is not a size (try 128M, 1G or 512K)")
        }
        let number = digits.trimmingSpaces()
        if let whole = UInt64(number) {
            let (value, overflow) = whole.multipliedReportingOverflow(by: multiplier)
            if overflow { throw ValueError("\(quoted(text)) is too large") }
            return value
        }
        if number.allSatisfy({ $0.isNumber || $0 == "." }), let fraction = Double(number), multiplier > 1 {
            let bytes = fraction * Double(multiplier)
            guard bytes < 1.8e19 else { throw ValueError("\(quoted(text)) is too large") }
            return UInt64(bytes)
        }
        throw ValueError("\(quoted(text)) is not a size (try 128M, 1G or 512K)")
    }

    /// `500ms`, `30s`, `5m`, `1h`, `1d`, combinations like `1h30m`, or plain seconds.
    public static func duration(_ text: String) throws(ValueError) -> Duration {
        let lower = text.lowercased().trimmed
        let failure = ValueError("\(quoted(text)) is not a duration (try 30s, 500ms, 5m or 1h)")
        if let seconds = Int64(lower) {
            guard seconds >= 0 else { throw failure }
            guard seconds < 9_000_000_000 else { throw ValueError("\(quoted(text)) is too long") }
            return .seconds(seconds)
        }
        var total: Int64 = 0
        var rest = Substring(lower)
        guard !rest.isEmpty else { throw failure }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isNumber || $0 == "." }), let value = Double(number) else { throw failure }
            let scale: Double
            switch unit {
            case "ms": scale = 1e6
            case "s", "sec", "secs": scale = 1e9
            case "m", "min", "mins": scale = 60e9
            case "h", "hr", "hrs": scale = 3600e9
            case "d", "day", "days": scale = 86400e9
            case "us", "µs": scale = 1e3
            default: throw failure
            }
            let ns = value * scale
            let (sum, overflow) = total.addingReportingOverflow(ns < 9e18 ? Int64(ns) : .max)
            guard ns < 9e18, !overflow, sum < 9_000_000_000_000_000_000 else { throw ValueError("\(quoted(text)) is too long") }
            total = sum
        }
        return .nanoseconds(total)
    }

    /// A duration within bounds; `usual` is the value most setups want.
    public static func duration(_ text: String, in bounds: ClosedRange<Duration>, usual: String) throws(ValueError) -> Duration {
        let value = try duration(text)
        guard bounds.contains(value) else {
            throw ValueError("\(quoted(text)) is out of range (\(formatDuration(bounds.lowerBound)) to \(formatDuration(bounds.upperBound)); \(usual) is usual)")
        }
        return value
    }

    /// A whole number within bounds.
    public static func integer(_ text: String, in bounds: ClosedRange<Int>, example: String) throws(ValueError) -> Int {
        guard let value = Int(text.trimmed) else {
            throw ValueError("\(quoted(text)) is not a whole number (try \(example))")
        }
        guard bounds.contains(value) else {
            throw ValueError("\(value) is out of range (\(bounds.lowerBound) to \(bounds.upperBound))")
        }
        return value
    }

    /// `LOW-HIGH` or a single value, each parsed by `element`; `expected` is what a malformed
    /// range is not, with an example of the key's own kind.
    public static func range<T: Comparable>(_ text: String, expected: String = "a range (write LOW-HIGH, like 1000-2000)",
                                            _ element: (String) throws(ValueError) -> T) throws(ValueError) -> ClosedRange<T> {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { String($0.trimmingSpaces()) }
        if parts.count == 1 {
            let value = try element(parts[0])
            return value...value
        }
        guard !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ValueError("\(quoted(text)) is not \(expected)")
        }
        let low = try element(parts[0])
        let high = try element(parts[1])
        guard low <= high else { throw ValueError("\(quoted(text)) is backwards (write \(parts[1])-\(parts[0]))") }
        return low...high
    }

    public static func bool(_ text: String) throws(ValueError) -> Bool {
        switch text.lowercased() {
        case "yes", "true", "on", "1": return true
        case "no", "false", "off", "0": return false
        default: throw ValueError("\(quoted(text)) is not yes or no")
        }
    }

    public static func signal(_ text: String) throws(ValueError) -> Int32 {
        guard let number = Signals.number(named: text) else {
            throw ValueError("\(quoted(text)) is not a signal (try TERM, INT, QUIT, HUP or USR1)")
        }
        return number
    }

    /// `PORT` (on 127.0.0.1), `ADDRESS:PORT`, `localhost:PORT` or `*:PORT` (every interface);
    /// nil for `none`. IPv4 only: solo listens on nothing else.
    public static func listenAddress(_ text: String) throws(ValueError) -> ListenAddress? {
        if text.isEmpty || text == "none" || text == "off" { return nil }
        let example = "127.0.0.1:9464, or none"
        if text.hasPrefix("[") || text.filter({ $0 == ":" }).count > 1 {
            throw ValueError("\(quoted(text)): IPv6 is not supported (write an IPv4 address, like \(example))")
        }
        let host: Substring, portText: Substring
        if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = "127.0.0.1"
            portText = text[...]
        }
        guard let port = UInt16(portText), port > 0 else {
            throw ValueError("\(quoted(text)) has no port from 1 to 65535 (try \(example))")
        }
        switch host {
        case "localhost": return ListenAddress(address: 0x7F00_0001, port: port)
        case "*": return ListenAddress(address: 0, port: port)
        default:
            guard let address = LockAddress.parse(String(host)) else {
                throw ValueError("\(quoted(String(host))) is not an IPv4 address (try \(example))")
            }
            return ListenAddress(address: address, port: port)
        }
    }

    /// An octal file mode mask such as `022` or `0027`.
    public static func octalMode(_ text: String) throws(ValueError) -> UInt32 {
        guard !text.isEmpty, text.count <= 4, let value = UInt32(text, radix: 8), value <= 0o777 else {
            throw ValueError("\(quoted(text)) is not an octal mask (try 022 or 027)")
        }
        return value
    }

    /// Removes one pair of surrounding quotes.
    public static func unquote(_ text: String) -> String {
        if text.count >= 2, let first = text.first, first == "\"" || first == "'", text.last == first {
            return String(text.dropFirst().dropLast())
        }
        return text
    }

    /// `KEY=value, OTHER="a, b", THIRD='x'`: supervisord's environment syntax.
    public static func environment(_ text: String) throws(ValueError) -> [(String, String)] {
        var result: [(String, String)] = []
        var rest = Substring(text)
        while true {
            rest = rest.trimmingSpaces()
            if rest.isEmpty { break }
            guard let equals = rest.firstIndex(of: "=") else {
                throw ValueError("\(quoted(rest.prefix { $0 != "," })) has no = (write NAME=value, NAME2=\"value 2\")")
            }
            let name = String(rest[..<equals].trimmingSpaces())
            guard isEnvironmentName(name) else {
                throw ValueError("\(quoted(name)) is not a variable name (letters, digits and _, not starting with a digit)")
            }
            rest = rest[rest.index(after: equals)...].trimmingSpaces()
            var value = ""
            if let quote = rest.first, quote == "\"" || quote == "'" {
                var index = rest.index(after: rest.startIndex)
                var closed = false
                while index < rest.endIndex {
                    let c = rest[index]
                    if c == "\\" && quote == "\"", rest.index(after: index) < rest.endIndex {
                        index = rest.index(after: index)
                        value.append(rest[index])
                    } else if c == quote {
                        closed = true
                        break
                    } else {
                        value.append(c)
                    }
                    index = rest.index(after: index)
                }
                guard closed else { throw ValueError("the value of \(name) has no closing \(quote)") }
                rest = rest[rest.index(after: index)...].trimmingSpaces()
                if !rest.isEmpty && rest.first != "," {
                    throw ValueError("expected a comma after the value of \(name)")
                }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = String(rest[..<end].trimmingSpaces())
                rest = rest[end...]
            }
            result.append((name, value))
            if rest.first == "," { rest = rest.dropFirst() }
        }
        return result
    }

    public static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.first, first == "_" || first.isASCIILetter else { return false }
        return name.allSatisfy { $0 == "_" || $0.isASCIILetter || ($0.isASCII && $0.isNumber) }
    }

    // MARK: - formatting, for logs and `solo config check`

    public static func formatRange<T>(_ range: ClosedRange<T>, _ element: (T) -> String) -> String {
        element(range.lowerBound) + "-" + element(range.upperBound)
    }

    /// The closest of `candidates` to `word`, if close enough to be a likely typo.
    public static func suggestion(for word: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(word, $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let allowed = max(2, word.count / 3)
        if best.1 <= allowed { return best.0 }
        // A prefix or a part of a longer key (memory → memory_limit).
        return candidates.first { $0.hasPrefix(word) || word.hasPrefix($0) || $0.contains(word) && word.count >= 4 }
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

extension Character {
    var isASCIILetter: Bool { isASCII && isLetter }
}

extension String {
    /// Without leading and trailing whitespace.
    var trimmed: String { String(Substring(self).trimmingSpaces()) }
}
