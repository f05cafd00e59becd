import Glibc
import Testing
@testable import SoloKit

@Suite struct BackoffTests {
    @Test func firstDeathRestartsAtOnceThenDoublesToTheCap() {
        var random = SplitMix64(state: 1)
        var backoff = Backoff(minimum: .milliseconds(100), maximum: .seconds(60), reset: .seconds(10))
        let quick = Duration.milliseconds(50)
        #expect(backoff.delay(afterExitWith: quick, workerAtFault: true, using: &random) == .zero)
        var previous = Duration.zero
        for expected in [100, 200, 400, 800, 1600] {
            let delay = backoff.delay(afterExitWith: quick, workerAtFault: true, using: &random)
            #expect(delay >= .milliseconds(expected) && delay <= .milliseconds(expected * 11 / 10), "jitter stays within 10%")
            #expect(delay > previous)
            previous = delay
        }
        for _ in 0..<40 { _ = backoff.delay(afterExitWith: quick, workerAtFault: true, using: &random) }
        #expect(backoff.delay(afterExitWith: quick, workerAtFault: true, using: &random) == .seconds(60), "capped, never given up")
    }

    @Test func stayingUpOrAnExitNotTheWorkersFaultResets() {
        var random = SplitMix64(state: 2)
        var backoff = Backoff(minimum: .milliseconds(100), maximum: .seconds(60), reset: .seconds(10))
        for _ in 0..<5 { _ = backoff.delay(afterExitWith: .zero, workerAtFault: true, using: &random) }
        #expect(backoff.delay(afterExitWith: .seconds(11), workerAtFault: true, using: &random) == .zero)
        #expect(backoff.failures == 1)
        _ = backoff.delay(afterExitWith: .zero, workerAtFault: true, using: &random)
        #expect(backoff.delay(afterExitWith: .zero, workerAtFault: false, using: &random) == .zero)
        #expect(backoff.failures == 0)
    }
}
