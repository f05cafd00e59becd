import Glibc
import Testing
@testable import SoloKit

/// Random and mutated input for the parsers that read what others wrote: the config loader,
/// the fd 3 protocol and the control socket's JSON. Seeded, so a failure repeats; each case must end in a config
/// or in errors that name their file and a line of it, never in a crash.
@Suite struct FuzzTests {
    static let seedConfig = """
        [global]
        lock_port = 4100
        state_dir = ../var
        metrics_listen = 127.0.0.1:9464
        include = pool.d/*.conf
        [mailer]
        command = php "my worker.php" --queue=mail ; a comment
        workers = 2-8
        max_jobs = 1000-2000
        memory_limit = 128M
        memory_kill = 256M
        max_lifetime = 50m-1h
        environment = A="x, y", B=2
        rlimit_nofile = 1024:4096
        stop_signal = TERM
        retry_delay = 1s-10m
        queue = sqlite:/var/lib/solo/queue.db
        """

    static let pieces = ["[", "]", "=", ";", "#", "\"", "'", "\\", " ", "\t", "\n", "\r\n", "-", ":", ",", "*", "..", "/",
                         "[global]", "[a]", "[mailer]", "command", "workers", "max_jobs", "memory_limit", "include",
                         "lock_port", "metrics_listen", "environment", "rlimit_nofile", "queue", "user", "1", "0", "-1",
                         "99999999999999999999", "1G", "10ms", "1h", "TERM", "sqlite:", "none", "é", "\u{0}", "\u{FEFF}"]

    /// Loads `text` as /etc/solo/solo.conf and checks the outcome: a config, or issues that each
    /// name the file and a line within it (0 for the file as a whole).
    func check(_ text: String, lines: Int) {
        do {
            _ = try memoryLoader(["/etc/solo/solo.conf": text, "/etc/solo/pool.d/x.conf": "[x]\ncommand = y\n"]).load("/etc/solo/solo.conf")
        } catch {
            for issue in error.issues {
                #expect(issue.file.hasPrefix("/etc/solo/"), "\(issue) for \(quoted(text))")
                #expect(issue.line >= 0 && issue.line <= lines + 1, "\(issue) for \(quoted(text))")
                #expect(issue.description.hasPrefix(issue.file + (issue.line > 0 ? ":\(issue.line): " : ": ")))
                #expect(!issue.message.isEmpty)
            }
        }
    }

    @Test func randomConfigsLoadOrSayWhereTheyAreWrong() {
        var random = SplitMix64(state: 0xC0F1)
        for _ in 0..<5000 {
            var text = ""
            for _ in 0..<Int.random(in: 1...40, using: &random) { text += Self.pieces.randomElement(using: &random)! }
            check(text, lines: text.split(separator: "\n", omittingEmptySubsequences: false).count)
        }
    }

