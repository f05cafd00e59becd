import Glibc
import Testing
@testable import SoloKit

@Suite struct RecyclePolicyTests {
    @Test func drawsStayInTheRangeAndCoverIt() {
        var random = SplitMix64(state: 3)
        var seen = Set<Int>()
        for _ in 0..<2000 {
            let limit = RecyclePolicy.drawJobLimit(5...8, othersRemaining: [], using: &random)
            #expect((5...8).contains(limit))
            seen.insert(limit)
        }
        #expect(seen == [5, 6, 7, 8])
    }

    @Test func aPoolsDrawsAreSpreadApart() {
        // Four workers starting together: best-candidate draws leave wide gaps, where four
        // independent uniform draws often land within a few jobs of each other.
        var random = SplitMix64(state: 4)
        var closest: [Int] = []
        for _ in 0..<200 {
            var drawn: [Int] = []
            for _ in 0..<4 { drawn.append(RecyclePolicy.drawJobLimit(1000...2000, othersRemaining: drawn, using: &random)) }
            let sorted = drawn.sorted()
            closest.append(zip(sorted, sorted.dropFirst()).map { $1 - $0 }.min()!)
        }
        let median = closest.sorted()[closest.count / 2]
        #expect(median > 120, "median closest gap \(median) jobs")
        #expect(closest.min()! > 10)
    }

    @Test func lifetimesSpreadToo() {
        var random = SplitMix64(state: 5)
        let range = Duration.seconds(3240)...Duration.seconds(3600)
        let a = RecyclePolicy.drawLifetime(range, othersRemaining: [], using: &random)
        let b = RecyclePolicy.drawLifetime(range, othersRemaining: [a], using: &random)
        #expect(range.contains(a) && range.contains(b))
        #expect(abs((a - b).nanoseconds) > 60_000_000_000)
    }
}
