/// Splits a command line into words the way a POSIX shell would (quotes and backslashes),
/// without running a shell: `php "my worker.php" --queue='a b'` → [php, my worker.php, --queue=a b].
public enum CommandWords {
    public struct Result: Equatable {
        public var words: [String]
        /// The first unquoted character that means something only to a shell (`|`, `>`, `$`...),
        /// worth a warning: no shell runs unless the command is `sh -c '...'`.
        public var shellSyntax: Character?
    }

    static let shellCharacters: Set<Character> = ["|", "&", ";", "<", ">", "(", ")", "$", "`", "*", "?", "~"]

    public static func split(_ text: String) throws(ValueError) -> Result {
        var words: [String] = []
        var word = ""
        var inWord = false
        var shellSyntax: Character? = nil
        var index = text.startIndex
        func next() { index = text.index(after: index) }
        while index < text.endIndex {
            let c = text[index]
            switch c {
            case " ", "\t":
                if inWord { words.append(word); word = ""; inWord = false }
                next()
            case "'":
                inWord = true
                next()
                guard let close = text[index...].firstIndex(of: "'") else {
                    throw ValueError("a ' is not closed (quote words with '...' or \"...\")")
                }
                word += text[index..<close]
                index = text.index(after: close)
            case "\"":
                inWord = true
                next()
                var closed = false
                while index < text.endIndex {
                    let d = text[index]
                    if d == "\"" { closed = true; next(); break }
                    if d == "\\", text.index(after: index) < text.endIndex {
                        let escaped = text[text.index(after: index)]
                        if "\"\\$`".contains(escaped) { word.append(escaped); next(); next(); continue }
                    }
                    word.append(d)
                    next()
                }
                guard closed else { throw ValueError("a \" is not closed (quote words with '...' or \"...\")") }
            case "\\":
                inWord = true
                next()
                if index < text.endIndex { word.append(text[index]); next() }
            default:
                if shellSyntax == nil && shellCharacters.contains(c) { shellSyntax = c }
                inWord = true
                word.append(c)
                next()
            }
        }
        if inWord { words.append(word) }
        return Result(words: words, shellSyntax: shellSyntax)
    }

    /// The words back as one line a shell would split the same way.
    public static func join(_ words: [String]) -> String {
        words.map { word in
            let plain = !word.isEmpty && word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }
            return plain ? word : "'" + word.replacingAll("'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for c in self { if c == target { result += replacement } else { result.append(c) } }
        return result
    }
}