    /// `seed` with a few random changes: a byte replaced, removed, a piece inserted, a run copied.
    static func mutated(_ seed: [UInt8], times: ClosedRange<Int>, pieces: [String], using random: inout SplitMix64) -> [UInt8] {
        var bytes = seed
        for _ in 0..<Int.random(in: times, using: &random) {
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
            case 1: bytes.remove(at: at)
            case 2: bytes.insert(contentsOf: Array(pieces.randomElement(using: &random)!.utf8), at: at)
            default:
                let end = min(bytes.count, at + Int.random(in: 1...30, using: &random))
                let copied = Array(bytes[at..<end])
                bytes.insert(contentsOf: copied, at: Int.random(in: 0..<bytes.count, using: &random))
            }
            if bytes.isEmpty { bytes = seed }
        }
        return bytes
    }

    @Test func mutatedConfigsLoadOrSayWhereTheyAreWrong() {
        var random = SplitMix64(state: 0xF022)
        let seed = Array(Self.seedConfig.utf8)
        for _ in 0..<5000 {
            let text = String(decoding: Self.mutated(seed, times: 1...8, pieces: Self.pieces, using: &random), as: UTF8.self)
            check(text, lines: text.split(separator: "\n", omittingEmptySubsequences: false).count)
        }
    }

    @Test func randomProtocolBytesNeverBreakTheLineBufferOrTheParser() {
        var random = SplitMix64(state: 0xFD03)
        let words = ["ok", "fail", "retry", "ready", "status", " ", "\r", "\n", "\n", "5s", "-1s", "x", "\u{0}", "é", "9999999999h"]
        for round in 0..<3000 {
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 0...60, using: &random) {
                if Bool.random(using: &random) {
                    stream += Array(words.randomElement(using: &random)!.utf8)
                } else {
                    stream += (0..<Int.random(in: 1...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                }
            }
            if round % 100 == 0 { stream += [UInt8](repeating: UInt8(ascii: "a"), count: 70_000) + [10] }
            let maximum = 64 * 1024
            var buffer = LineBuffer(maximumLine: maximum, overflow: .truncate)
            var pieces: [LineBuffer.Piece] = []
            // Fed in random chunks, as reads from a pipe come.
            var offset = 0
            while offset < stream.count {
                let end = min(stream.count, offset + Int.random(in: 1...4096, using: &random))
                stream[offset..<end].withUnsafeBytes { pieces += buffer.append($0) }
                offset = end
            }
            pieces += buffer.finish()
            let expected = stream.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
            var lines: [[UInt8]] = []
            for piece in pieces {
                switch piece {
                case .line(let bytes):
                    #expect(bytes.count <= maximum)
                    lines.append(bytes)
                    let message = WorkerMessage.parse(bytes)
                    if case .invalid(let text) = message { #expect(!text.isEmpty || bytes.isEmpty || bytes == [13]) }
                case .truncated(let bytes):
                    #expect(bytes.count == maximum)
                    lines.append(bytes)
                case .partial: Issue.record("a truncating buffer split a line")
                }
            }
            // Every line comes out once, whole or cut to the maximum; a final line without a
            // newline too (an empty one is no line).
            let wanted = expected.enumerated().filter { $0.offset < expected.count - 1 || !$0.element.isEmpty }.map { Array($0.element.prefix(maximum)) }
            #expect(lines == wanted, "round \(round)")
        }
    }

    static let jsonPieces = ["{", "}", "[", "]", ":", ",", "\"", "\\", "\\u", "\\ud800", "\\udbff", "\\udc00", "\\udfff",
                             "\\u0041", "\\uffff", "\\u00", "\\n", "\\x", "d8", "DC", "0", "-", "1e999", "-0.5e-3", "99999999999999999999",
                             "true", "nul", " ", "\t", "\n", "\u{0}", "\u{1}", "é", "😀", "\"command\"", "\"pool\""]

    /// Parses `bytes` as the control server does; what parses must write out as JSON that
    /// parses to the same value.
    func checkJSON(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let value = try? JSON.parse(text) else { return }
        let again = try? JSON.parse(value.text)
        #expect(again == value, "\(quoted(text))")
    }

    @Test func randomJSONParsesOrIsRefusedNeverCrashes() {
        var random = SplitMix64(state: 0x150E)
        for _ in 0..<20_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 1...30, using: &random) {
                if Int.random(in: 0..<4, using: &random) == 0 {
                    bytes += (0..<Int.random(in: 1...6, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                } else {
                    bytes += Array(Self.jsonPieces.randomElement(using: &random)!.utf8)
                }
            }
            checkJSON(bytes)
        }
    }

    @Test func mutatedControlRequestsParseOrAreRefused() {
        var random = SplitMix64(state: 0x150F)
        let seed = Array(#"{"command":"status","pool":"m\u00e9iler \ud83d\ude00","n":[1,-2.5e3,true,null,{"a":"\n"}]}"#.utf8)
        for _ in 0..<20_000 {
            checkJSON(Self.mutated(seed, times: 1...6, pieces: Self.jsonPieces, using: &random))
        }
    }
}
