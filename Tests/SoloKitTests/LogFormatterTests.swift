import Glibc
import Testing
@testable import SoloKit

@Suite struct LogFormatterTests {
    @Test func linesCarryATimestampAndAPrefix() {
        let line = String(decoding: LogFormatter().line("did job 3", prefix: "mailer[2] 4242: "), as: UTF8.self)
        // 2026-11-23T05:54:19.168+0000 mailer[2] 4242: did job 3
        let parts = line.split(separator: " ", maxSplits: 1)
        #expect(parts.count == 2 && parts[1] == "mailer[2] 4242: did job 3\n")
        let stamp = Array(parts[0])
        #expect(stamp.count == 28 && stamp[4] == "-" && stamp[10] == "T" && stamp[19] == ".")
        #expect(stamp[23] == "+" || stamp[23] == "-")
    }
}
