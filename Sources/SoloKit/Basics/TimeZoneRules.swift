/// A time zone as the offsets from UTC it has had and will have, read from a TZif file
/// (RFC 8536, versions 1 to 4) and its POSIX TZ footer for the times past the file's table.
/// A pure value: the file is read in System/ (`ZoneFiles`), so tests can hand it bytes.
public struct TimeZoneRules: Hashable, Sendable {
    /// Where the rules came from (`Europe/Berlin`, `UTC`, a TZ string), for messages.
    public let name: String
    /// Instants (seconds since the epoch) at which the offset changes, ascending.
    let transitions: [Int64]
    /// The UTC offset in seconds from each transition on.
    let offsets: [Int32]
    /// The offset before the first transition.
    let initialOffset: Int32
    /// For instants at or past the last transition; nil when the table is all there is.
    let rule: PosixZoneRule?

    public static let utc = TimeZoneRules(name: "UTC", transitions: [], offsets: [], initialOffset: 0, rule: nil)

    init(name: String, transitions: [Int64], offsets: [Int32], initialOffset: Int32, rule: PosixZoneRule?) {
        self.name = name
        self.transitions = transitions
        self.offsets = offsets
        self.initialOffset = initialOffset
        self.rule = rule
    }

    /// A zone made of a POSIX TZ string alone (`CET-1CEST,M3.5.0,M10.5.0/3`), as `TZ` may hold.
    public init(posix text: String) throws(ValueError) {
        let rule = try PosixZoneRule(text)
        self.init(name: text, transitions: [], offsets: [], initialOffset: rule.standardOffset, rule: rule)
    }

    /// Parses a TZif file's bytes; `name` only labels the result.
    public init(tzif bytes: [UInt8], name: String) throws(ValueError) {
        var reader = TZifReader(bytes: bytes, name: name)
        let first = try reader.header()
        if first.version == 0 {
            let table = try reader.table(first, timeSize: 4)
            self.init(name: name, transitions: table.transitions, offsets: table.offsets, initialOffset: table.initial, rule: nil)
            return
        }
        // Version 2 and later repeat the data with 64-bit times, then give the footer.
        try reader.skip(first.dataSize(timeSize: 4))
        let second = try reader.header()
        let table = try reader.table(second, timeSize: 8)
        let footer = try reader.footer()
        let rule = footer.isEmpty ? nil : try PosixZoneRule(footer)
        self.init(name: name, transitions: table.transitions, offsets: table.offsets, initialOffset: table.initial, rule: rule)
    }

    /// The UTC offset in seconds in force at `instant`.
    public func offset(at instant: Int64) -> Int32 {
        if let last = transitions.last, instant >= last, let rule { return rule.offset(at: instant) }
        if transitions.isEmpty { return rule?.offset(at: instant) ?? initialOffset }
        if instant < transitions[0] { return initialOffset }
        var low = 0
        var high = transitions.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if transitions[middle] <= instant { low = middle } else { high = middle - 1 }
        }
        return offsets[low]
    }

    /// The offsets in force a day before, at and a day after `instant`: every offset a wall
    /// reading near it can mean, since offsets change at most once a day in every zone.
    func offsetsAround(_ instant: Int64) -> [Int64] {
        [instant - 86400, instant, instant + 86400].map { Int64(offset(at: $0)) }
    }

    /// The instants whose clocks show `wall` (seconds since the epoch of a wall-clock reading
    /// taken as UTC): one normally, two in a repeated hour (earliest first), none in a gap.
    public func instants(showing wall: Int64) -> [Int64] {
        Set(offsetsAround(wall)).map { wall - $0 }.filter { Int64(offset(at: $0)) == wall - $0 }.sorted()
    }

    /// The first instant after the gap that `wall` falls in (the moment the clocks jump).
    public func endOfGap(around wall: Int64) -> Int64 {
        let before = Int64(offset(at: wall - 86400))
        let after = offset(at: wall + 86400)
        var low = wall - max(before, Int64(after)) - 1
        var high = wall - min(before, Int64(after))
        // The offset is `before` at `low` and `after` at `high`: bisect to the change.
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if offset(at: middle) == after { high = middle } else { low = middle }
        }
        return high
    }
}

/// The rule of a POSIX TZ string (`EST5EDT,M3.2.0,M11.1.0`): a standard offset and, optionally,
/// a daylight-saving offset with the dates it starts and ends each year.
struct PosixZoneRule: Hashable, Sendable {
    /// Offsets east of UTC in seconds (the string writes them west, with the sign flipped).
    let standardOffset: Int32
    let daylight: Daylight?

    struct Daylight: Hashable, Sendable {
        let offset: Int32
        let start: Change
        let end: Change
    }

