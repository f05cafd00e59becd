/// Queue-depth scaling for a pool with `workers = MIN-MAX`, decided once a second from what
/// the pool needs: its busy workers plus the jobs waiting for one.
///
/// It grows at once when jobs wait and no worker is free, at most doubling a second (1, 2, 4,
/// 8...: a burst is met in a few seconds without starting a hundred runtimes for one job). It
/// shrinks only once the pool has had more workers than it needed for a whole `cooldown`,
/// and then to the most it needed during that time, never below MIN: a short lull does not
/// stop workers that the next burst would have to start again (the flapping Horizon's
/// `balanceCooldown` and Celery's autoscale keepalive guard against).
public struct Autoscaler: Equatable, Sendable {
    public private(set) var range: ClosedRange<Int>
    public let cooldown: Duration
    /// Growth is considered once a second at most, so that new workers can take jobs first.
    public static let growthInterval: Duration = .seconds(1)

    /// Since when the pool has had enough workers, and the most it needed since then.
    private var calmSince: Moment?
    private var peakNeed = 0
    private var lastGrowth: Moment?

    public init(range: ClosedRange<Int>, cooldown: Duration) {
        self.range = range
        self.cooldown = cooldown
    }

    /// A new target for a pool of `current` workers, `busy` of them with a job, and `waiting`
    /// jobs for a worker; nil to leave it as it is. The reason is for the log.
    public mutating func decide(current: Int, busy: Int, waiting: Int, now: Moment) -> (workers: Int, why: String)? {
        if current < range.lowerBound || current > range.upperBound {
            return (min(max(current, range.lowerBound), range.upperBound), "scaling between \(range.lowerBound) and \(range.upperBound)")
        }
        let need = min(busy + waiting, range.upperBound)
        if need > current {
            calmSince = nil
            if let last = lastGrowth, now - last < Self.growthInterval { return nil }
            lastGrowth = now
            let target = min(range.upperBound, max(current + 1, min(need, max(current, 1) * 2)))
            return (target, "\(waiting) job\(waiting == 1 ? "" : "s") waiting, \(busy) busy")
        }
        guard let since = calmSince else {
            calmSince = now
            peakNeed = need
            return nil
        }
        peakNeed = max(peakNeed, need)
        guard now - since >= cooldown else { return nil }
        let peak = peakNeed
        calmSince = now
        peakNeed = need
        let target = max(range.lowerBound, peak)
        guard target < current else { return nil }
        return (target, "at most \(peak) needed in the last \(Values.formatDuration(cooldown))")
    }
}
