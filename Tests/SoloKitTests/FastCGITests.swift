import Foundation
import Testing
@testable import SoloKit

/// The FastCGI codec, what a response makes of its job, and a fastcgi pool's config keys.
@Suite struct FastCGITests {
    /// The records of `bytes` as (type, request id, content), checking the framing of each.
    static func records(_ bytes: [UInt8]) -> [(type: UInt8, id: UInt16, content: [UInt8])] {
        var records: [(UInt8, UInt16, [UInt8])] = []
        var i = 0
        while i < bytes.count {
            #expect(bytes[i] == 1)
            let length = Int(bytes[i + 4]) << 8 | Int(bytes[i + 5]), padding = Int(bytes[i + 6])
            #expect((8 + length + padding) % 8 == 0, "records are padded to 8 bytes")
            records.append((bytes[i + 1], UInt16(bytes[i + 2]) << 8 | UInt16(bytes[i + 3]), Array(bytes[i + 8..<i + 8 + length])))
            i += 8 + length + padding
        }
        #expect(i == bytes.count)
        return records
    }

    /// Name-value pairs back from PARAMS content.
    static func pairs(_ content: [UInt8]) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var i = 0
        func length() -> Int {
            if content[i] < 128 { i += 1; return Int(content[i - 1]) }
            defer { i += 4 }
            return Int(content[i] & 0x7F) << 24 | Int(content[i + 1]) << 16 | Int(content[i + 2]) << 8 | Int(content[i + 3])
        }
        while i < content.count {
            let n = length(), v = length()
            pairs.append((String(decoding: content[i..<i + n], as: UTF8.self), String(decoding: content[i + n..<i + n + v], as: UTF8.self)))
            i += n + v
        }
        return pairs
    }

    /// A response as PHP-FPM writes it: STDOUT in records of `chunk` bytes, an optional STDERR,
    /// END_REQUEST.
    static func response(_ stdout: String, stderr: String = "", chunk: Int = 65535, id: UInt16 = 1) -> [UInt8] {
        var bytes: [UInt8] = []
        func record(_ type: UInt8, _ content: ArraySlice<UInt8>, padding: Int) {
            bytes += [1, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
            bytes += content
            bytes += repeatElement(0, count: padding)
        }
        let out = Array(stdout.utf8)
        var start = 0
        while start < out.count {
            record(6, out[start..<min(start + chunk, out.count)], padding: start % 7)
            start += chunk
        }
        record(6, [], padding: 0)
        if !stderr.isEmpty { record(7, Array(stderr.utf8)[...], padding: 3) }
        record(3, [0, 0, 0, 0, 0, 0, 0, 0], padding: 0)
        return bytes
    }

    // MARK: - the request

    @Test func aRequestBeginsSendsItsParamsAndBodyAndEndsEachStream() {
        let body = [UInt8](repeating: 0x61, count: 70_000)
        let long = String(repeating: "v", count: 300)
        let bytes = FastCGI.request(params: [("SCRIPT_FILENAME", "/srv/job.php"), ("LONG", long)], body: body)
        let records = Self.records(bytes)
        #expect(records.allSatisfy { $0.id == 1 })
        #expect(records.map(\.type) == [1, 4, 4, 5, 5, 5])
        #expect(records[0].content == [0, 1, 0, 0, 0, 0, 0, 0], "responder, no keep-alive")
        #expect(Self.pairs(records[1].content).map(\.0) == ["SCRIPT_FILENAME", "LONG"])
        #expect(Self.pairs(records[1].content).map(\.1) == ["/srv/job.php", long], "a value over 127 bytes has a 4-byte length")
        #expect(records[2].content.isEmpty && records[5].content.isEmpty, "each stream ends with an empty record")
        #expect(records[3].content.count == 65535 && records[4].content.count == 70_000 - 65535)
    }

    @Test func paramsCarryTheJob() {
        var job = ReservedJob(id: 42, payload: "{\"a\":1}", priority: 0, attempts: 2)
        var params = Dictionary(uniqueKeysWithValues: FastCGIExecutor.params(for: job, pool: "php", queue: "mail", script: "/srv/bin/job.php", bodyLength: 7))
        #expect(params["SCRIPT_FILENAME"] == "/srv/bin/job.php" && params["SCRIPT_NAME"] == "/job.php")
        #expect(params["REQUEST_METHOD"] == "POST" && params["CONTENT_LENGTH"] == "7")
        #expect(params["SOLO_JOB_ID"] == "42" && params["SOLO_QUEUE"] == "mail" && params["SOLO_ATTEMPT"] == "2" && params["SOLO_POOL"] == "php")
        #expect(params["SOLO_GROUP"] == nil)
        job.group = "batch-7"
        params = Dictionary(uniqueKeysWithValues: FastCGIExecutor.params(for: job, pool: "php", queue: "mail", script: "/j.php", bodyLength: 7))
        #expect(params["SOLO_GROUP"] == "batch-7")
    }

    // MARK: - the response

    @Test func aResponseSplitAtEveryByteDecodesTheSame() throws {
        let text = "Status: 201 Created\r\nX-Solo-Outcome: ok\r\nContent-type: text/plain\r\n\r\nthe result"
        let bytes = Self.response(text, stderr: "PHP Notice: x", chunk: 9)
        for split in 0...bytes.count {
            var decoder = FastCGI.Decoder(limit: 1 << 20)
            try decoder.feed(bytes[..<split])
            try decoder.feed(bytes[split...])
            #expect(decoder.ended?.completed == true)
            #expect(decoder.stdout == Array(text.utf8) && decoder.stderr == Array("PHP Notice: x".utf8))
        }
        var decoder = FastCGI.Decoder(limit: 1 << 20)
        for byte in bytes { try decoder.feed([byte]) }
        let response = try FastCGI.Response.parse(decoder.stdout)
        #expect(response.status == 201 && response.header("x-solo-outcome") == "ok" && response.body == Array("the result".utf8))
    }

    @Test func unknownAndManagementRecordsAreSkipped() throws {
        var decoder = FastCGI.Decoder(limit: 1 << 20)
        try decoder.feed([1, 11, 0, 0, 0, 8, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0])  // UNKNOWN_TYPE (management, id 0)
        try decoder.feed([1, 99, 0, 1, 0, 2, 6, 0, 1, 2, 0, 0, 0, 0, 0, 0])  // a type from the future
        try decoder.feed(Self.response("\r\n\r\nok"))
        #expect(decoder.ended != nil && decoder.stdout == Array("\r\n\r\nok".utf8))
    }

    @Test func aWrongRequestIDOrVersionIsAProtocolError() {
        var decoder = FastCGI.Decoder(limit: 1 << 20)
        #expect(throws: FastCGI.ProtocolError.self) { try decoder.feed(Self.response("\r\n\r\n", id: 2)) }
        var other = FastCGI.Decoder(limit: 1 << 20)
        #expect(throws: FastCGI.ProtocolError.self) { try other.feed([2, 6, 0, 1, 0, 0, 0, 0]) }
        var short = FastCGI.Decoder(limit: 1 << 20)
        #expect(throws: FastCGI.ProtocolError.self) { try short.feed([1, 3, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0]) }
        var big = FastCGI.Decoder(limit: 10)
        #expect(throws: FastCGI.ProtocolError.self) { try big.feed(Self.response("Status: 200\r\n\r\nmore than ten bytes")) }
    }

    @Test func theCGIResponseHasItsStatusHeadersAndBody() throws {
        let plain = try FastCGI.Response.parse(Array("Content-type: text/html\n\nhello\n".utf8))
        #expect(plain.status == 200 && plain.header("content-type") == "text/html" && plain.body == Array("hello\n".utf8))
        #expect(try FastCGI.Response.parse(Array("Status: 404 Not Found\r\n\r\n".utf8)).status == 404)
        #expect(throws: FastCGI.ProtocolError.self) { try FastCGI.Response.parse(Array("no headers at all".utf8)) }
        #expect(throws: FastCGI.ProtocolError.self) { try FastCGI.Response.parse(Array("Status: soon\r\n\r\n".utf8)) }
        #expect(throws: FastCGI.ProtocolError.self) { try FastCGI.Response.parse(Array("garbage line\r\n\r\n".utf8)) }
    }

    /// Mutated and random responses, split at random: the decoder ends in a response, an error,
    /// or waiting for more, and never crashes or keeps more than its limit.
    @Test func randomAndMutatedResponsesNeverCrashTheDecoder() {
        var random = SplitMix64(state: 0xFC61)
        let seed = Self.response("Status: 200\r\nX-Solo-Outcome: retry 5\r\n\r\nbody", stderr: "warn", chunk: 5)
        let pieces = ["\u{1}", "\u{6}", "\u{3}", "\u{0}", "\r\n", ":", "Status: 99"]
        for round in 0..<5000 {
            let bytes = round % 5 == 0
                ? (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                : FuzzTests.mutated(seed, times: 1...6, pieces: pieces, using: &random)
            var decoder = FastCGI.Decoder(limit: 64)
            let split = Int.random(in: 0...bytes.count, using: &random)
            do {
                try decoder.feed(bytes[..<split])
                try decoder.feed(bytes[split...])
                #expect(decoder.stdout.count <= 64)
                if decoder.ended != nil { _ = FastCGIVerdict.of((try? FastCGI.Response.parse(decoder.stdout)) ?? .init(status: 500, headers: [], body: []), stderr: decoder.stderr) }
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
    }

    // MARK: - the verdict

    static func verdict(_ text: String, stderr: String = "") throws -> FastCGIVerdict {
        FastCGIVerdict.of(try FastCGI.Response.parse(Array(text.utf8)), stderr: Array(stderr.utf8))
    }

    @Test func theResponseDecidesTheOutcome() throws {
        #expect(try Self.verdict("Content-type: text/plain\r\n\r\n{\"sent\":3}") == .answer(.ok("{\"sent\":3}")))
        #expect(try Self.verdict("Status: 204\r\n\r\n") == .answer(.ok(nil)))
        #expect(try Self.verdict("X-Solo-Outcome: retry 30\r\n\r\n") == .answer(.retry(.seconds(30))))
        #expect(try Self.verdict("X-Solo-Outcome: retry\r\n\r\n") == .answer(.retry(nil)))
        #expect(try Self.verdict("X-Solo-Outcome: fail no such user\r\n\r\n") == .answer(.fail("no such user")))
        #expect(try Self.verdict("Status: 500\r\nX-Solo-Outcome: ok\r\n\r\ndone anyway") == .answer(.ok("done anyway")), "the header overrides")
        #expect(try Self.verdict("X-Solo-Outcome: maybe\r\n\r\n") == .lost("its X-Solo-Outcome header \"maybe\" is none of ok, fail [REASON], retry [SECONDS]"))
        #expect(try Self.verdict("Status: 503 Service Unavailable\r\n\r\nbusy\nnow", stderr: "PHP Fatal error: x")
                == .lost("php-fpm answered 503: busy / now (its log: PHP Fatal error: x)"))
        #expect(try Self.verdict("Status: 404 Not Found\r\n\r\nFile not found.") == .lost("php-fpm answered 404: File not found."))
    }

    @Test func aResultOverAWorkersLineIsARetry() throws {
        let most = String(repeating: "r", count: 64 * 1024)
        #expect(try Self.verdict("Status: 200\r\n\r\n" + most) == .answer(.ok(most)))
        let over = FastCGIVerdict.lost("its result is 65537 bytes, over the 64K a result keeps (keep a big result elsewhere and return where)")
        #expect(try Self.verdict("Status: 200\r\n\r\n" + most + "r") == over)
        #expect(try Self.verdict("X-Solo-Outcome: ok\r\n\r\n" + most + "r") == over)
    }

    @Test func aRequestsEndCountsAsAWorkersAnswerWould() {
        var config = PoolConfig(name: "php", file: "/etc/solo/solo.conf", line: 1)
        config.fastcgi = .unix(path: "/run/fpm.sock")
        config.script = "/srv/job.php"
        config.queue = .sqlite(path: "/tmp/q.db")
        config.maxAttempts = 3
        let pool = Pool(config: config)
        var random = SplitMix64(state: 1)
        let job = ReservedJob(id: 7, payload: "x", priority: 0, attempts: 1, waited: .milliseconds(5))
        pool.requestStarted(job)
        #expect(pool.requestsInFlight == 1 && !pool.isIdle)
        #expect(pool.requestEnded(job, .answer(.ok("r")), after: .milliseconds(3), timedOut: false, now: .now(), using: &random) == .done(id: 7, result: "r"))
        #expect(pool.isIdle && pool.counters.jobs["done"] == 1)
        pool.requestStarted(job)
        guard case .retry(7, "it ran over job_timeout", _, 3) = pool.requestEnded(job, .lost("it ran over job_timeout"), after: .seconds(1), timedOut: true,
                                                                                    now: .now(), using: &random) else {
            Issue.record("a lost request is a retry")
            return
        }
        #expect(pool.counters.jobs["timed_out"] == 1)
        pool.requestStarted(job)
        #expect(pool.requestEnded(job, .answer(.fail("bad")), after: .seconds(1), timedOut: false, now: .now(), using: &random) == .dead(id: 7, error: "bad"))
        #expect(pool.counters.jobs["failed"] == 1)
        #expect(pool.reconcile(now: .now(), using: &random).isEmpty, "a fastcgi pool starts no worker")
    }

    // MARK: - the config

    static let base = "[global]\nstate_dir = /var/lib/solo\n"

    @Test func aFastCGIPoolLoads() throws {
        let text = Self.base + "[php]\nfastcgi = [::1]:9000\nscript = /srv/app/bin/job.php\nworkers = 8\njob_timeout = 30s\n"
        let loaded = try memoryLoader(["/etc/solo/solo.conf": text]).load("/etc/solo/solo.conf")
        let pool = try #require(loaded.config.pools.first)
        #expect(pool.fastcgi == .tcp(host: "::1", port: 9000) && pool.script == "/srv/app/bin/job.php" && pool.workers == 8)
        #expect(loaded.warnings.isEmpty)
        let rendered = ConfigRender.render(loaded.config)
        #expect(!rendered.contains("command") && rendered.contains("fastcgi       = [::1]:9000"))
        let again = try memoryLoader(["/etc/solo/solo.conf": rendered]).load("/etc/solo/solo.conf")
        #expect(again.config.pools.first?.fastcgi == pool.fastcgi && again.config.pools.first?.script == pool.script)
    }

    @Test func addressesParse() throws {
        #expect(try FastCGIAddress.parse("127.0.0.1:9000") == .tcp(host: "127.0.0.1", port: 9000))
        #expect(try FastCGIAddress.parse("unix:/run/php/php8.2-fpm.sock") == .unix(path: "/run/php/php8.2-fpm.sock"))
        for bad in ["localhost:9000", "127.0.0.1", "[::1]", "unix:run/fpm.sock", "[x]:9000", "1.2.3.4:0"] {
            #expect(throws: ValueError.self, "\(bad)") { try FastCGIAddress.parse(bad) }
        }
    }

    @Test func mistakesAreNamedWithTheirFix() {
        let cases: [(String, String)] = [
            ("fastcgi = 127.0.0.1:9000\n", "/etc/solo/solo.conf:4: fastcgi: needs script = /path/job.php"),
            ("script = /srv/job.php\n", "/etc/solo/solo.conf:4: script: needs fastcgi = ADDRESS"),
            ("fastcgi = 127.0.0.1:9000\nscript = /srv/job.php\ncommand = php w.php\n", "/etc/solo/solo.conf:6: command: is not run by a fastcgi pool"),
            ("fastcgi = 127.0.0.1:9000\nscript = /srv/job.php\nqueue = none\n", "/etc/solo/solo.conf:6: queue: none gives a fastcgi pool no jobs"),
            ("fastcgi = 127.0.0.1:9000\nscript = /srv/job.php\nworkers = 2-8\n", "/etc/solo/solo.conf:6: workers: a fastcgi pool sends a fixed number"),
            ("fastcgi = 127.0.0.1:9000\nscript = job.php\n", "/etc/solo/solo.conf:5: script: \"job.php\" is not an absolute path"),
            ("fastcgi = localhost:9000\nscript = /srv/job.php\n", "/etc/solo/solo.conf:4: fastcgi: \"localhost:9000\": \"localhost\" is not an IPv4 address"),
        ]
        for (keys, expected) in cases {
            let errors = loadErrors(["/etc/solo/solo.conf": Self.base + "[php]\n" + keys])
            #expect(errors.contains { $0.hasPrefix(expected) }, "\(errors) for \(keys)")
        }
    }

    /// The example PHP-FPM pool kills a script before the example solo pool gives up on it, and
    /// has a child for every request solo sends at once (solo.conf(5), FASTCGI).
    @Test func theExamplesKeepAJobFromRunningTwice() throws {
        let root = "/" + "\(#filePath)".split(separator: "/").dropLast(3).joined(separator: "/")
        var loader = ConfigLoader()
        loader.checkMachine = false
        let pool = try #require(try loader.load(root + "/etc/solo.conf").config.pools.first { $0.fastcgi != nil })
        let fpm = try String(contentsOfFile: root + "/etc/fastcgi/solo-jobs.conf", encoding: .utf8).split(separator: "\n").reduce(into: [String: String]()) {
            let pair = $1.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2 && !pair[0].hasPrefix(";") { $0[pair[0]] = pair[1] }
        }
        let terminate = try Values.duration(try #require(fpm["request_terminate_timeout"]))
        #expect(terminate < (try #require(pool.jobTimeout)), "request_terminate_timeout below job_timeout")
        #expect(Int(try #require(fpm["pm.max_children"]))! >= pool.workers, "a child for every request at once")
    }

    @Test func workerKeysAreWarnedOf() throws {
        let text = Self.base + "[php]\nfastcgi = unix:/run/fpm.sock\nscript = /srv/job.php\nmemory_limit = 100M\nuser = www-data\nrlimit_nofile = 10\n"
        let loaded = try memoryLoader(["/etc/solo/solo.conf": text]).load("/etc/solo/solo.conf")
        #expect(loaded.warnings.map(\.key) == ["memory_limit", "rlimit_nofile", "user"])
        #expect(loaded.warnings.allSatisfy { $0.message.contains("has no effect on a fastcgi pool") })
    }
}