    /// One yearly change: a day rule and the local time of day (may be negative or past 24 h).
    struct Change: Hashable, Sendable {
        enum Day: Hashable, Sendable {
            /// `Jn`: 1 to 365, February 29 never counted.
            case julian(Int)
            /// `n`: 0 to 365, counting February 29.
            case zeroBased(Int)
            /// `Mm.w.d`: weekday d (0 Sunday) of week w (5 = last) of month m.
            case monthWeekDay(month: Int, week: Int, weekday: Int)
        }
        let day: Day
        let time: Int64

        /// Seconds since the epoch of this change in `year`, as a wall reading in its local time.
        func wall(in year: Int) -> Int64 {
            let january1 = CivilTime.days(from: .init(year: year, month: 1, day: 1))
            let days: Int64
            switch day {
            case .julian(let n):
                days = january1 + Int64(n - 1) + (CivilTime.isLeapYear(year) && n >= 60 ? 1 : 0)
            case .zeroBased(let n):
                days = january1 + Int64(n)
            case .monthWeekDay(let month, let week, let weekday):
                let first = CivilTime.days(from: .init(year: year, month: month, day: 1))
                var day = first + Int64((weekday - CivilTime.weekday(ofDays: first) + 7) % 7) + Int64(7 * (week - 1))
                let last = first + Int64(CivilTime.daysIn(month: month, year: year)) - 1
                while day > last { day -= 7 }
                days = day
            }
            return days * 86400 + time
        }
    }

    func offset(at instant: Int64) -> Int32 {
        guard let daylight else { return standardOffset }
        let year = CivilTime.date(fromDays: CivilTime.floorDivide(instant + Int64(standardOffset), 86400)).year
        let start = daylight.start.wall(in: year) - Int64(standardOffset)
        let end = daylight.end.wall(in: year) - Int64(daylight.offset)
        let inDaylight = start < end ? (instant >= start && instant < end) : !(instant >= end && instant < start)
        return inDaylight ? daylight.offset : standardOffset
    }

    init(_ text: String) throws(ValueError) {
        var scanner = PosixScanner(text: Array(text.utf8), whole: text)
        try scanner.name()
        let standard = -(try scanner.offset())
        standardOffset = Int32(standard)
        if scanner.atEnd {
            daylight = nil
            return
        }
        try scanner.name()
        var daylightOffset = standard + 3600
        if let next = scanner.peek, next != UInt8(ascii: ",") { daylightOffset = -(try scanner.offset()) }
        // Without dates, the US rules, as glibc assumes.
        var start = Change(day: .monthWeekDay(month: 3, week: 2, weekday: 0), time: 7200)
        var end = Change(day: .monthWeekDay(month: 11, week: 1, weekday: 0), time: 7200)
        if !scanner.atEnd {
            try scanner.expect(",")
            start = try scanner.change()
            try scanner.expect(",")
            end = try scanner.change()
        }
        guard scanner.atEnd else { throw scanner.error("unexpected text after the rules") }
        daylight = Daylight(offset: Int32(daylightOffset), start: start, end: end)
    }
}

/// Reads the parts of a POSIX TZ string.
private struct PosixScanner {
    let text: [UInt8]
    let whole: String
    var at = 0

    var atEnd: Bool { at == text.count }
    var peek: UInt8? { at < text.count ? text[at] : nil }

    func error(_ what: String) -> ValueError {
        ValueError("time zone rule \"\(whole)\": \(what) at character \(at + 1)")
    }

    mutating func expect(_ character: Unicode.Scalar) throws(ValueError) {
        guard peek == UInt8(ascii: character) else { throw error("expected \"\(character)\"") }
        at += 1
    }

    /// `CET` or `<+1030>`.
    mutating func name() throws(ValueError) {
        if peek == UInt8(ascii: "<") {
            guard let close = text[at...].firstIndex(of: UInt8(ascii: ">")) else { throw error("a \"<\" without its \">\"") }
            at = close + 1
            return
        }
        let start = at
        while let c = peek, (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") { at += 1 }
        guard at - start >= 3 else { throw error("expected a zone abbreviation of three letters or more") }
    }

    /// `[+-]hh[:mm[:ss]]` in seconds, as written (west of UTC positive).
    mutating func offset() throws(ValueError) -> Int64 {
        var sign: Int64 = 1
        if peek == UInt8(ascii: "-") { sign = -1; at += 1 } else if peek == UInt8(ascii: "+") { at += 1 }
        var seconds = try number() * 3600
        if peek == UInt8(ascii: ":") { at += 1; seconds += try number() * 60 }
        if peek == UInt8(ascii: ":") { at += 1; seconds += try number() }
        return sign * seconds
    }

    mutating func number() throws(ValueError) -> Int64 {
        let start = at
        var value: Int64 = 0
        while let c = peek, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9"), at - start < 4 {
            value = value * 10 + Int64(c - UInt8(ascii: "0"))
            at += 1
        }
        guard at > start else { throw error("expected a number") }
        return value
    }

