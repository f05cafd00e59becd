import Testing
@testable import SoloKit

@Suite struct ValuesTests {
    @Test func sizes() throws {
        #expect(try Values.size("128M") == 128 << 20)
        #expect(try Values.size("1G") == 1 << 30)
        #expect(try Values.size("512k") == 512 << 10)
        #expect(try Values.size("64MB") == 64 << 20)
        #expect(try Values.size("2GiB") == 2 << 30)
        #expect(try Values.size("4096") == 4096)
        #expect(try Values.size("1.5G") == 3 << 29)
    }

    @Test(arguments: ["12X", "", "M", "-5M", "1.5", "ten", "1e30G", "99999999999999999999", "20000000000G", "nanM"])
    func badSizes(_ text: String) {
        #expect(throws: ValueError.self) { try Values.size(text) }
    }

    @Test func sizeErrorSaysWhatIsRight() {
        #expect(throws: ValueError("\"12X\" is not a size (try 128M, 1G or 512K)")) { try Values.size("12X") }
    }

    @Test func durations() throws {
        #expect(try Values.duration("30s") == .seconds(30))
        #expect(try Values.duration("500ms") == .milliseconds(500))
        #expect(try Values.duration("1h") == .seconds(3600))
        #expect(try Values.duration("5m") == .seconds(300))
        #expect(try Values.duration("1h30m") == .seconds(5400))
        #expect(try Values.duration("2d") == .seconds(172_800))
        #expect(try Values.duration("10") == .seconds(10))
        #expect(try Values.duration("1.5s") == .milliseconds(1500))
    }

    @Test(arguments: ["5x", "", "s", "-1s", "1h-", "fast", "100000d100000d", "1e9d", "999999999999999999", "infs", "1..5s"])
    func badDurations(_ text: String) {
        #expect(throws: ValueError.self) { try Values.duration(text) }
    }

    @Test func ranges() throws {
        let parse = { (text: String) throws(ValueError) -> Int in try Values.integer(text, in: 0...10_000, example: "5") }
        #expect(try Values.range("1000-2000", parse) == 1000...2000)
        #expect(try Values.range("7", parse) == 7...7)
        #expect(try Values.range(" 5 - 8 ", parse) == 5...8)
        #expect(throws: ValueError("\"2000-1000\" is backwards (write 1000-2000)")) { try Values.range("2000-1000", parse) }
        #expect(throws: ValueError("\"-5\" is not a range (write LOW-HIGH, like 1000-2000)")) { try Values.range("-5", parse) }
        #expect(throws: ValueError("\"1s-\" is not a range (write LOW-HIGH, like 1s-10m)"), "the example is of the key's kind") {
            try Values.range("1s-", expected: "a range (write LOW-HIGH, like 1s-10m)", Values.duration)
        }
        #expect(try Values.range("1m-1h", Values.duration) == Duration.seconds(60)...Duration.seconds(3600))
    }

    @Test func booleansSignalsModes() throws {
        #expect(try Values.bool("yes") && Values.bool("On") && !Values.bool("no") && !Values.bool("0"))
        #expect(throws: ValueError.self) { try Values.bool("maybe") }
        #expect(try Values.signal("TERM") == 15)
        #expect(try Values.signal("SIGQUIT") == 3)
        #expect(try Values.signal("usr1") == 10)
        #expect(try Values.signal("9") == 9)
        #expect(throws: ValueError.self) { try Values.signal("TREM") }
        #expect(try Values.octalMode("022") == 0o22)
        #expect(try Values.octalMode("0027") == 0o27)
        #expect(throws: ValueError.self) { try Values.octalMode("098") }
    }

    @Test func environmentLists() throws {
        let parsed = try Values.environment(#"APP_ENV=prod, MAIL_HOST="smtp.example.org", GREETING="a, \"b\"", EMPTY=, Q='x y'"#)
        #expect(parsed.map(\.0) == ["APP_ENV", "MAIL_HOST", "GREETING", "EMPTY", "Q"])
        #expect(parsed.map(\.1) == ["prod", "smtp.example.org", #"a, "b""#, "", "x y"])
        #expect(throws: ValueError.self) { try Values.environment("NOEQUALS") }
        #expect(throws: ValueError.self) { try Values.environment("1BAD=x") }
        #expect(throws: ValueError.self) { try Values.environment(#"A="unclosed"#) }
    }

    @Test func formatting() {
        #expect(Values.formatSize(128 << 20) == "128M")
        #expect(Values.formatSize(137_600_000) == "131.2M")
        #expect(Values.formatSize(1000) == "1000")
        #expect(Values.formatDuration(.seconds(90)) == "1m30s")
        #expect(Values.formatDuration(.milliseconds(500)) == "500ms")
        #expect(Values.formatDuration(.milliseconds(1500)) == "1.5s")
        #expect(Values.formatDuration(.milliseconds(1250)) == "1250ms")
        #expect(Values.formatDuration(.seconds(3600)) == "1h")
        #expect(Values.formatElapsed(.milliseconds(8530)) == "8.5s")
        #expect(Values.formatElapsed(.milliseconds(42)) == "42ms")
    }

    @Test func formattedDurationsParseBack() throws {
        for ms in [1, 100, 999, 1000, 1250, 1500, 60_000, 90_500, 3_600_000, 86_400_000 + 1000] {
            let duration = Duration.milliseconds(ms)
            #expect(try Values.duration(Values.formatDuration(duration)) == duration)
        }
    }

    @Test func suggestions() {
        let keys = ["max_jobs", "memory_limit", "memory_kill", "stop_timeout", "workers"]
        #expect(Values.suggestion(for: "max_job", among: keys) == "max_jobs")
        #expect(Values.suggestion(for: "memory_limt", among: keys) == "memory_limit")
        #expect(Values.suggestion(for: "worker", among: keys) == "workers")
        #expect(Values.suggestion(for: "zzzzzz", among: keys) == nil)
    }
}

/// Random and mutated input never crashes a parser: it parses or it says what is wrong.
@Suite struct ParserRobustnessTests {
    static let alphabet = Array("0123456789.-:=;#[]\"' \tKMGTBkmgtbsmhdusinonefx\u{0}\u{7f}é\n")

    func randomText(_ random: inout SplitMix64, length: Int) -> String {
        String((0..<length).map { _ in Self.alphabet[Int(random.next() % UInt64(Self.alphabet.count))] })
    }

    @Test func valueParsersTakeAnything() {
        var random = SplitMix64(state: 99)
        for _ in 0..<20_000 {
            let text = randomText(&random, length: Int(random.next() % 24))
            _ = try? Values.size(text)
            _ = try? Values.duration(text)
            _ = try? Values.range(text, Values.duration)
            _ = try? Values.environment(text)
            _ = try? CommandWords.split(text)
            _ = WorkerMessage.parse(Array(text.utf8))
        }
    }

    @Test func configFilesTakeAnything() {
        var random = SplitMix64(state: 100)
        let keys = Keys.pool.map(\.name) + Keys.global.map(\.name)
        for _ in 0..<2_000 {
            var text = "[global]\n"
            for _ in 0..<Int(random.next() % 8) {
                let key = keys[Int(random.next() % UInt64(keys.count))]
                text += random.next() % 5 == 0 ? "[pool\(random.next() % 3)]\n" : "\(key) = \(randomText(&random, length: Int(random.next() % 16)))\n"
            }
            do {
                _ = try memoryLoader(["/etc/solo/solo.conf": text]).load("solo.conf")
            } catch {
                #expect(error.issues.allSatisfy { $0.description.hasPrefix("/etc/solo/solo.conf") }, "every error names the file")
            }
        }
    }
}
