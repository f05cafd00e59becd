/// Time zones from the system's tz database (/usr/share/zoneinfo), parsed by `TimeZoneRules`.
public enum ZoneFiles {
    public static let directory = "/usr/share/zoneinfo"

    /// The zone named `name` (`Europe/Berlin`, `UTC`).
    public static func load(_ name: String, from directory: String = directory) throws(ValueError) -> TimeZoneRules {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.isEmpty, !name.hasPrefix("/"), !parts.contains(where: { $0 == ".." || $0.isEmpty }) else {
            throw ValueError("time zone \"\(name)\" is not a zone name; write one such as Europe/Berlin or UTC")
        }
        return try loadFile("\(directory)/\(name)", name: name)
    }

    /// The host's zone, as the C library picks it: `TZ` (a zone name, `:name`, a file path or a
    /// POSIX rule), else /etc/localtime, else UTC.
    public static func host(environment tz: String? = Host.variable("TZ")) -> TimeZoneRules {
        if let tz, !tz.isEmpty {
            let name = tz.hasPrefix(":") ? String(tz.dropFirst()) : tz
            if name.hasPrefix("/"), let zone = try? loadFile(name, name: name) { return zone }
            if let zone = try? load(name) { return zone }
            if let zone = try? TimeZoneRules(posix: tz) { return zone }
        }
        return (try? loadFile("/etc/localtime", name: localName())) ?? .utc
    }

    static func loadFile(_ path: String, name: String) throws(ValueError) -> TimeZoneRules {
        let bytes: [UInt8]
        do { bytes = try Files.read(path, limit: 1 << 20) } catch {
            throw ValueError("time zone \"\(name)\" cannot be read from \(path) (\(error)); give a zone name from "
                + "\(directory), such as Europe/Berlin or UTC")
        }
        return try TimeZoneRules(tzif: bytes, name: name)
    }

    /// `Europe/Berlin` when /etc/localtime links into the database, else `localtime`.
    static func localName() -> String {
        guard let target = Files.readLink("/etc/localtime"), let range = target.firstRange(of: "zoneinfo/") else { return "localtime" }
        return String(target[range.upperBound...])
    }
}
