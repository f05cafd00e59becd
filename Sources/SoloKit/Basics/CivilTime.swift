/// Calendar arithmetic on the proleptic Gregorian calendar, without Foundation: days since the
/// epoch to year, month and day and back, weekdays, and RFC 3339 UTC text. Schedules and time
/// zone rules count in whole seconds since 1970-01-01T00:00:00Z.
public enum CivilTime {
    public struct Date: Hashable, Sendable, CustomStringConvertible {
        public var year: Int
        public var month: Int
        public var day: Int

        public init(year: Int, month: Int, day: Int) {
            self.year = year
            self.month = month
            self.day = day
        }

        public var description: String { "\(year)-\(twoDigits(month))-\(twoDigits(day))" }
    }

    /// Days since 1970-01-01 of a date (the usual era-of-400-years count).
    public static func days(from date: Date) -> Int64 {
        let year = Int64(date.month <= 2 ? date.year - 1 : date.year)
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let shiftedMonth = Int64(date.month > 2 ? date.month - 3 : date.month + 9)
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(date.day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public static func date(fromDays days: Int64) -> Date {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return Date(year: Int(year), month: Int(month), day: Int(day))
    }

    /// 0 for Sunday through 6 for Saturday (1970-01-01 was a Thursday).
    public static func weekday(ofDays days: Int64) -> Int {
        Int(((days % 7) + 11) % 7)
    }

    public static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Seconds since the epoch of a wall-clock reading (date and seconds into the day) taken as UTC.
    public static func seconds(_ date: Date, hour: Int = 0, minute: Int = 0, second: Int = 0) -> Int64 {
        days(from: date) * 86400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// `2026-03-29T01:00:00Z`.
    public static func rfc3339(_ seconds: Int64) -> String {
        let days = floorDivide(seconds, 86400)
        let inDay = Int(seconds - days * 86400)
        return "\(date(fromDays: days))T\(twoDigits(inDay / 3600)):\(twoDigits(inDay / 60 % 60)):\(twoDigits(inDay % 60))Z"
    }

    /// `2026-03-29 03:00:00 +0200`: a moment as the clocks of a zone show it.
    public static func local(_ seconds: Int64, in zone: TimeZoneRules) -> String {
        let offset = Int64(zone.offset(at: seconds))
        let wall = seconds + offset
        let days = floorDivide(wall, 86400)
        let inDay = Int(wall - days * 86400)
        let sign = offset < 0 ? "-" : "+"
        let minutes = Int(abs(offset) / 60)
        return "\(date(fromDays: days)) \(twoDigits(inDay / 3600)):\(twoDigits(inDay / 60 % 60)):\(twoDigits(inDay % 60)) "
            + "\(sign)\(twoDigits(minutes / 60))\(twoDigits(minutes % 60))"
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }

    static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
