import Glibc
import Testing
@testable import SoloKit

@Suite struct LineBufferTests {
    func feed(_ buffer: inout LineBuffer, _ text: String) -> [LineBuffer.Piece] {
        var copy = text
        return copy.withUTF8 { buffer.append(UnsafeRawBufferPointer($0)) }
    }

    @Test func splitsLinesAcrossReads() {
        var buffer = LineBuffer(maximumLine: 100, overflow: .truncate)
        #expect(feed(&buffer, "ok 1\nok") == [.line(Array("ok 1".utf8))])
        #expect(feed(&buffer, " 2\n\nfail") == [.line(Array("ok 2".utf8)), .line([])])
        #expect(buffer.finish() == [.line(Array("fail".utf8))])
    }

    @Test func overLongLinesAreBounded() {
        var protocolLines = LineBuffer(maximumLine: 4, overflow: .truncate)
        #expect(feed(&protocolLines, "abcdefghij\nok\n") == [.truncated(Array("abcd".utf8)), .line(Array("ok".utf8))])
        var logLines = LineBuffer(maximumLine: 4, overflow: .split)
        #expect(feed(&logLines, "abcdefghij\nok\n") == [.partial(Array("abcd".utf8)), .partial(Array("efgh".utf8)), .line(Array("ij".utf8)), .line(Array("ok".utf8))])
        var exact = LineBuffer(maximumLine: 4, overflow: .truncate)
        #expect(feed(&exact, "abcd\n") == [.line(Array("abcd".utf8))], "a line of exactly the maximum is whole")
    }
}
