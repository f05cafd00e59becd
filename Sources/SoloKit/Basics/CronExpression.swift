/// A cron expression as a pure value: five fields (minute hour day-of-month month day-of-week)
/// or six with a leading seconds field (`*/2 * * * * *`, for tests and short jobs), or one of
/// `@yearly @annually @monthly @weekly @daily @midnight @hourly`. Fields take `*`, lists, ranges,
/// steps, month and weekday names, and 0 or 7 for Sunday. As in Vixie cron, when both day fields
/// are restricted (neither starts with `*`) a day matching either one is enough.
///
/// `next(after:in:)` walks the zone's wall clock, so daylight saving time follows cronie: a
/// time the clocks skip runs at the first moment after the jump for a job with fixed hours, and
/// not at all for one whose hour field starts with `*` (it runs again at its next time); a time
/// the clocks show twice runs once, at the first showing, for a job with fixed hours, and at
/// both for one whose hour field starts with `*` (it keeps to real time).
public struct CronExpression: Hashable, Sendable, CustomStringConvertible {
    public let text: String
    let seconds: UInt64
    let minutes: UInt64
    let hours: UInt64
    let days: UInt64
    let months: UInt64
    let weekdays: UInt64
    let daysRestricted: Bool
    let weekdaysRestricted: Bool
    let hoursWildcard: Bool

    public var description: String { text }

