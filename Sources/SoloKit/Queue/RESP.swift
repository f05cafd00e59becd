/// RESP2, the protocol Redis speaks (https://redis.io/docs/reference/protocol-spec/): commands
/// go out as arrays of bulk strings, replies come back as one of five types. Pure: no I/O.
public enum RESPValue: Equatable, Sendable {
    case simple(String)
    case error(String)
    case integer(Int64)
    /// nil: the null bulk string (a missing key).
    case bulk([UInt8]?)
    /// nil: the null array (a timed-out blocking command).
    case array([RESPValue]?)

    /// The text of a simple or bulk string.
    public var string: String? {
        switch self {
        case .simple(let text): return text
        case .bulk(let bytes?): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// An integer reply, or a string that holds one (Lua numbers come back as integers).
    public var integer: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulk, .simple: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    public var elements: [RESPValue]? {
        if case .array(let items?) = self { return items }
        return nil
    }

    public var isNull: Bool {
        switch self {
        case .bulk(nil), .array(nil): return true
        default: return false
        }
    }

    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}

/// A command, encoded once: `RedisCommand("SET", key, value)`.
public struct RedisCommand: Sendable {
    public private(set) var count = 0
    private var body: [UInt8] = []

    public init(_ words: [String]) {
        for word in words { append(word) }
    }

    public init(_ words: String...) { self.init(words) }

    public mutating func append(_ word: String) {
        var word = word
        word.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    public mutating func append(_ word: UnsafeRawBufferPointer) {
        body.append(UInt8(ascii: "$"))
        body.append(contentsOf: String(word.count).utf8)
        body.append(contentsOf: [13, 10])
        body.append(contentsOf: word)
        body.append(contentsOf: [13, 10])
        count += 1
    }

    public mutating func append(_ word: [UInt8]) {
        word.withUnsafeBytes { append($0) }
    }

    /// The command on the wire: `*N\r\n` and its N bulk strings.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "*")]
        out.append(contentsOf: String(count).utf8)
        out.append(contentsOf: [13, 10])
        out.append(contentsOf: body)
        return out
    }

    /// The first word, for messages ("EVALSHA", "AUTH").
    public var name: String {
        // "$LENGTH\r\nWORD\r\n..."
        guard let headerEnd = body.firstIndex(of: 10) else { return "" }
        return String(decoding: body[(headerEnd + 1)...].prefix { $0 != 13 }, as: UTF8.self)
    }
}

public struct RESPError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Reads replies from a byte stream as it arrives, in any chunks. It resumes where it stopped:
/// a reply of many megabytes that arrives in small reads is scanned once, not once per read.
public struct RESPParser: Sendable {
    /// The longest bulk string accepted (Redis allows 512 MB; solo's payloads are far smaller).
    public let maximumBulk: Int
    public static let maximumLine = 64 * 1024
    public static let maximumDepth = 16

    private var buffer: [UInt8] = []
    private var position = 0
    /// Arrays being filled: how many elements each still needs, and those it has.
    private var open: [(remaining: Int, items: [RESPValue])] = []

    public init(maximumBulk: Int = 512 << 20) {
        self.maximumBulk = maximumBulk
    }

    public var bufferedBytes: Int { buffer.count - position }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        // Consumed bytes go once they are the larger part: appends stay amortised O(1).
        if position > 0 && position >= buffer.count / 2 {
            buffer.removeSubrange(0..<position)
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next whole reply, or nil until more bytes arrive. A malformed stream throws, and
    /// the connection must be dropped (the parser cannot find the next reply in it).
    public mutating func next() throws(RESPError) -> RESPValue? {
        while true {
            guard let value = try scalar() else { return nil }
            var completed = value
            while true {
                guard !open.isEmpty else { return completed }
                open[open.count - 1].items.append(completed)
                open[open.count - 1].remaining -= 1
                guard open[open.count - 1].remaining == 0 else { break }
                completed = .array(open.removeLast().items)
            }
        }
    }

    /// One non-array value, or an array header (pushed on `open`, then the loop goes on), or
    /// an empty or null array as a value. nil when the bytes for it are not all here.
    private mutating func scalar() throws(RESPError) -> RESPValue? {
        while true {
            guard position < buffer.count else { return nil }
            guard let lineEnd = findLineEnd(from: position + 1) else {
                if buffer.count - position > Self.maximumLine { throw RESPError(message: "a reply line longer than 64K") }
                return nil
            }
            let kind = buffer[position]
            let text = buffer[(position + 1)..<lineEnd]
            switch kind {
            case UInt8(ascii: "+"):
                position = lineEnd + 2
                return .simple(String(decoding: text, as: UTF8.self))
            case UInt8(ascii: "-"):
                position = lineEnd + 2
                return .error(String(decoding: text, as: UTF8.self))
            case UInt8(ascii: ":"):
                guard let value = Self.number(text) else { throw RESPError(message: "a bad integer reply") }
                position = lineEnd + 2
                return .integer(value)
            case UInt8(ascii: "$"):
                guard let length = Self.number(text), length >= -1 else { throw RESPError(message: "a bad bulk length") }
                if length == -1 {
                    position = lineEnd + 2
                    return .bulk(nil)
                }
                guard length <= maximumBulk else { throw RESPError(message: "a bulk reply of \(length) bytes, over the limit") }
                let start = lineEnd + 2
                let end = start + Int(length)
                guard buffer.count >= end + 2 else { return nil }
                guard buffer[end] == 13, buffer[end + 1] == 10 else { throw RESPError(message: "a bulk reply without its line end") }
                position = end + 2
                return .bulk(Array(buffer[start..<end]))
            case UInt8(ascii: "*"):
                guard let count = Self.number(text), count >= -1, count <= 1 << 24 else { throw RESPError(message: "a bad array length") }
                position = lineEnd + 2
                if count == -1 { return .array(nil) }
                if count == 0 { return .array([]) }
                guard open.count < Self.maximumDepth else { throw RESPError(message: "arrays nested too deep") }
                open.append((Int(count), []))
                open[open.count - 1].items.reserveCapacity(Int(min(count, 4096)))
            default:
                throw RESPError(message: "an unknown reply type \(kind)")
            }
        }
    }

    private func findLineEnd(from start: Int) -> Int? {
        var index = start
        let limit = min(buffer.count - 1, position + Self.maximumLine)
        while index < limit {
            if buffer[index] == 13 && buffer[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }

    private static func number(_ text: ArraySlice<UInt8>) -> Int64? {
        guard !text.isEmpty, text.count <= 20 else { return nil }
        return Int64(String(decoding: text, as: UTF8.self))
    }
}
