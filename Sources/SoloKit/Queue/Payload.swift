/// What is wrong with a line offered as a job.
public enum PayloadProblem: Equatable, Sendable, CustomStringConvertible {
    case empty
    case nulByte
    case newline
    case carriageReturn
    case invalidUTF8
    case tooLong(maximum: Int)

    public var description: String {
        switch self {
        case .empty: return "is empty (a job is one line of text)"
        case .nulByte: return "holds a NUL byte (a job is one line of UTF-8 text)"
        case .newline: return "holds a line break (a job is one line of text)"
        case .carriageReturn: return "holds a carriage return (a job is one line of text, and many line readers end a line there)"
        case .invalidUTF8: return "is not valid UTF-8"
        case .tooLong(let maximum): return "is longer than max_payload (\(Values.formatSize(UInt64(maximum))))"
        }
    }
}

/// The rules for a payload: one line of UTF-8 text, no NUL, at most `max_payload` bytes. Every
/// path checks with them: `solo push` before it queues, the supervisor when it takes a job that
/// another program queued (it makes a bad one dead instead of giving it to a worker).
public enum Payloads {
    public static func problem(in bytes: [UInt8], maximum: Int) -> PayloadProblem? {
        bytes.withUnsafeBytes { problem(in: $0, maximum: maximum) }
    }

    public static func problem(in bytes: UnsafeRawBufferPointer, maximum: Int) -> PayloadProblem? {
        if bytes.isEmpty { return .empty }
        if bytes.count > maximum { return .tooLong(maximum: maximum) }
        var ascii = true
        for byte in bytes {
            if byte == 0 { return .nulByte }
            if byte == 0x0A { return .newline }
            // Python's text-mode stdin and Node's readline end a line at a bare CR too: the
            // worker would see two jobs and credit the next job's outcome to the wrong one.
            if byte == 0x0D { return .carriageReturn }
            if byte >= 0x80 { ascii = false }
        }
        if !ascii && String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) == nil { return .invalidUTF8 }
        return nil
    }
}