    static let nicknames = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let weekdayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String]
        /// The value names start at (1 for months, 0 for weekdays).
        let namesFrom: Int
    }

    static let secondField = Field(name: "second", range: 0...59, names: [], namesFrom: 0)
    static let minuteField = Field(name: "minute", range: 0...59, names: [], namesFrom: 0)
    static let hourField = Field(name: "hour", range: 0...23, names: [], namesFrom: 0)
    static let dayField = Field(name: "day of month", range: 1...31, names: [], namesFrom: 0)
    static let monthField = Field(name: "month", range: 1...12, names: monthNames, namesFrom: 1)
    // 7 is Sunday too; folded onto 0 after parsing.
    static let weekdayField = Field(name: "day of week", range: 0...7, names: weekdayNames, namesFrom: 0)

    public init(_ text: String) throws(ValueError) {
        let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        var words = trimmed.split(separator: " ").map(String.init)
        if words.count == 1, words[0].hasPrefix("@") {
            guard let expanded = Self.nicknames[words[0].lowercased()] else {
                throw ValueError("unknown cron name \"\(words[0])\"; use one of @yearly, @annually, @monthly, @weekly, "
                    + "@daily, @midnight, @hourly, or five fields")
            }
            words = expanded.split(separator: " ").map(String.init)
        }
        guard words.count == 5 || words.count == 6 else {
            throw ValueError("cron expression \"\(trimmed)\" has \(words.count) field\(words.count == 1 ? "" : "s"); "
                + "write five (minute hour day-of-month month day-of-week, e.g. \"30 4 * * mon-fri\"), "
                + "six with a leading seconds field, or a name such as @daily")
        }
        // Five fields fire at second 0.
        if words.count == 5 { words.insert("0", at: 0) }
        self.text = trimmed
        seconds = try Self.parse(words[0], Self.secondField)
        minutes = try Self.parse(words[1], Self.minuteField)
        hours = try Self.parse(words[2], Self.hourField)
        days = try Self.parse(words[3], Self.dayField)
        months = try Self.parse(words[4], Self.monthField)
        let weekdayBits = try Self.parse(words[5], Self.weekdayField)
        weekdays = (weekdayBits | (weekdayBits >> 7 & 1)) & 0x7f
        hoursWildcard = words[2].hasPrefix("*")
        daysRestricted = !words[3].hasPrefix("*")
        weekdaysRestricted = !words[5].hasPrefix("*")
        if !Self.canEverMatch(days: days, months: months) && !weekdaysRestricted {
            throw ValueError("day of month \"\(words[3])\" never falls in month \"\(words[4])\"; pick days the months have")
        }
    }

    /// One field's set of values as a bit mask.
    static func parse(_ word: String, _ field: Field) throws(ValueError) -> UInt64 {
        var bits: UInt64 = 0
        for part in word.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw fieldError(field, word, "has more than one \"/\"") }
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value >= 1, value <= field.range.upperBound else {
                    throw fieldError(field, word, "has step \"\(pieces[1])\"; write a whole number from 1 to \(field.range.upperBound)")
                }
                step = value
            }
            let range: ClosedRange<Int>
            if pieces[0] == "*" {
                range = field.range
            } else {
                let ends = pieces[0].split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2 else { throw fieldError(field, word, "has a range with more than one \"-\"") }
                let low = try value(ends[0], field, word)
                // `5/15` means 5-59/15, as in cronie.
                let high = ends.count == 2 ? try value(ends[1], field, word) : (pieces.count == 2 ? field.range.upperBound : low)
                guard low <= high else {
                    throw fieldError(field, word, "has range \(pieces[0]) that runs backwards; write the smaller end first")
                }
                range = low...high
            }
            for value in stride(from: range.lowerBound, through: range.upperBound, by: step) { bits |= 1 << UInt64(value) }
        }
        return bits
    }

    static func value(_ text: Substring, _ field: Field, _ word: String) throws(ValueError) -> Int {
        if let index = field.names.firstIndex(of: text.lowercased()) { return index + field.namesFrom }
        guard let number = Int(text), field.range.contains(number) else {
            let names = field.names.isEmpty ? "" : " or a name (\(field.names.first!)-\(field.names.last!))"
            // The whole field when it is the value, else the part of it that is wrong.
            let what = text == word ? "is out of range" : text.isEmpty ? "has an empty value" : "has \"\(text)\""
            throw fieldError(field, word, "\(what); write a number from \(field.range.lowerBound) to "
                + "\(field.range.upperBound)\(names)")
        }
        return number
    }

    static func fieldError(_ field: Field, _ word: String, _ what: String) -> ValueError {
        ValueError("cron \(field.name) field \"\(word)\" \(what)")
    }

    /// Whether some chosen day of month exists in some chosen month (`30 2` never does).
    static func canEverMatch(days: UInt64, months: UInt64) -> Bool {
        (1...12).contains { month in
            months & (1 << UInt64(month)) != 0 && (1...(month == 2 ? 29 : CivilTime.daysIn(month: month, year: 1))).contains {
                days & (1 << UInt64($0)) != 0
            }
        }
    }

    /// Whether the expression's day fields accept this date.
    func matches(day: Int64) -> Bool {
        let date = CivilTime.date(fromDays: day)
        guard months & (1 << UInt64(date.month)) != 0 else { return false }
        let dayMatches = days & (1 << UInt64(date.day)) != 0
        let weekdayMatches = weekdays & (1 << UInt64(CivilTime.weekday(ofDays: day))) != 0
        if daysRestricted && weekdaysRestricted { return dayMatches || weekdayMatches }
        return dayMatches && weekdayMatches
    }

    /// The first moment strictly after `instant` (seconds since the epoch) at which the
    /// expression fires in `zone`; nil if it never does within 30 years (February 30th, or
    /// February 29th on a weekday set in a way no leap year meets soon).
    public func next(after instant: Int64, in zone: TimeZoneRules) -> Int64? {
        // No wall reading before this can show a moment after `instant`.
        let earliestWall = instant + zone.offsetsAround(instant).min()!
        var best: Int64?
        // Past this reading, none can show a moment earlier than `best` (a repeated hour can
        // make a later reading show an earlier moment, so the walk goes on until here).
        var lastUsefulWall = Int64.max
        var day = CivilTime.floorDivide(earliestWall, 86400)
        let lastDay = day + 366 * 30
        while day <= lastDay, day * 86400 <= lastUsefulWall {
            defer { day += 1 }
            guard matches(day: day) else { continue }
            for hour in 0..<24 where hours & (1 << UInt64(hour)) != 0 {
                let hourStart = day * 86400 + Int64(hour) * 3600
                if hourStart + 3599 < earliestWall { continue }
                for minute in 0..<60 where minutes & (1 << UInt64(minute)) != 0 {
                    let minuteStart = hourStart + Int64(minute) * 60
                    if minuteStart + 59 < earliestWall { continue }
                    for second in 0..<60 where seconds & (1 << UInt64(second)) != 0 {
                        let wall = minuteStart + Int64(second)
                        if wall < earliestWall { continue }
                        if wall > lastUsefulWall { return best }
                        for moment in firings(of: wall, in: zone) where moment > instant && moment < best ?? .max {
                            best = moment
                            lastUsefulWall = moment + zone.offsetsAround(moment).max()!
                        }
                    }
                }
            }
        }
        return best
    }

    /// The moments one matching wall reading fires at, by the DST rules in the type's comment.
    func firings(of wall: Int64, in zone: TimeZoneRules) -> [Int64] {
        let shown = zone.instants(showing: wall)
        if shown.isEmpty { return hoursWildcard ? [] : [zone.endOfGap(around: wall)] }
        return hoursWildcard ? shown : [shown[0]]
    }
}
