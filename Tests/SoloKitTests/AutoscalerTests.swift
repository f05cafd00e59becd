import Testing
@testable import SoloKit

@Suite struct AutoscalerTests {
    let t0 = Moment(nanoseconds: 1_000_000_000_000)
    func at(_ seconds: Double) -> Moment { t0 + .milliseconds(Int64(seconds * 1000)) }

    @Test func growsWhileJobsWaitAtMostDoublingASecond() {
        var scaler = Autoscaler(range: 1...8, cooldown: .seconds(30))
        #expect(scaler.decide(current: 1, busy: 1, waiting: 20, now: at(0))?.workers == 2)
        #expect(scaler.decide(current: 2, busy: 2, waiting: 20, now: at(0.5)) == nil, "once a second at most")
        #expect(scaler.decide(current: 2, busy: 2, waiting: 20, now: at(1))?.workers == 4)
        #expect(scaler.decide(current: 4, busy: 4, waiting: 20, now: at(2))?.workers == 8)
        #expect(scaler.decide(current: 8, busy: 8, waiting: 20, now: at(3)) == nil, "never above the maximum")
        let why = Autoscaler(range: 1...8, cooldown: .seconds(30))
        var copy = why
        #expect(copy.decide(current: 2, busy: 2, waiting: 1, now: at(0)).map { $0.workers == 3 && $0.why == "1 job waiting, 2 busy" } == true,
                "to what is needed when that is less than double")
    }

    @Test func growsFromNothingWhenAJobArrives() {
        var scaler = Autoscaler(range: 0...4, cooldown: .seconds(30))
        #expect(scaler.decide(current: 0, busy: 0, waiting: 0, now: at(0)) == nil)
        #expect(scaler.decide(current: 0, busy: 0, waiting: 3, now: at(1))?.workers == 2)
        #expect(scaler.decide(current: 2, busy: 2, waiting: 1, now: at(2))?.workers == 3)
    }

    @Test func idleWorkersDoNotCountAsNeedButFreeWorkersAbsorbWaitingJobs() {
        var scaler = Autoscaler(range: 2...8, cooldown: .seconds(30))
        // Four workers, one busy, two jobs waiting (about to go to the idle ones): enough.
        #expect(scaler.decide(current: 4, busy: 1, waiting: 2, now: at(0)) == nil)
    }

    @Test func shrinksOnlyAfterACooldownAndToTheMostNeededMeanwhile() {
        var scaler = Autoscaler(range: 2...16, cooldown: .seconds(10))
        #expect(scaler.decide(current: 12, busy: 3, waiting: 0, now: at(0)) == nil)
        #expect(scaler.decide(current: 12, busy: 5, waiting: 1, now: at(4)) == nil)
        #expect(scaler.decide(current: 12, busy: 2, waiting: 0, now: at(9.9)) == nil, "not before the cooldown")
        let shrink = scaler.decide(current: 12, busy: 1, waiting: 0, now: at(10))
        #expect(shrink?.workers == 6, "to the peak need of the window (5 busy + 1 waiting)")
        #expect(shrink?.why == "at most 6 needed in the last 10s")
        // The next window starts afresh: an idle pool goes to its minimum, not below.
        #expect(scaler.decide(current: 6, busy: 0, waiting: 0, now: at(15)) == nil)
        #expect(scaler.decide(current: 6, busy: 0, waiting: 0, now: at(20))?.workers == 2)
        #expect(scaler.decide(current: 2, busy: 0, waiting: 0, now: at(40)) == nil)
    }

    @Test func aBurstDuringTheCooldownStartsItOver() {
        var scaler = Autoscaler(range: 1...8, cooldown: .seconds(10))
        #expect(scaler.decide(current: 4, busy: 0, waiting: 0, now: at(0)) == nil)
        #expect(scaler.decide(current: 4, busy: 4, waiting: 3, now: at(8))?.workers == 7)
        #expect(scaler.decide(current: 7, busy: 0, waiting: 0, now: at(12)) == nil, "the calm started again at 12 s")
        #expect(scaler.decide(current: 7, busy: 0, waiting: 0, now: at(21)) == nil)
        #expect(scaler.decide(current: 7, busy: 0, waiting: 0, now: at(22))?.workers == 1)
    }

    @Test func aCountOutsideTheRangeIsBroughtIntoIt() {
        var scaler = Autoscaler(range: 2...6, cooldown: .seconds(10))
        #expect(scaler.decide(current: 9, busy: 9, waiting: 9, now: at(0))?.workers == 6)
        #expect(scaler.decide(current: 0, busy: 0, waiting: 0, now: at(0))?.workers == 2)
    }
}
