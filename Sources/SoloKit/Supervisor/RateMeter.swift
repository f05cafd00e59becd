/// Events per second over the last nine whole seconds (the current one is still filling), in
/// one-second buckets (for `solo status`).
public struct RateMeter: Sendable {
    static let window = 10
    private var buckets = [Int](repeating: 0, count: window)
    private var second: Int64 = 0

    public init() {}

    public mutating func record(_ count: Int = 1, now: Moment) {
        advance(to: now.nanoseconds / 1_000_000_000)
        buckets[Int(second % Int64(Self.window))] += count
    }

    /// The rate over the last nine whole seconds.
    public mutating func perSecond(now: Moment) -> Double {
        advance(to: now.nanoseconds / 1_000_000_000)
        let current = Int(second % Int64(Self.window))
        let total = buckets.enumerated().reduce(0) { $0 + ($1.offset == current ? 0 : $1.element) }
        return Double(total) / Double(Self.window - 1)
    }

    private mutating func advance(to now: Int64) {
        guard now > second else { return }
        let steps = min(now - second, Int64(Self.window))
        for step in 1...steps { buckets[Int((second + step) % Int64(Self.window))] = 0 }
        second = now
    }
}
