/// A queue's limits on how many jobs run at once and how fast they are handed out, enforced
/// where jobs are handed out (the reserve, on both stores), so they hold across every
/// supervisor on the same store. The keyed limits apply to each job's `limit_key` (`solo push
/// --key customer:42`) apart: one key at its limit holds back only its own jobs.
public struct JobLimits: Equatable, Sendable {
    /// Jobs of the queue reserved at once, across every supervisor (`concurrency`).
    public var concurrency: Int?
    /// Jobs of the queue handed out per period (`rate_limit`).
    public var rate: RateLimit?
    /// Jobs of one key reserved at once (`key_concurrency`).
    public var keyConcurrency: Int?
    /// Jobs of one key handed out per period (`key_rate_limit`).
    public var keyRate: RateLimit?

    public init(concurrency: Int? = nil, rate: RateLimit? = nil, keyConcurrency: Int? = nil, keyRate: RateLimit? = nil) {
        self.concurrency = concurrency
        self.rate = rate
        self.keyConcurrency = keyConcurrency
        self.keyRate = keyRate
    }

    public var isEmpty: Bool { self == JobLimits() }
    /// Whether a reserve has to look at each job's key.
    public var keyed: Bool { keyConcurrency != nil || keyRate != nil }
}

/// Which limit holds a job, or a queue's ready jobs, back: the names of the config keys.
public enum LimitName: String, Sendable, CaseIterable {
    case concurrency, rateLimit = "rate_limit", keyConcurrency = "key_concurrency", keyRateLimit = "key_rate_limit"
}

/// `100/s`, `600/min`, `5/h`, `10/30s`: `count` jobs per `period` (a day at most), spread evenly, with a burst
/// of a tenth of a second's worth (one at least) after a quiet spell.
public struct RateLimit: Equatable, Sendable, CustomStringConvertible {
    public var count: Int
    public var period: Duration

    public init(count: Int, period: Duration) {
        self.count = count
        self.period = period
    }

    /// Parses `COUNT/PERIOD`; PERIOD is a unit (s, min, h, d) or a number and a unit (30s).
    public init(_ text: String) throws(ValueError) {
        let hint = "write COUNT/PERIOD, like 100/s, 600/min, 5/h or 10/30s"
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { String($0.trimmingSpaces()) }
        guard parts.count == 2, let count = Int(parts[0]) else { throw ValueError("\"\(text)\" is not a rate (\(hint))") }
        guard count >= 1, count <= 100_000_000 else { throw ValueError("\"\(text)\" has a count of \(parts[0]); \(hint) with a count from 1 to 100000000") }
        let digits = parts[1].prefix { $0.isNumber }
        let unit = parts[1].dropFirst(digits.count).lowercased()
        let seconds: Int64
        switch unit {
        case "s", "sec", "second": seconds = 1
        case "m", "min", "minute": seconds = 60
        case "h", "hour": seconds = 3600
        case "d", "day": seconds = 86400
        default: throw ValueError("\"\(text)\" has an unknown period \"\(parts[1])\" (\(hint))")
        }
        let times = digits.isEmpty ? 1 : Int64(digits) ?? 0
        // A day at most: a rate's state is forgotten a day after it was last spent (the
        // bucket is full again by then), so that idle keys leave nothing behind.
        guard times >= 1, times <= 86400, seconds * times <= 86400 else {
            throw ValueError("\"\(text)\" has a period of \(parts[1]); a period is 1s to 1d (\(hint))")
        }
        self.init(count: count, period: .seconds(seconds * times))
    }

    public var description: String {
        let seconds = period.components.seconds
        for (name, unit) in [("d", Int64(86400)), ("h", 3600), ("min", 60)] where seconds % unit == 0 {
            return seconds == unit ? "\(count)/\(name)" : "\(count)/\(seconds / unit)\(name)"
        }
        return seconds == 1 ? "\(count)/s" : "\(count)/\(seconds)s"
    }

    /// Milliseconds between two jobs.
    public var interval: Double { Double(period.milliseconds) / Double(count) }
    /// How many jobs may go at once after a quiet spell.
    public var burst: Int { max(1, count / max(1, Int(period.milliseconds / 100))) }
}

/// A rate limit's state, as stored beside the jobs (solo-queue(5)): `spent`, the moment (Unix
/// ms) up to which the limit's time has been handed out. A job costs one `interval`; the time
/// before now, up to a burst's worth, is there to spend. So jobs go out evenly at the rate,
/// however many supervisors take them, and one stored number is the whole state. (The Redis
/// `reserve` script does the same sums in Lua.)
public struct RateBucket: Equatable, Sendable {
    public var spent: Double

    public init(spent: Double) { self.spent = spent }

    /// A bucket never used, or unused for a burst's time: full.
    static func start(_ spent: Double?, now: Double, rate: RateLimit) -> Double {
        max(spent ?? -.infinity, now - Double(rate.burst) * rate.interval)
    }

    /// How many of `wanted` jobs may go now, and when the next one after them may (nil: all went).
    public static func allowance(_ spent: Double?, wanted: Int, now: Double, rate: RateLimit) -> (count: Int, nextAt: Double?) {
        let from = start(spent, now: now, rate: rate)
        let room = Int(((now - from) / rate.interval + 1e-9).rounded(.down))
        let count = max(0, min(wanted, room))
        return (count, count < wanted ? from + Double(count + 1) * rate.interval : nil)
    }

    /// The state after `count` jobs went now.
    public static func spend(_ spent: Double?, count: Int, now: Double, rate: RateLimit) -> Double {
        start(spent, now: now, rate: rate) + Double(count) * rate.interval
    }

    /// One job's turn: when it may go (at `now` or later: its slot is booked), and the state after.
    public static func book(_ spent: Double?, now: Double, rate: RateLimit) -> (at: Double, spent: Double) {
        let after = spend(spent, count: 1, now: now, rate: rate)
        return (max(now, after), after)
    }
}
