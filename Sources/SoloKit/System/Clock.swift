import Glibc

/// A point on the monotonic clock: what deadlines are made of. Never goes back, never jumps
/// with the wall clock.
public struct Moment: Comparable, Hashable, Sendable {
    public let nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func now() -> Moment {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Moment(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    public static func < (a: Moment, b: Moment) -> Bool { a.nanoseconds < b.nanoseconds }

    public static func + (moment: Moment, duration: Duration) -> Moment {
        Moment(nanoseconds: moment.nanoseconds &+ duration.nanoseconds)
    }

    public static func - (a: Moment, b: Moment) -> Duration {
        .nanoseconds(a.nanoseconds - b.nanoseconds)
    }

    /// The wall clock now, in seconds since the epoch (for figures that others compare across
    /// machines; deadlines use the monotonic clock).
    public static func wallSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Milliseconds from `now` until this moment, rounded up, for epoll_wait; 0 if past.
    public func millisecondsFrom(_ now: Moment) -> Int32 {
        let remaining = nanoseconds - now.nanoseconds
        if remaining <= 0 { return 0 }
        return Int32(clamping: (remaining + 999_999) / 1_000_000)
    }
}

extension Duration {
    /// The whole duration in nanoseconds (saturating).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return ns &+ attoseconds / 1_000_000_000
    }

    /// Whole milliseconds, as the queues keep time.
    public var milliseconds: Int64 { nanoseconds / 1_000_000 }

    public var seconds: Double { Double(nanoseconds) / 1e9 }
}

/// Wall-clock timestamps for log lines: local time with its offset, to the millisecond
/// (`2026-11-23T05:37:00.123+0000`), formatted without Foundation. The formatted second is
/// kept until the clock leaves it, so a busy log pays for localtime and strftime once a second.
public final class Timestamper {
    private var second: Int = -1
    private var head: [UInt8] = []
    private var zone: [UInt8] = []

    public init() {}

    public func append(to output: inout [UInt8]) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        if ts.tv_sec != second { format(ts.tv_sec) }
        output.append(contentsOf: head)
        let millis = Int(ts.tv_nsec / 1_000_000)
        output.append(UInt8(ascii: "."))
        output.append(UInt8(ascii: "0") + UInt8(millis / 100))
        output.append(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        output.append(UInt8(ascii: "0") + UInt8(millis % 10))
        output.append(contentsOf: zone)
    }

    private func format(_ seconds: Int) {
        second = seconds
        var time = seconds
        var parts = tm()
        localtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 40)
        let n = strftime(&buffer, 40, "%Y-%m-%dT%H:%M:%S", &parts)
        head = buffer[0..<n].map { UInt8(bitPattern: $0) }
        let z = strftime(&buffer, 40, "%z", &parts)
        zone = buffer[0..<z].map { UInt8(bitPattern: $0) }
    }
}
