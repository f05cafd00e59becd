import Glibc
import Testing
@testable import SoloKit

/// A seeded generator, so that tests of random draws repeat.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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

@Suite struct WorkerEnvironmentTests {
    let inherited = ["PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C", "AWS_SECRET=hunter2", "NOTIFY_SOCKET=/run/x", "SOLO_POOL=outer", "TERM=xterm"]

    @Test func clearEnvKeepsOnlyBasics() {
        var pool = PoolConfig(name: "mailer", file: "f", line: 1)
        pool.environment = [EnvironmentVariable(name: "APP_ENV", value: "prod")]
        let env = WorkerEnvironment.build(pool: pool, slot: 2, jobLimit: 1234, inherited: inherited, account: nil)
        #expect(env == ["PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C", "APP_ENV=prod",
                        "SOLO_POOL=mailer", "SOLO_WORKER=2", "SOLO_FD=3", "SOLO_MAX_JOBS=1234"])
    }

    @Test func passEnvAndNoClearEnv() {
        var pool = PoolConfig(name: "p", file: "f", line: 1)
        pool.passEnvironment = ["TERM"]
        #expect(WorkerEnvironment.build(pool: pool, slot: 0, jobLimit: nil, inherited: inherited, account: nil).contains("TERM=xterm"))
        pool.clearEnvironment = false
        let env = WorkerEnvironment.build(pool: pool, slot: 0, jobLimit: nil, inherited: inherited, account: nil)
        #expect(env.contains("AWS_SECRET=hunter2"))
        #expect(!env.contains { $0.hasPrefix("NOTIFY_SOCKET=") }, "solo's own systemd variables never pass")
        #expect(env.contains("SOLO_POOL=p") && !env.contains("SOLO_POOL=outer"))
        #expect(env.contains("SOLO_MAX_JOBS=0"))
    }

    @Test func switchedUserGetsItsHome() {
        let pool = PoolConfig(name: "p", file: "f", line: 1)
        let account = UserAccount(name: "www-data", uid: 33, gid: 33, home: "/var/www", shell: "/usr/sbin/nologin")
        let env = WorkerEnvironment.build(pool: pool, slot: 0, jobLimit: 1, inherited: inherited, account: account)
        #expect(env.contains("HOME=/var/www") && env.contains("USER=www-data") && env.contains("LOGNAME=www-data"))
        #expect(!env.contains("HOME=/root"))
    }
}

@Suite struct LockAddressTests {
    @Test func perUserAddressesAsTheOriginal() throws {
        #expect(try LockAddress.forUser(0) == 0x7f00_0001)
        #expect(LockAddress.format(try LockAddress.forUser(1000)) == "127.3.232.1")
        #expect(LockAddress.format(try LockAddress.forUser(65534)) == "127.255.254.1")
    }

    @Test func largeUidsDoNotCollide() throws {
        // The Perl original packed 16 bits: uid 65537 took uid 1's address.
        #expect(try LockAddress.forUser(65537) != LockAddress.forUser(1))
        #expect(LockAddress.format(try LockAddress.forUser(65537)) == "127.0.1.2")
        var seen = Set<UInt32>()
        for uid: UInt32 in [0, 1, 255, 256, 65535, 65536, 65537, 100_000, 165_535, 231_072, 1_000_000, 16_580_607] {
            #expect(seen.insert(try LockAddress.forUser(uid)).inserted, "uid \(uid)")
        }
        #expect(throws: LockAddress.TooLargeUID.self) { try LockAddress.forUser(16_580_608) }
    }

    @Test func parsesAndFormats() {
        #expect(LockAddress.parse("127.0.0.1") == 0x7f00_0001)
        #expect(LockAddress.parse("127.0.0") == nil)
        #expect(LockAddress.parse("127.0.0.256") == nil)
        #expect(LockAddress.format(0x7f01_0203) == "127.1.2.3")
    }
}

@Suite struct ProcFSTests {
    @Test func statFieldsAreCountedFromTheLastParenthesis() throws {
        let line = "4242 (my (odd) worker) S 1 4242 4242 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 123456 2301952 220 18446744073709551615"
        let stat = try #require(ProcFS.parseStat(line))
        #expect(stat.state == "S" && stat.parent == 1 && stat.group == 4242 && stat.session == 4242 && stat.startTime == 123456)
        let moved = "77 (php) R 4242 77 4242 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 99 2301952 220 0"
        let other = try #require(ProcFS.parseStat(moved))
        #expect(other.parent == 4242 && other.group == 77 && other.session == 4242, "group and session are fields 5 and 6")
        #expect(ProcFS.parseStat("garbage") == nil)
        #expect(ProcFS.parseStat("1 (x) S 1 2") == nil, "too short")
    }

    @Test func readsThisProcess() throws {
        let stat = try #require(ProcFS.stat(of: getpid()))
        #expect(stat.parent == getppid())
        #expect((ProcFS.residentBytes(of: getpid()) ?? 0) > 1 << 20)
        let reader = ResidentMemoryReader(pid: getpid())
        #expect((reader.residentBytes() ?? 0) > 1 << 20)
    }
}

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
