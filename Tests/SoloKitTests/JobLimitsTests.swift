import Testing
@testable import SoloKit

/// The limits' pure parts: rates as written in the config, the bucket's sums, the config keys
/// and how `solo status` shows what holds a queue back.
@Suite struct JobLimitsTests {
    @Test(arguments: [("100/s", 100, 1), ("600/min", 600, 60), ("5/h", 5, 3600), ("10/30s", 10, 30), ("1/d", 1, 86400),
                      ("3 / minute", 3, 60), ("7/2h", 7, 7200)])
    func ratesAreReadAsWritten(text: String, count: Int, seconds: Int64) throws {
        let rate = try RateLimit(text)
        #expect(rate.count == count && rate.period == .seconds(seconds))
        #expect(try RateLimit(rate.description) == rate, "\(rate.description) reads back")
    }

    @Test(arguments: [("100", "is not a rate"), ("0/s", "a count from 1"), ("x/s", "is not a rate"), ("10/fortnight", "unknown period"),
                      ("10/0s", "a period of"), ("5/2d", "1s to 1d"), ("5/s/s", "is not a rate")])
    func aBadRateSaysHowToWriteOne(text: String, complaint: String) {
        #expect(throws: ValueError.self) { try RateLimit(text) }
        do { _ = try RateLimit(text) } catch {
            #expect(error.message.contains(complaint) && error.message.contains("like 100/s"), "\(error.message)")
        }
    }

    @Test func aRateGoesEvenlyAfterABurstOfATenthOfASecond() throws {
        let rate = try RateLimit("50/s")
        #expect(rate.interval == 20 && rate.burst == 5)
        #expect(try RateLimit("100/min").burst == 1, "slower than ten a second: one at a time")
        // A bucket never used has a burst's worth.
        let now = 1_000_000.0
        let first = RateBucket.allowance(nil, wanted: 100, now: now, rate: rate)
        #expect(first.count == 5 && first.nextAt == now + 20)
        var spent = RateBucket.spend(nil, count: 5, now: now, rate: rate)
        #expect(RateBucket.allowance(spent, wanted: 100, now: now, rate: rate).count == 0)
        // 110 ms later: 5 more turns (one every 20 ms), not 5.5.
        #expect(RateBucket.allowance(spent, wanted: 100, now: now + 110, rate: rate).count == 5)
        // A long quiet spell refills only a burst.
        #expect(RateBucket.allowance(spent, wanted: 100, now: now + 60_000, rate: rate).count == 5)
        // Fewer wanted than allowed: all of them, and no next turn to wait for.
        let few = RateBucket.allowance(spent, wanted: 2, now: now + 110, rate: rate)
        #expect(few.count == 2 && few.nextAt == nil)
        spent = RateBucket.spend(spent, count: 2, now: now + 110, rate: rate)
        #expect(RateBucket.allowance(spent, wanted: 100, now: now + 110, rate: rate).count == 3)
    }

    @Test func bookedTurnsAreOneIntervalApart() throws {
        let rate = try RateLimit("2/s")
        let now = 5_000.0
        var spent: Double? = nil
        var turns: [Double] = []
        for _ in 0..<4 {
            let turn = RateBucket.book(spent, now: now, rate: rate)
            turns.append(turn.at)
            spent = turn.spent
        }
        #expect(turns == [now, now + 500, now + 1000, now + 1500])
    }

    @Test func jobsAreTakenAheadOnlyWhereNoLimitSuffersForIt() {
        let plain = Feeder.lookahead(workers: 8)
        #expect(Feeder.lookahead(workers: 8, limits: JobLimits(), limitedBy: nil) == plain)
        #expect(Feeder.lookahead(workers: 8, limits: JobLimits(concurrency: 20), limitedBy: nil) == 2, "an eighth of the queue's concurrency")
        #expect(Feeder.lookahead(workers: 8, limits: JobLimits(concurrency: 100_000), limitedBy: nil) == plain)
        #expect(Feeder.lookahead(workers: 8, limits: JobLimits(keyConcurrency: 3), limitedBy: nil) == 0)
        #expect(Feeder.lookahead(workers: 8, limits: JobLimits(rate: RateLimit(count: 50, period: .seconds(1))), limitedBy: .rateLimit) == 0)
    }

    @Test func theFourKeysAreReadAndShown() throws {
        let loaded = try memoryLoader(["/etc/solo/solo.conf": """
            [api]
            command = php worker.php
            concurrency = 10
            rate_limit = 600/min
            key_concurrency = 2
            key_rate_limit = 5/s
            """]).load("solo.conf")
        let pool = try #require(loaded.config.pool(named: "api"))
        #expect(pool.jobLimits == JobLimits(concurrency: 10, rate: RateLimit(count: 600, period: .seconds(60)), keyConcurrency: 2,
                                            keyRate: RateLimit(count: 5, period: .seconds(1))))
        #expect(pool.jobLimits.keyed)
        let plain = try memoryLoader(["/etc/solo/solo.conf": "[api]\ncommand = php worker.php\nrate_limit = none\n"]).load("solo.conf")
        #expect(try #require(plain.config.pool(named: "api")).jobLimits.isEmpty)
    }

    @Test func aBadLimitIsAnErrorAtItsLine() {
        let errors = loadErrors(["/etc/solo/solo.conf": "[api]\ncommand = php worker.php\nrate_limit = 100\nkey_concurrency = 0\n"])
        #expect(errors.contains { $0.hasPrefix("/etc/solo/solo.conf:3: rate_limit") && $0.contains("like 100/s") }, "\(errors)")
        #expect(errors.contains { $0.hasPrefix("/etc/solo/solo.conf:4: key_concurrency") }, "\(errors)")
    }

    @Test func statusSaysWhatHoldsTheQueueBack() throws {
        let queue = try JSON.parse("""
            {"name": "api", "ready": 40, "delayed": 5, "reserved": 10, "dead": 0, "held_key_concurrency": 3,
             "held_key_rate_limit": 2, "oldest_waiting_ms": 12000, "limited_by": "concurrency", "concurrency": 10}
            """)
        #expect(StatusView.limits(queue) == "; oldest waiting 12.0s; held back: 3 by key_concurrency, 2 by key_rate_limit; at concurrency 10")
        let rated = try JSON.parse(#"{"limited_by": "rate_limit", "rate_limit": "50/s", "held_key_concurrency": 0}"#)
        #expect(StatusView.limits(rated) == "; at rate_limit 50/s")
    }
}
