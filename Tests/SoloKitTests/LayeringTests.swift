import Foundation
import Testing

/// The shape of the source tree, read from the files themselves: each folder of SoloKit names
/// only the types of its own folder and of the folders below it, and raw system calls stay in
/// System/. A break names the file, the line and the rule.
@Suite struct LayeringTests {
    /// SoloKit's folders, lowest first. Basics holds plain values every layer shares (JSON, the
    /// input errors); Control is the control protocol (requests, JSON replies, metrics text),
    /// which the supervisor serves and the command line speaks, so it sits below Supervisor.
    static let layers = ["Basics", "System", "Queue", "Config", "Control", "Supervisor", "Classic"]

    /// Glibc calls that belong behind a wrapper in System/ (a conservative list: calls that
    /// touch files, processes and who this process is, signals, sockets, time and the environment).
    static let rawCalls: Set<String> = [
        "open", "openat", "close", "read", "write", "pread", "pwrite", "unlink", "unlinkat", "rename", "chmod",
        "fchmod", "chown", "mkdir", "rmdir", "stat", "fstat", "lstat", "fstatat", "access", "ftruncate", "fsync",
        "lseek", "flock", "mmap", "dup", "dup2", "pipe", "pipe2", "fcntl", "ioctl", "poll", "epoll_create1",
        "epoll_ctl", "epoll_wait", "kill", "fork", "vfork", "execv", "execve", "execvp", "waitpid", "wait4",
        "setsid", "prctl", "chdir", "umask", "signal", "sigaction", "alarm", "usleep", "nanosleep", "sleep",
        "clock_gettime", "gettimeofday", "gethostname", "getenv", "setenv", "unsetenv", "environ", "socket",
        "bind", "listen", "accept", "accept4", "connect", "send", "recv", "sendto", "recvfrom", "setsockopt",
        "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "syscall",
    ]

    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    @Test func everySoloKitFolderHasAPlaceInTheLayers() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path + "/SoloKit")
        for folder in folders.sorted() where !Self.layers.contains(folder) {
            Issue.record("Sources/SoloKit/\(folder) is in no layer: add it to LayeringTests.layers, above every folder it names")
        }
    }

    @Test func noFolderNamesATypeOfAHigherOne() throws {
        let files = try Self.layers.flatMap { folder in try SourceFile.all(in: "SoloKit/\(folder)", under: Self.sources) }
        for problem in Layering.upwardNames(in: files, layers: Self.layers) { Issue.record(Comment(rawValue: problem.description)) }
    }

    @Test func rawCallsStayInSystem() throws {
        let files = try SourceFile.all(in: "SoloKit", under: Self.sources) + SourceFile.all(in: "solo", under: Self.sources)
        let checked = files.filter { !$0.path.hasPrefix("SoloKit/System/") }
        for problem in Layering.rawCalls(in: checked, calls: Self.rawCalls) { Issue.record(Comment(rawValue: problem.description)) }
    }

    // The checks themselves, on small sources: each must see the break it exists for.

    static let reply = SourceFile(path: "SoloKit/Control/Reply.swift", text: "public enum Reply { case null }\n")

    @Test func aLowerFileNamingAHigherTypeIsCaught() {
        let files = [SourceFile(path: "SoloKit/Queue/Store.swift", text: "struct Store {\n    var reply: Reply\n}\n"), Self.reply]
        #expect(Layering.upwardNames(in: files, layers: ["Queue", "Control"]).map(\.description) == [
            "SoloKit/Queue/Store.swift:2: names Reply, a type of Control/ (SoloKit/Control/Reply.swift); "
                + "a file may name only types of its own folder and the folders below it (Queue → Control)",
        ])
        #expect(Layering.upwardNames(in: files, layers: ["Control", "Queue"]).isEmpty)
    }

    @Test func namesInCommentsStringsAndAfterADotAreNotUses() {
        let text = #"""
            // Reply is sent here
            /* Reply, /* nested Reply */ Reply */
            let a = "a Reply reply", b = #"Reply"#
            let c = """
                Reply "Reply"
                """
            let d = x.Reply
            let e = "\(f("(")) \(Reply.null)"
            """#
        let files = [SourceFile(path: "SoloKit/Queue/Store.swift", text: text), Self.reply]
        #expect(Layering.upwardNames(in: files, layers: ["Queue", "Control"]).map(\.line) == [8])
        let shadowed = SourceFile(path: "SoloKit/Queue/Store.swift", text: text + "\nenum Reply {}\n")
        #expect(Layering.upwardNames(in: [shadowed, Self.reply], layers: ["Queue", "Control"]).isEmpty)
    }

    @Test func aRawCallIsCaughtButNotAMethodOfTheSameName() {
        let text = """
            func tidy(path: String) {
                unlink(path)
                Glibc.usleep(10)
                let all = environ
                connection.close()
            }
            final class Socket {
                func close() {}
                func end() { close() }
                var kill: (String) -> Void = { _ in }
                func stop() { kill("stop") }
                enum Action { case signal(Int32) }
            }
            """
        let found = Layering.rawCalls(in: [SourceFile(path: "SoloKit/Queue/Tidy.swift", text: text)], calls: Self.rawCalls)
        #expect(found.map(\.line) == [2, 3, 4])
        #expect(found.first?.description == "SoloKit/Queue/Tidy.swift:2: calls unlink directly; raw system calls belong behind a wrapper in Sources/SoloKit/System/")
    }
}

/// One break of a rule: where, and which rule.
struct Break: CustomStringConvertible {
    let file: String
    let line: Int
    let rule: String
    var description: String { "\(file):\(line): \(rule)" }
}

/// A Swift source file, by its path under Sources/.
struct SourceFile {
    let path: String
    let text: String

    static func all(in folder: String, under sources: URL) throws -> [SourceFile] {
        let root = sources.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
        return try walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.sorted().map { relative in
            SourceFile(path: folder + "/" + relative, text: try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8))
        }
    }

    /// The code line by line, with comments and the text of string literals blanked out
    /// (interpolations stay: they are code).
    var codeLines: [String] { Layering.blankingCommentsAndStrings(text).components(separatedBy: "\n") }

    var folder: String { path.split(separator: "/").dropLast().joined(separator: "/") }
}

enum Layering {
    /// Lines of lower folders that name a type declared at the top level of a higher folder.
    static func upwardNames(in files: [SourceFile], layers: [String]) -> [Break] {
        func rank(_ file: SourceFile) -> Int? { layers.firstIndex(of: String(file.folder.split(separator: "/").last ?? "")) }
        var declaredIn: [String: SourceFile] = [:]
        for file in files {
            for line in file.codeLines {
                if let name = declaredType(line, topLevel: true) { declaredIn[name] = file }
            }
        }
        var problems: [Break] = []
        for file in files {
            guard let own = rank(file) else { continue }
            let lines = file.codeLines
            let local = Set(lines.compactMap { declaredType($0, topLevel: false) })
            for (number, line) in lines.enumerated() {
                for token in identifiers(in: line) where !token.afterDot && !local.contains(token.name) {
                    guard let home = declaredIn[token.name], let theirs = rank(home), theirs > own else { continue }
                    problems.append(Break(file: file.path, line: number + 1, rule: "names \(token.name), a type of \(layers[theirs])/ (\(home.path)); "
                        + "a file may name only types of its own folder and the folders below it (\(layers.joined(separator: " → ")))"))
                }
            }
        }
        return problems
    }

    /// Lines that call one of `calls` as the C function (bare or as `Glibc.name`), where the
    /// file does not declare something of that name itself.
    static func rawCalls(in files: [SourceFile], calls: Set<String>) -> [Break] {
        var problems: [Break] = []
        for file in files {
            let lines = file.codeLines
            let own = Set(lines.flatMap { identifiers(in: $0).filter(\.afterDeclarationWord).map(\.name) })
            for (number, line) in lines.enumerated() {
                for token in identifiers(in: line) where calls.contains(token.name) && (token.beforeParenthesis || token.name == "environ") {
                    guard token.afterGlibc || !(token.afterDot || token.afterDeclarationWord || own.contains(token.name)) else { continue }
                    problems.append(Break(file: file.path, line: number + 1,
                                          rule: "calls \(token.name) directly; raw system calls belong behind a wrapper in Sources/SoloKit/System/"))
                }
            }
        }
        return problems
    }

    struct Token {
        let name: String
        let afterDot: Bool
        let afterGlibc: Bool
        let afterDeclarationWord: Bool
        let beforeParenthesis: Bool
    }

    static func identifiers(in line: String) -> [Token] {
        let characters = Array(line)
        var tokens: [Token] = []
        var index = 0
        var previousWord = ""
        while index < characters.count {
            let character = characters[index]
            guard character.isLetter || character == "_" else { index += 1; continue }
            let start = index
            while index < characters.count, characters[index].isLetter || characters[index].isNumber || characters[index] == "_" { index += 1 }
            let name = String(characters[start..<index])
            let afterDot = start > 0 && characters[start - 1] == "."
            let afterGlibc = afterDot && start >= 6 && String(characters[(start - 6)..<(start - 1)]) == "Glibc"
            tokens.append(Token(name: name, afterDot: afterDot, afterGlibc: afterGlibc,
                                afterDeclarationWord: ["func", "case", "let", "var"].contains(previousWord),
                                beforeParenthesis: index < characters.count && characters[index] == "("))
            previousWord = name
        }
        return tokens
    }

    /// The type a line declares (`struct`, `enum`, `class`, `protocol`, `actor`, `typealias`),
    /// with `topLevel` only when the declaration starts the line.
    static func declaredType(_ line: String, topLevel: Bool) -> String? {
        if topLevel, line.first?.isWhitespace ?? true { return nil }
        let words = line.split(whereSeparator: { $0.isWhitespace || $0 == ":" || $0 == "<" || $0 == "{" || $0 == "=" }).map(String.init)
        guard let keyword = words.firstIndex(where: { ["struct", "enum", "class", "protocol", "actor", "typealias"].contains($0) }),
              keyword + 1 < words.count,
              words[..<keyword].allSatisfy({ $0.hasPrefix("@") || ["public", "internal", "package", "private", "fileprivate", "final", "indirect", "nonisolated"].contains($0) })
        else { return nil }
        return words[keyword + 1]
    }

    /// `text` with comments and string-literal text turned into spaces, newlines kept, so that
    /// line numbers stay true. Handles nested block comments, multi-line and raw (`#"…"#`)
    /// strings, and interpolations, whose code is kept.
    static func blankingCommentsAndStrings(_ text: String) -> String {
        enum Context {
            /// Code; `parentheses` counts open ones inside an interpolation (nil: not in one).
            case code(parentheses: Int?)
            case string(multiLine: Bool, hashes: Int)
        }
        let characters = Array(text)
        var out: [Character] = []
        out.reserveCapacity(characters.count)
        var stack: [Context] = [.code(parentheses: nil)]
        var index = 0
        func starts(_ literal: String, at position: Int) -> Bool {
            var at = position
            for wanted in literal {
                guard at < characters.count, characters[at] == wanted else { return false }
                at += 1
            }
            return true
        }
        func blank(_ count: Int) {
            for offset in 0..<count where index + offset < characters.count {
                out.append(characters[index + offset] == "\n" ? "\n" : " ")
            }
            index += count
        }
        while index < characters.count {
            let character = characters[index]
            switch stack[stack.count - 1] {
            case .code(let parentheses):
                if starts("//", at: index) {
                    while index < characters.count && characters[index] != "\n" { blank(1) }
                } else if starts("/*", at: index) {
                    var depth = 0
                    repeat {
                        if starts("/*", at: index) { depth += 1; blank(2) } else if starts("*/", at: index) { depth -= 1; blank(2) } else { blank(1) }
                    } while depth > 0 && index < characters.count
                } else if character == "#" || character == "\"" {
                    var hashes = 0
                    while index + hashes < characters.count && characters[index + hashes] == "#" { hashes += 1 }
                    guard index + hashes < characters.count, characters[index + hashes] == "\"" else { out.append(character); index += 1; continue }
                    let multiLine = starts("\"\"\"", at: index + hashes)
                    blank(hashes + (multiLine ? 3 : 1))
                    stack.append(.string(multiLine: multiLine, hashes: hashes))
                } else if let open = parentheses, character == "(" || character == ")" {
                    if character == ")" && open == 0 {
                        stack.removeLast()
                        blank(1)
                    } else {
                        stack[stack.count - 1] = .code(parentheses: open + (character == "(" ? 1 : -1))
                        out.append(character)
                        index += 1
                    }
                } else {
                    out.append(character)
                    index += 1
                }
            case .string(let multiLine, let hashes):
                let escape = "\\" + String(repeating: "#", count: hashes)
                let close = (multiLine ? "\"\"\"" : "\"") + String(repeating: "#", count: hashes)
                if starts(escape + "(", at: index) {
                    blank(escape.count + 1)
                    stack.append(.code(parentheses: 0))
                } else if starts(escape, at: index) {
                    blank(escape.count + 1)
                } else if starts(close, at: index) {
                    blank(close.count)
                    stack.removeLast()
                } else {
                    blank(1)
                }
            }
        }
        return String(out)
    }
}
