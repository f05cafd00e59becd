/// One problem in a config file, located: `solo.conf:12: memory_limit: "12X" is not a size (try 128M)`.
public struct ConfigIssue: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Severity: Sendable { case error, warning }

    public var file: String
    public var line: Int
    public var key: String?
    public var message: String
    public var severity: Severity

    public init(file: String, line: Int, key: String? = nil, message: String, severity: Severity = .error) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        self.severity = severity
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        let prefix = severity == .warning ? "warning: " : ""
        if let key { return "\(place): \(prefix)\(key): \(message)" }
        return "\(place): \(prefix)\(message)"
    }
}

/// A config that could not be loaded, with every problem found (not only the first).
public struct ConfigErrors: Error, CustomStringConvertible {
    public var issues: [ConfigIssue]

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// The issues of one section, each at the line of the key it is about (the section's own line
/// when it is about none).
struct SectionIssues {
    let file: String
    let line: Int
    let entries: [INIEntry]
    private(set) var all: [ConfigIssue] = []

    init(file: String, line: Int, entries: [INIEntry]) {
        self.file = file
        self.line = line
        self.entries = entries
    }

    mutating func add(_ key: String?, _ message: String, _ severity: ConfigIssue.Severity = .error) {
        let at = key.flatMap { key in entries.first { $0.key == key }?.line } ?? line
        all.append(ConfigIssue(file: file, line: at, key: key, message: message, severity: severity))
    }
}
