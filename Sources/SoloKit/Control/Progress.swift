/// The live line of `solo wait` on a terminal: done/total, a bar, rate and ETA.
public enum Progress {
    public static func line(_ counts: QueueCounts, elapsed: Duration, width: Int = 30) -> String {
        let finished = counts.done + counts.dead
        let total = max(counts.total, 1)
        let filled = min(width, finished * width / total)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let seconds = max(elapsed.seconds, 0.001)
        let rate = Double(finished) / seconds
        var text = "[\(bar)] \(finished)/\(counts.total) done"
        if counts.dead > 0 { text += ", \(counts.dead) dead" }
        text += ", \(formatRate(rate))/s"
        if rate > 0 && counts.pending > 0 {
            text += ", ETA " + Values.formatElapsed(.milliseconds(Int64(Double(counts.pending) / rate * 1000)))
        }
        return text
    }

    public static func formatRate(_ rate: Double) -> String {
        rate >= 10 ? String(Int(rate.rounded())) : String(Double(Int(rate * 10)) / 10)
    }
}
