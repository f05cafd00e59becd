import Testing
@testable import SoloKit

/// The pure parts of the Redis client: RESP in and out, script names, URLs, and what the
/// scripts' replies mean. The scripts themselves run on a real server (IntegrationTests).
@Suite struct RESPTests {
    func parseAll(_ text: String, chunk: Int = Int.max) throws -> [RESPValue] {
        var parser = RESPParser()
        var values: [RESPValue] = []
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            parser.append(Array(bytes[start..<end]))
            while let value = try parser.next() { values.append(value) }
            start = end
        }
        return values
    }

    @Test func encodesCommandsAsArraysOfBulkStrings() {
        let command = RedisCommand("SET", "key", "va\r\nlue", "")
        #expect(String(decoding: command.encoded(), as: UTF8.self) == "*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nlue\r\n$0\r\n\r\n")
        #expect(command.name == "SET")
        var bytes = RedisCommand("RPUSH", "q")
        bytes.append([0, 255, 10])
        #expect(bytes.encoded().suffix(7) == [UInt8(ascii: "\r"), 10, 0, 255, 10, 13, 10])
    }

    @Test func parsesEveryReplyType() throws {
        let text = "+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n*0\r\n*3\r\n:1\r\n*2\r\n$1\r\na\r\n$0\r\n\r\n+x\r\n"
        let expected: [RESPValue] = [.simple("OK"), .error("ERR wrong"), .integer(-42), .bulk(Array("he\r\no".utf8)), .bulk(nil),
                                     .array(nil), .array([]), .array([.integer(1), .array([.bulk([97]), .bulk([])]), .simple("x")])]
        #expect(try parseAll(text) == expected)
        // The same bytes in every chunking give the same replies.
        for chunk in [1, 2, 3, 7, 13] { #expect(try parseAll(text, chunk: chunk) == expected, "chunks of \(chunk)") }
    }

    @Test(arguments: ["?what\r\n", ":12x\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "*-5\r\n", ":\r\n"])
    func refusesMalformedStreams(_ text: String) {
        #expect(throws: RESPError.self) { try parseAll(text) }
    }

    @Test func boundsWhatItBuffers() {
        var parser = RESPParser(maximumBulk: 10)
        parser.append(Array("$11\r\n".utf8))
        #expect(throws: RESPError.self) { try parser.next() }
        var lines = RESPParser()
        lines.append([UInt8](repeating: UInt8(ascii: "+"), count: 70_000))
        #expect(throws: RESPError.self) { try lines.next() }
        var deep = RESPParser()
        deep.append(Array(String(repeating: "*1\r\n", count: 40).utf8))
        #expect(throws: RESPError.self) { try deep.next() }
    }

    /// A large reply arriving in small reads is read once: the parser keeps its place.
    @Test func readsALargeReplyInSmallPieces() throws {
        var parser = RESPParser()
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        var text = Array("*64\r\n".utf8)
        for _ in 0..<64 { text += Array("$\(payload.count)\r\n".utf8) + payload + [13, 10] }
        var values: [RESPValue] = []
        for start in stride(from: 0, to: text.count, by: 4096) {
            parser.append(Array(text[start..<min(text.count, start + 4096)]))
            while let value = try parser.next() { values.append(value) }
        }
        #expect(values.count == 1 && values[0].elements?.count == 64)
        #expect(parser.bufferedBytes == 0)
    }

    @Test func readsValuesOutOfReplies() {
        #expect(RESPValue.bulk(Array("12".utf8)).integer == 12)
        #expect(RESPValue.simple("PONG").string == "PONG")
        #expect(RESPValue.error("NOSCRIPT x").errorMessage == "NOSCRIPT x")
        #expect(RESPValue.bulk(nil).isNull && RESPValue.array(nil).isNull && !RESPValue.array([]).isNull)
    }

    /// Random bytes, and replies cut short or corrupted, end in values or an error, never a crash.
    @Test func survivesGarbage() {
        var random = SplitMix64(state: 7)
        let seeds = ["*2\r\n$3\r\nabc\r\n:5\r\n", "+OK\r\n", "$-1\r\n", "*1\r\n*1\r\n-ERR x\r\n"]
        for _ in 0..<3000 {
            var bytes = Array(seeds[Int(random.next() % UInt64(seeds.count))].utf8)
            for _ in 0..<Int(random.next() % 4) {
                let at = Int(random.next() % UInt64(bytes.count))
                bytes[at] = UInt8(truncatingIfNeeded: random.next())
            }
            var parser = RESPParser()
            parser.append(bytes)
            while (try? parser.next()) ?? nil != nil {}
        }
    }
}

@Suite struct SHA1Tests {
    @Test func matchesTheStandardVectors() {
        #expect(SHA1.hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(SHA1.hex(String(repeating: "a", count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }
}

@Suite struct RedisURLTests {
    @Test func readsTheUsualForms() throws {
        #expect(try RedisURL.parse("redis://127.0.0.1") == RedisURL(host: "127.0.0.1"))
        #expect(try RedisURL.parse("redis://cache.internal:6380/3") == RedisURL(host: "cache.internal", port: 6380, database: 3))
        #expect(try RedisURL.parse("redis://solo:s%40cret@10.0.0.5:6379/0") == RedisURL(host: "10.0.0.5", user: "solo", password: "s@cret"))
        #expect(try RedisURL.parse("redis://:pw@localhost/") == RedisURL(host: "localhost", password: "pw"))
        #expect(try RedisURL.parse("redis://pw@localhost") == RedisURL(host: "localhost", password: "pw"))
        #expect(try RedisURL.parse("redis://h:1/nightly", named: true) == RedisURL(host: "h", port: 1, name: "nightly"))
        #expect(try RedisURL.parse("redis://h/2/nightly:report", named: true) == RedisURL(host: "h", database: 2, name: "nightly:report"))
    }

    @Test func hidesThePassword() throws {
        #expect(try RedisURL.parse("redis://u:secret@h:7/1").description == "redis://u:***@h:7/1")
        #expect(try RedisURL.parse("redis://:secret@h").description == "redis://:***@h:6379/0")
        #expect(try RedisURL.parse("redis://h/job", named: true).description == "redis://h:6379/0/job")
    }

    @Test(arguments: [
        ("http://h", "is not a Redis URL"), ("rediss://h", "TLS"), ("redis://", "has no host"), ("redis://h:0", "not a port"),
        ("redis://h:99999", "not a port"), ("redis://h/x", "not a database number"), ("redis://h/1/2", "not a database number"),
        ("redis://[::1]:6379", "IPv6"), ("redis://u:%zz@h", "percent escape"), ("redis://h/99999999", "out of range"),
        ("redis://h sp", "has no host"),
    ])
    func refusesWhatIsNotAQueueURL(_ text: String, _ complaint: String) {
        #expect(throws: ValueError.self) { try RedisURL.parse(text) }
        #expect((try? RedisURL.parse(text)) == nil)
        do { _ = try RedisURL.parse(text) } catch { #expect(error.message.contains(complaint), "\(error.message)") }
    }

    @Test func aLockURLNamesItsLock() {
        for text in ["redis://h", "redis://h/", "redis://h/a b", "redis://h/1/x/y"] {
            #expect((try? RedisURL.parse(text, named: true)) == nil, "\(text)")
        }
    }
}

@Suite struct RedisRepliesTests {
    @Test func readsAReservation() throws {
        let reply = RESPValue.array([.integer(3), .integer(1), .integer(2), .integer(0), .integer(1500), .integer(4), .integer(5), .integer(-2),
                                     .bulk(Array("rate_limit".utf8)), .integer(20),
                                     .integer(7), .bulk(Array("job".utf8)), .bulk(Array("5".utf8)), .integer(2), .bulk([]), .bulk(Array("g".utf8)), .integer(12),
                                     .integer(8), .bulk([0x66, 0x0A]), .bulk(Array("-1".utf8)), .integer(1), .bulk(Array("3".utf8)), .bulk([]), .integer(0),
                                     .integer(9), .bulk([0x66, 0x0D, 0x67]), .bulk(Array("0".utf8)), .integer(1), .bulk([]), .bulk([]), .integer(0)])
        let reserved = try #require(RedisReplies.reserved(reply, queue: "q"))
        let (summary, jobs) = (reserved.summary, reserved.jobs)
        #expect(summary.counts.ready == 3 && summary.counts.delayed == 1 && summary.counts.reserved == 2)
        #expect(summary.counts.heldByKeyConcurrency == 4 && summary.counts.heldByKeyRate == 5)
        #expect(summary.counts.oldestWaitingMs == nil && !summary.lookedForOldest, "a reserve does not look for the oldest")
        #expect(summary.nextDelayedIn == .milliseconds(1500))
        #expect(reserved.limitedBy == .rateLimit && reserved.nextTurnIn == .milliseconds(20))
        #expect(jobs.count == 3)
        #expect(jobs[0] == ReservedJob(id: 7, payload: "job", priority: 5, attempts: 2, maxAttempts: nil, group: "g", waited: .milliseconds(12)))
        #expect(jobs[1].maxAttempts == 3 && jobs[1].group == nil && jobs[1].priority == -1)
        #expect(jobs[1].payloadProblem == PayloadProblem.newline, "a payload another program pushed with a line break is caught")
        #expect(jobs[2].payloadProblem == PayloadProblem.carriageReturn, "and one with a bare carriage return")
        #expect(RedisReplies.reserved(.array([.integer(1)]), queue: "q").map { _ in true } == nil)
        let idle = RedisSummary.parse([.integer(0), .integer(0), .integer(0), .integer(0), .integer(-1), .integer(0), .integer(0), .integer(900)], queue: "q")
        #expect(idle?.nextDelayedIn == nil && idle?.counts.oldestWaitingMs == 900 && idle?.lookedForOldest == true)
    }
}
