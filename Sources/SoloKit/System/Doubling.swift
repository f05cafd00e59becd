/// A wait that doubles at each failure, from `minimum` up to `maximum`, and starts again from
/// `minimum` once something works: how solo paces every retry (a queue file that cannot be
/// used, a request Redis refused, a Redis connection, a worker slot that keeps failing).
public struct Doubling: Equatable, Sendable {
    public let minimum: Duration
    public let maximum: Duration
    /// The wait the next failure gets.
    public private(set) var current: Duration

    public init(from minimum: Duration, to maximum: Duration) {
        self.minimum = minimum
        self.maximum = maximum
        current = minimum
    }

    /// The wait after a failure; the one after the next will be twice as long.
    public mutating func next() -> Duration {
        defer { current = min(current * 2, maximum) }
        return current
    }

    /// Something worked: the next failure waits `minimum` again.
    public mutating func reset() { current = minimum }
}
