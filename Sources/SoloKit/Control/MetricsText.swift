/// Counts of observations by upper bound, as Prometheus histograms keep them: a sample lands in
/// the first bucket whose bound it does not exceed, or in none but the total (+Inf).
public struct Histogram: Equatable, Sendable {
    /// Job durations in seconds: from a quick API call to a ten-minute report.
    public static let jobSeconds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
    /// Jobs wait in a queue from a millisecond (workers idle) to hours (a backlog).
    public static let queueWaitSeconds: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400]

    public let bounds: [Double]
    /// Per bucket, not cumulative (the text format adds them up).
    public private(set) var counts: [Int]
    public private(set) var sum: Double = 0
    public private(set) var count = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    public mutating func observe(_ value: Double) {
        count += 1
        sum += value
        if let index = bounds.firstIndex(where: { value <= $0 }) { counts[index] += 1 }
    }
}

/// The Prometheus text exposition format (version 0.0.4), written by hand: a family's HELP and
/// TYPE lines, then its samples, each family once and whole, as the format requires.
public struct MetricsText {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public enum Kind: String { case counter, gauge, histogram }

    public private(set) var text = ""

    public init() {}

    /// One family: `samples` are its label sets with their values (none: the family is still
    /// announced, so a scraper knows it exists).
    public mutating func family(_ name: String, _ kind: Kind, help: String, _ samples: [([(String, String)], Double)]) {
        header(name, kind, help: help)
        for (labels, value) in samples { sample(name, labels, value) }
    }

    public mutating func histogram(_ name: String, help: String, _ samples: [([(String, String)], Histogram)]) {
        header(name, .histogram, help: help)
        for (labels, histogram) in samples {
            var cumulative = 0
            for (bound, count) in zip(histogram.bounds, histogram.counts) {
                cumulative += count
                sample(name + "_bucket", labels + [("le", Self.number(bound))], Double(cumulative))
            }
            sample(name + "_bucket", labels + [("le", "+Inf")], Double(histogram.count))
            sample(name + "_sum", labels, histogram.sum)
            sample(name + "_count", labels, Double(histogram.count))
        }
    }

    private mutating func header(_ name: String, _ kind: Kind, help: String) {
        text += "# HELP \(name) \(Self.escape(help, quotes: false))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    private mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1, quotes: true))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.number(value) + "\n"
    }

    /// Whole numbers without a fraction (counters read better so), others as Swift prints them,
    /// which Prometheus parses (1e-05 included).
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// Backslash and newline are escaped everywhere; double quotes in label values only.
    static func escape(_ text: String, quotes: Bool) -> String {
        var out = ""
        // By scalar: a CR LF pair is one Character, and its LF must be escaped all the same.
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quotes: out += "\\\""
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
