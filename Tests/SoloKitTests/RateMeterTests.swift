import Glibc
import Testing
@testable import SoloKit

@Suite struct RateMeterTests {
    @Test func countsPerSecondOverTenSeconds() {
        var meter = RateMeter()
        let t0 = Moment(nanoseconds: 100_000_000_000)
        for second in 0..<9 { meter.record(18, now: t0 + .seconds(Int64(second))) }
        #expect(meter.perSecond(now: t0 + .seconds(9)) == 18)
        #expect(meter.perSecond(now: t0 + .seconds(60)) == 0, "old seconds fall out")
    }
}
