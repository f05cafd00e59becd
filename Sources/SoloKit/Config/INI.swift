/// The INI dialect of solo.conf, as PHP-FPM and supervisord users write it:
///
///     ; comment           # comment
///     [section]
///     key = value         ; a comment after whitespace
///     key = "a ; b"       ; quotes protect ; and #
///
/// Values are kept raw (quotes included): each key's parser decides what quotes mean.
public struct INIEntry: Equatable, Sendable {
    public var key: String
    public var value: String
    public var line: Int
}

public struct INISection: Equatable, Sendable {
    public var name: String
    public var line: Int
    public var entries: [INIEntry]
}

public enum INI {
    public static func parse(_ text: String, file: String) -> (sections: [INISection], issues: [ConfigIssue]) {
        var sections: [INISection] = []
        var issues: [ConfigIssue] = []
        var number = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = rawLine.trimmingSpaces()
            if line.isEmpty || line.hasPrefix(";") || line.hasPrefix("#") { continue }
            if line.hasPrefix("[") {
                let body = stripComment(line)
                guard body.hasSuffix("]") else {
                    issues.append(ConfigIssue(file: file, line: number, message: "section header \(quoted(line)) has no closing ] (write [name])"))
                    continue
                }
                let name = String(body.dropFirst().dropLast().trimmingSpaces())
                sections.append(INISection(name: name, line: number, entries: []))
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                issues.append(ConfigIssue(file: file, line: number, message: "expected key = value, found \(quoted(line))"))
                continue
            }
            let key = String(line[..<equals].trimmingSpaces()).lowercased()
            let value = String(stripComment(line[line.index(after: equals)...]).trimmingSpaces())
            guard !key.isEmpty else {
                issues.append(ConfigIssue(file: file, line: number, message: "a value without a key (write key = value)"))
                continue
            }
            guard !sections.isEmpty else {
                issues.append(ConfigIssue(file: file, line: number, key: key, message: "set outside any section (put it under [global] or a [pool] section)"))
                continue
            }
            sections[sections.count - 1].entries.append(INIEntry(key: key, value: value, line: number))
        }
        return (sections, issues)
    }

    /// Cuts a `;` or `#` comment that follows whitespace and is not inside quotes.
    static func stripComment(_ text: Substring) -> Substring {
        var quote: Character? = nil
        var previous: Character = " "
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            if let q = quote {
                if c == q && previous != "\\" { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if (c == ";" || c == "#") && (previous == " " || previous == "\t") {
                return text[..<index].trimmingSpaces()
            }
            previous = c
            index = text.index(after: index)
        }
        return text
    }
}

func quoted(_ text: some StringProtocol) -> String { "\"" + text + "\"" }
