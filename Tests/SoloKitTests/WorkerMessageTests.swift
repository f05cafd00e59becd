import Glibc
import Testing
@testable import SoloKit

@Suite struct WorkerMessageTests {
    @Test func parsesProtocolLines() {
        func parse(_ text: String) -> WorkerMessage { WorkerMessage.parse(Array(text.utf8)) }
        #expect(parse("ok") == .ok(nil))
        #expect(parse("ok {\"id\": 3}") == .ok("{\"id\": 3}"))
        #expect(parse("fail bad input") == .fail("bad input"))
        #expect(parse("retry") == .retry(nil))
        #expect(parse("retry 30") == .retry(.seconds(30)))
        #expect(parse("retry 500ms") == .retry(.milliseconds(500)))
        #expect(parse("ready") == .ready)
        #expect(parse("ready\r") == .ready)
        #expect(parse("status warming cache") == .status("warming cache"))
        #expect(parse("OK") == .invalid("OK"))
        #expect(parse("retry soon") == .invalid("retry soon"))
        #expect(parse("") == .invalid(""))
        #expect(parse("\u{1}\u{2}garbage") == .invalid("\u{1}\u{2}garbage"))
    }
}