    mutating func change() throws(ValueError) -> PosixZoneRule.Change {
        let day: PosixZoneRule.Change.Day
        if peek == UInt8(ascii: "M") {
            at += 1
            let month = Int(try number())
            try expect(".")
            let week = Int(try number())
            try expect(".")
            let weekday = Int(try number())
            guard (1...12).contains(month), (1...5).contains(week), (0...6).contains(weekday) else {
                throw error("a month, week or weekday out of range")
            }
            day = .monthWeekDay(month: month, week: week, weekday: weekday)
        } else if peek == UInt8(ascii: "J") {
            at += 1
            let n = Int(try number())
            guard (1...365).contains(n) else { throw error("a Julian day outside 1-365") }
            day = .julian(n)
        } else {
            let n = Int(try number())
            guard (0...365).contains(n) else { throw error("a day outside 0-365") }
            day = .zeroBased(n)
        }
        var time: Int64 = 7200
        if peek == UInt8(ascii: "/") {
            at += 1
            time = try offset()
        }
        return .init(day: day, time: time)
    }
}

/// Reads a TZif file's headers, tables and footer.
private struct TZifReader {
    let bytes: [UInt8]
    let name: String
    var at = 0

    struct Header {
        let version: UInt8
        let isUTCCount, isStandardCount, leapCount, timeCount, typeCount, characterCount: Int

        func dataSize(timeSize: Int) -> Int {
            timeCount * timeSize + timeCount + typeCount * 6 + characterCount + leapCount * (timeSize + 4)
                + isStandardCount + isUTCCount
        }
    }

    struct Table {
        let transitions: [Int64]
        let offsets: [Int32]
        let initial: Int32
    }

    func error(_ what: String) -> ValueError { ValueError("time zone file \(name): \(what)") }

    mutating func skip(_ count: Int) throws(ValueError) {
        guard at + count <= bytes.count else { throw error("cut short (\(bytes.count) bytes)") }
        at += count
    }

    mutating func integer(_ size: Int) throws(ValueError) -> Int64 {
        guard at + size <= bytes.count else { throw error("cut short (\(bytes.count) bytes)") }
        var value: UInt64 = 0
        for byte in bytes[at..<at + size] { value = value << 8 | UInt64(byte) }
        at += size
        // Sign-extend a 32-bit field.
        return size == 4 ? Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: value))) : Int64(bitPattern: value)
    }

    mutating func header() throws(ValueError) -> Header {
        guard at + 44 <= bytes.count, Array(bytes[at..<at + 4]) == Array("TZif".utf8) else {
            throw error("not a TZif file (no \"TZif\" header); give a zone name from /usr/share/zoneinfo")
        }
        let mark = bytes[at + 4]
        guard mark == 0 || (UInt8(ascii: "2")...UInt8(ascii: "9")).contains(mark) else {
            throw error("an unknown TZif version; give a zone name from /usr/share/zoneinfo")
        }
        let version = mark == 0 ? 0 : mark - UInt8(ascii: "0")
        at += 20
        var counts: [Int] = []
        for _ in 0..<6 {
            let count = try integer(4)
            guard count >= 0, count < 1 << 20 else { throw error("a count out of range") }
            counts.append(Int(count))
        }
        return Header(version: version, isUTCCount: counts[0], isStandardCount: counts[1], leapCount: counts[2],
                      timeCount: counts[3], typeCount: counts[4], characterCount: counts[5])
    }

    mutating func table(_ header: Header, timeSize: Int) throws(ValueError) -> Table {
        guard header.typeCount > 0 else { throw error("no local time types") }
        var times: [Int64] = []
        for _ in 0..<header.timeCount { times.append(try integer(timeSize)) }
        var indices: [Int] = []
        for _ in 0..<header.timeCount {
            let index = Int(try integer(1))
            guard index < header.typeCount else { throw error("a transition names a type that is not there") }
            indices.append(index)
        }
        var typeOffsets: [Int32] = []
        for _ in 0..<header.typeCount {
            typeOffsets.append(Int32(try integer(4)))
            try skip(2)
        }
        try skip(header.characterCount + header.leapCount * (timeSize + 4) + header.isStandardCount + header.isUTCCount)
        return Table(transitions: times, offsets: indices.map { typeOffsets[$0] }, initial: typeOffsets[0])
    }

    mutating func footer() throws(ValueError) -> String {
        guard at < bytes.count, bytes[at] == UInt8(ascii: "\n"),
              let end = bytes[(at + 1)...].firstIndex(of: UInt8(ascii: "\n")) else {
            throw error("no TZ string footer after the version 2 data")
        }
        return String(decoding: bytes[(at + 1)..<end], as: UTF8.self)
    }
}
