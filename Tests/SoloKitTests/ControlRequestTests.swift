import Testing
@testable import SoloKit

@Suite struct PrintableTests {
    @Test func controlCharactersAreEscapedAndTextKept() {
        #expect(Printable.escape("status \u{1B}]0;pwned\u{07}\u{1B}[2J") == "status \\x1b]0;pwned\\x07\\x1b[2J")
        #expect(Printable.escape("nul\u{0}del\u{7F}cr\r") == "nul\\x00del\\x7fcr\\x0d")
        #expect(Printable.escape("a\tb") == "a\tb", "a tab stays")
        #expect(Printable.escape("café 日本 🚀 C:\\path") == "café 日本 🚀 C:\\path", "UTF-8 and backslashes stay")
        #expect(Printable.escape("csi\u{9B}31m") == "csi\\xc2\\x9b31m", "C1 controls too: U+009B is a CSI")
        #expect(Printable.escape("\u{1B}[2J").count == 7)
    }

    @Test func escapingTwiceChangesNothing() {
        let once = Printable.escape("x\u{1B}[31m\u{0}y")
        #expect(Printable.escape(once) == once)
    }

    @Test func bytesThatAreNotUTF8AreEscaped() {
        func escaped(_ bytes: [UInt8]) -> String {
            var output: [UInt8] = []
            bytes.withUnsafeBytes { Printable.append($0, to: &output) }
            return String(decoding: output, as: UTF8.self)
        }
        #expect(escaped([0x61, 0xFF, 0x62]) == "a\\xffb")
        #expect(escaped([0x9B, 0x32, 0x4A]) == "\\x9b2J", "a raw 8-bit CSI")
        #expect(escaped([0xC3, 0xA9, 0x1B]) == "é\\x1b")
        #expect(escaped([0xE6, 0x97]) == "\\xe6\\x97", "a cut sequence")
        #expect(escaped(Array("plain".utf8)) == "plain")
    }

    @Test func theLogAndTheStatusTableEscapeWhatWorkersWrote() {
        let line = String(decoding: LogFormatter().line("garbage \u{0}\u{1B}[2J", prefix: "solo: "), as: UTF8.self)
        #expect(line.hasSuffix("solo: garbage \\x00\\x1b[2J\n"))
        let status = JSON.object([("pid", .number(1)), ("pools", .array([.object([
            ("name", .string("p")), ("workers", .array([.object([("slot", .number(0)), ("status", .string("\u{1B}]0;pwned\u{07}"))])]))
        ])]))])
        let text = StatusView.render(status)
        #expect(text.contains("status: \\x1b]0;pwned\\x07") && !text.contains("\u{1B}"), "\(text)")
    }
}

@Suite struct SteeringArgumentsTests {
    @Test func severalPoolsEachOnce() throws {
        #expect(try ControlRequest.steering(.stop, operands: ["a", "b", "a"], wait: false) == .steer(.stop, pools: .named(["a", "b"]), wait: false))
        #expect(try ControlRequest.steering(.restart, operands: ["all"], wait: true) == .steer(.restart, pools: .all, wait: true))
        #expect(throws: UsageError("solo start: all already means every pool; name no pool beside it")) {
            try ControlRequest.steering(.start, operands: ["all", "a"], wait: false)
        }
        #expect(throws: UsageError("solo stop: name the pools, or all (solo stop mailer reports, solo stop all)")) {
            try ControlRequest.steering(.stop, operands: [], wait: false)
        }
    }

    @Test func theRequestsRoundTripAsJSON() throws {
        for request: ControlRequest in [.steer(.stop, pools: .named(["a", "b"]), wait: true), .steer(.restart, pools: .all, wait: false), .shutdown,
                                        .schedules, .runSchedule("nightly")] {
            #expect(try ControlRequest(json: JSON.parse(request.json.text)) == request)
        }
        #expect(try ControlRequest(json: JSON.parse(#"{"command":"restart","pool":"a"}"#)) == .steer(.restart, pools: .named(["a"]), wait: false),
                "the one-pool form still works")
        #expect(throws: ControlRequest.Invalid.self) { try ControlRequest(json: JSON.parse(#"{"command":"stop","pools":["a",3]}"#)) }
        #expect(throws: ControlRequest.Invalid.self) { try ControlRequest(json: JSON.parse(#"{"command":"stop","pools":[]}"#)) }
        #expect(throws: ControlRequest.Invalid(message: "schedule_run needs a schedule")) {
            try ControlRequest(json: JSON.parse(#"{"command":"schedule_run"}"#))
        }
    }

    @Test func scaleSaysWhatIsWrongWithTheCount() throws {
        #expect(try ControlRequest.scaling(operands: ["m", "8"]) == .scale(pool: "m", workers: 8, maxWorkers: nil))
        #expect(try ControlRequest.scaling(operands: ["m", "2-16"]) == .scale(pool: "m", workers: 2, maxWorkers: 16))
        #expect(throws: UsageError("solo scale: 5000 workers is too many: a pool runs at most 4096")) {
            try ControlRequest.scaling(operands: ["m", "5000"])
        }
        #expect(throws: UsageError("solo scale: 5000 workers is too many: a pool runs at most 4096")) {
            try ControlRequest.scaling(operands: ["m", "2-5000"])
        }
        #expect(throws: UsageError("solo scale: \"lots\" is not a whole number (try 8)")) { try ControlRequest.scaling(operands: ["m", "lots"]) }
        #expect(throws: UsageError.self) { try ControlRequest.scaling(operands: ["m"]) }
        #expect(throws: UsageError.self) { try ControlRequest.scaling(operands: ["m", "0-0"]) }
    }
}
