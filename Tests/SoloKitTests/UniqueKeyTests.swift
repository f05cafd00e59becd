@testable import SoloKit
import Testing

@Suite struct UniqueKeyTests {
    @Test func aKeyIsPrintableAndBounded() {
        #expect(UniqueKey.problem("report:2026-12-06") == nil)
        #expect(UniqueKey.problem("café ☕") == nil)
        #expect(UniqueKey.problem("") == "is empty")
        #expect(UniqueKey.problem(String(repeating: "k", count: UniqueKey.maximumLength)) == nil)
        #expect(UniqueKey.problem(String(repeating: "k", count: UniqueKey.maximumLength + 1)) == "is longer than 512 bytes")
        for bad in ["a\nb", "a\rb", "a\tb", "a\u{7F}"] { #expect(UniqueKey.problem(bad)?.contains("control character") == true, "\(bad)") }
    }

    /// The payload's SHA-1 in hex, as any program computes it (RFC 3174's test vectors).
    @Test func aPayloadsKeyIsItsSHA1() {
        func key(_ text: String) -> String { Array(text.utf8).withUnsafeBytes { UniqueKey.of(payload: $0) } }
        #expect(key("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(key("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(SHA1.hex("abc") == key("abc"))
    }
}
