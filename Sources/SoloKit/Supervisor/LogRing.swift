/// A pool's most recent log lines, kept in memory for `solo logs`: up to `capacity` bytes,
/// the oldest lines dropped first.
public struct LogRing: Sendable {
    public let capacity: Int
    private var lines: [String] = []
    private var head = 0
    private var bytes = 0

    public init(capacity: Int) { self.capacity = capacity }

    public mutating func append(_ line: String) {
        lines.append(line)
        bytes += line.utf8.count
        while bytes > capacity && head < lines.count - 1 {
            bytes -= lines[head].utf8.count
            head += 1
        }
        // Compact now and then, so the array does not grow without end.
        if head > 1024 && head * 2 > lines.count {
            lines.removeFirst(head)
            head = 0
        }
    }

    /// The last `count` lines, oldest first.
    public func last(_ count: Int) -> [String] {
        let available = lines.count - head
        return Array(lines[(lines.count - min(count, available))...])
    }
}
