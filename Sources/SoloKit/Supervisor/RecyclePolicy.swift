/// Why a worker is being replaced on purpose.
public enum RetireReason: Equatable, Sendable, CustomStringConvertible {
    case jobs(done: Int, limit: Int)
    case memory(bytes: UInt64, limit: UInt64)
    case lifetime(age: Duration, limit: Duration)
    case restart
    /// Killed for a job that ran over job_timeout (its slot restarts when it is gone).
    case jobTimedOut
    /// `solo scale` took the worker's slot away.
    case scaledDown
    /// `solo stop POOL`.
    case poolStopped
    /// It broke the fd 3 protocol (invalid lines, a line over the limit, fd 3 closed): its
    /// slot restarts with back-off, as after a crash.
    case protocolError(String)
    /// The fleet lock (cluster_lock) is not, or soon no longer, this supervisor's.
    case standby
    case shutdown

    /// Whether the worker's slot starts a replacement as it leaves.
    public var startsReplacement: Bool {
        switch self {
        case .jobs, .memory, .lifetime, .restart: return true
        case .jobTimedOut, .scaledDown, .poolStopped, .protocolError, .standby, .shutdown: return false
        }
    }

    public var description: String {
        switch self {
        case .jobs(let done, let limit): return "\(done) jobs done (limit \(limit))"
        case .memory(let bytes, let limit):
            return "memory \(Values.formatSize(bytes)) over memory_limit \(Values.formatSize(limit))"
        case .lifetime(let age, let limit):
            return "lifetime \(Values.formatElapsed(age)) reached (limit \(Values.formatElapsed(limit)))"
        case .restart: return "restart requested"
        case .jobTimedOut: return "a job ran over job_timeout"
        case .scaledDown: return "scaled down"
        case .poolStopped: return "pool stopped"
        case .protocolError(let why): return "broke the fd 3 protocol: \(why)"
        case .standby: return "standing by: the fleet lock is not this supervisor's"
        case .shutdown: return "shutting down"
        }
    }
}

/// Draws each worker's job limit and lifetime so that a pool's workers do not recycle
/// together. A plain uniform draw per worker still lets two workers land close (gunicorn's
/// users see whole pools restart at once with max_requests_jitter), so each draw is the best
/// of a few uniform candidates: the one farthest from what the pool's other workers have left
/// (Mitchell's best-candidate sampling). Every value of the range stays possible.
public enum RecyclePolicy {
    static let candidates = 8

    /// A job limit from `range`, spread away from `othersRemaining` (jobs the other workers
    /// have left before their own limits).
    public static func drawJobLimit(_ range: ClosedRange<Int>, othersRemaining: [Int], using random: inout some RandomNumberGenerator) -> Int {
        bestCandidate(count: othersRemaining.isEmpty ? 1 : candidates, draw: { Int.random(in: range, using: &random) },
                      distance: { candidate in othersRemaining.map { abs($0 - candidate) }.min() ?? 0 })
    }

    /// A lifetime from `range`, spread away from the other workers' remaining lifetimes.
    public static func drawLifetime(_ range: ClosedRange<Duration>, othersRemaining: [Duration], using random: inout some RandomNumberGenerator) -> Duration {
        let low = range.lowerBound.nanoseconds, high = range.upperBound.nanoseconds
        let remaining = othersRemaining.map(\.nanoseconds)
        let ns = bestCandidate(count: remaining.isEmpty ? 1 : candidates, draw: { Int64.random(in: low...high, using: &random) },
                               distance: { candidate in remaining.map { abs($0 - candidate) }.min() ?? 0 })
        return .nanoseconds(ns)
    }

    static func bestCandidate<T: Comparable>(count: Int, draw: () -> T, distance: (T) -> T) -> T {
        var best = draw()
        var bestDistance = distance(best)
        for _ in 1..<max(count, 1) {
            let candidate = draw()
            let d = distance(candidate)
            if d > bestDistance { best = candidate; bestDistance = d }
        }
        return best
    }
}
