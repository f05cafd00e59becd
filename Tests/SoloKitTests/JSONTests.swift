import Testing
@testable import SoloKit

@Suite struct JSONParserTests {
    @Test func parsesWhatTheWriterWrites() throws {
        let value = JSON.object([("command", .string("status")), ("pool", .string("mail \"er\"\n\u{1}é😀")), ("n", .number(-42)),
                                 ("x", .double(1.5)), ("ok", .bool(true)), ("none", .null), ("list", .array([.number(1), .array([])]))])
        #expect(try JSON.parse(value.text) == value)
        #expect(try JSON.parse(#" {"a" : [ 1 , 2 ] } "#)["a"]?.arrayValue?.count == 2)
        #expect(try JSON.parse(#""\ud83d\ude00 \u00e9""#).stringValue == "😀 é")
        #expect(try JSON.parse("12").intValue == 12 && JSON.parse("true").boolValue == true)
    }

    @Test(arguments: ["", "{", "[1,", "{\"a\" 1}", "{1: 2}", "\"open", "tru", "1 2", "[\"\u{1}\"]", "\"\\x\"", "--1", "+1"])
    func refusesMalformedInput(_ text: String) {
        #expect(throws: JSON.ParseError.self) { try JSON.parse(text) }
    }

    /// A lone or mismatched UTF-16 surrogate names no character: an error, never a crash (a
    /// low half below 0xDC00 once overflowed and killed the supervisor from the control socket).
    @Test(arguments: [#""\ud800\u0041""#, #""\ud800""#, #""\ud800x""#, #""\udc00""#, #""\udbff\udbff""#,
                      #""\ud800\""#, #""\ud800\u""#, #""\u+041""#, #""\u-001""#, #""\u00g1""#])
    func refusesBadUnicodeEscapes(_ text: String) {
        #expect(throws: JSON.ParseError.self) { try JSON.parse(text) }
    }

    @Test func limitsNesting() {
        #expect(throws: JSON.ParseError.self) { try JSON.parse(String(repeating: "[", count: 10_000)) }
        #expect((try? JSON.parse(String(repeating: "[", count: 60) + String(repeating: "]", count: 60))) != nil)
    }
}
