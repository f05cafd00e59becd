/// Splits a byte stream into lines without letting a line grow without bound.
public struct LineBuffer {
    public enum Overflow {
        /// Hand an over-long line out in pieces of `maximumLine` bytes (log output: keep it all).
        case split
        /// Hand out its first `maximumLine` bytes once and drop the rest up to the newline
        /// (protocol lines: an over-long line is an error, not data).
        case truncate
    }

    public enum Piece: Equatable {
        case line([UInt8])
        /// A piece of a line longer than `maximumLine`.
        case partial([UInt8])
        /// The start of a line longer than `maximumLine`, whose rest was dropped.
        case truncated([UInt8])
    }

    public let maximumLine: Int
    public let overflow: Overflow
    private var pending: [UInt8] = []
    /// True while the rest of an over-long line is being dropped.
    private var discarding = false

    public init(maximumLine: Int, overflow: Overflow) {
        self.maximumLine = maximumLine
        self.overflow = overflow
    }

    /// Feeds bytes; returns the complete lines (without the newline).
    public mutating func append(_ bytes: UnsafeRawBufferPointer) -> [Piece] {
        var pieces: [Piece] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "\n") {
            take(bytes, start..<i, into: &pieces)
            if discarding {
                discarding = false
            } else {
                pieces.append(.line(pending))
            }
            pending.removeAll(keepingCapacity: true)
            start = i + 1
        }
        take(bytes, start..<bytes.count, into: &pieces)
        return pieces
    }

    /// What is left without a newline (at EOF).
    public mutating func finish() -> [Piece] {
        defer { pending.removeAll(); discarding = false }
        if discarding || pending.isEmpty { return [] }
        return [.line(pending)]
    }

    private mutating func take(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, into pieces: inout [Piece]) {
        var lower = range.lowerBound
        while !discarding && lower < range.upperBound {
            if pending.count >= maximumLine {
                // More bytes of a line that is already full: it is over-long.
                switch overflow {
                case .split: pieces.append(.partial(pending))
                case .truncate: pieces.append(.truncated(pending)); discarding = true
                }
                pending.removeAll(keepingCapacity: true)
                continue
            }
            let upper = min(range.upperBound, lower + (maximumLine - pending.count))
            pending.append(contentsOf: bytes[lower..<upper])
            lower = upper
        }
    }
}

/// One line a worker writes on fd 3 (protocol v1, DESIGN.md).
public enum WorkerMessage: Equatable, Sendable {
    /// The longest line read on fd 3, and so the longest result a job keeps (a fastcgi job's
    /// too): longer stops the worker, and its job is retried.
    public static let maximumLine = 64 * 1024

    case ok(String?)
    case fail(String?)
    case retry(Duration?)
    case ready
    case status(String)
    case invalid(String)

    /// The protocol word.
    public var verb: String {
        switch self {
        case .ok: return "ok"
        case .fail: return "fail"
        case .retry: return "retry"
        case .ready: return "ready"
        case .status: return "status"
        case .invalid: return "an invalid line"
        }
    }

    /// Whether the line reports the outcome of a job.
    public var isOutcome: Bool {
        switch self {
        case .ok, .fail, .retry: return true
        case .ready, .status, .invalid: return false
        }
    }

    /// The outcome word that a line of a worker's own output (stdout, stderr) is, exactly:
    /// printing `ok` instead of writing it to fd 3 is the likeliest beginner's mistake.
    public static func outcomeWord(printed line: [UInt8]) -> String? {
        let text = Self.text(of: line)
        return ["ok", "fail", "retry"].contains(text) ? text : nil
    }

    /// A line as text, without the carriage return a Windows-minded worker may end it with.
    private static func text(of line: [UInt8]) -> String {
        var text = String(decoding: line, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        return text
    }

    public static func parse(_ line: [UInt8]) -> WorkerMessage {
        let text = Self.text(of: line)
        let verb: Substring
        let rest: String?
        if let space = text.firstIndex(of: " ") {
            verb = text[..<space]
            let tail = text[text.index(after: space)...].trimmingSpaces()
            rest = tail.isEmpty ? nil : String(tail)
        } else {
            verb = Substring(text)
            rest = nil
        }
        switch verb {
        case "ok": return .ok(rest)
        case "fail": return .fail(rest)
        case "ready": return rest == nil ? .ready : .invalid(text)
        case "status": return .status(rest ?? "")
        case "retry":
            guard let rest else { return .retry(nil) }
            guard let seconds = try? Values.duration(rest) else { return .invalid(text) }
            return .retry(seconds)
        default:
            return .invalid(text)
        }
    }
}
