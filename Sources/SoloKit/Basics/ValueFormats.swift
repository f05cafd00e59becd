/// Sizes and durations as solo writes them in logs, configs and status, for every layer; the
/// parsers that read them back from a config are in Config/Values.swift.
public enum Values {
    /// 134217728 → `128M`; 137600000 → `131.2M`.
    public static func formatSize(_ bytes: UInt64) -> String {
        let units: [(UInt64, String)] = [(1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")]
        for (scale, unit) in units where bytes >= scale {
            if bytes % scale == 0 { return "\(bytes / scale)\(unit)" }
            let tenths = (bytes * 10 + scale / 2) / scale
            return "\(tenths / 10).\(tenths % 10)\(unit)"
        }
        return "\(bytes)"
    }

    /// Exact, for configs: 90 s → `1m30s`; 0.5 s → `500ms`; 1.5 s → `1.5s`.
    public static func formatDuration(_ duration: Duration) -> String {
        let ns = duration.nanoseconds
        if ns == 0 { return "0s" }
        if ns % 1_000_000_000 != 0 {
            if ns >= 1_000_000_000 && ns % 100_000_000 == 0 {
                return "\(ns / 1_000_000_000).\(ns % 1_000_000_000 / 100_000_000)s"
            }
            return ns % 1_000_000 == 0 ? "\(ns / 1_000_000)ms" : "\(ns / 1000)us"
        }
        var seconds = ns / 1_000_000_000
        var text = ""
        for (scale, unit) in [(Int64(86400), "d"), (3600, "h"), (60, "m")] where seconds >= scale {
            text += "\(seconds / scale)\(unit)"
            seconds %= scale
        }
        if seconds > 0 || text.isEmpty { text += "\(seconds)s" }
        return text
    }

    /// Approximate, for log lines: `350ms`, `8.5s`, `2m13s`.
    public static func formatElapsed(_ duration: Duration) -> String {
        let ns = duration.nanoseconds
        if ns < 1_000_000_000 { return "\(max(0, ns) / 1_000_000)ms" }
        if ns < 60_000_000_000 {
            let tenths = (ns + 50_000_000) / 100_000_000
            return "\(tenths / 10).\(tenths % 10)s"
        }
        return formatDuration(.seconds((ns + 500_000_000) / 1_000_000_000))
    }
}
