import Foundation
import Glibc
@testable import SoloKit
import Testing

/// `solo push --unique` as a script uses it, on either store: what it says of the duplicates
/// (plain and JSON), its exit status for some and for all of a push refused, and two pushes
/// racing with the same keys queueing each once.
@Suite struct UniquePushTests {
    /// A config whose pool `feed` takes from a queue file or a redis-server of the test's own.
    final class Place {
        let scratch = Scratch()
        let server: RedisServer?

        init(_ kind: StoreKind) throws {
            server = kind == .redis ? try RedisServer(scratch) : nil
            scratch.config(port: 1, "[feed]\ncommand = ./worker.sh\nqueue = \(server?.url ?? "sqlite:state/queue.db")\n")
        }

        func solo(_ arguments: [String], input: [UInt8]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
            try runSolo(arguments + ["--config", "solo.conf"], in: scratch, input: input)
        }

        func queue() throws -> any JobQueue {
            if let server { return try RedisQueue(url: RedisURL(host: "127.0.0.1", port: server.port)) }
            return try JobStore(path: scratch.file("state/queue.db"), create: false)
        }

        func jobs() throws -> [JobRecord] {
            try queue().jobs(queue: "feed", states: ["ready", "delayed", "reserved", "done", "dead"], group: nil, after: 0, limit: 100_000)
        }
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }

    @Test(arguments: StoreKind.allCases)
    func aPushSaysWhichJobsWereDuplicatesAndExitsForSomeOrAll(_ kind: StoreKind) throws {
        let p = try Place(kind)
        let first = try p.solo(["push", "--unique", "nightly", "a"])
        #expect(first.status == 0 && first.stderr.isEmpty, "\(first)")
        let again = try p.solo(["push", "--unique", "nightly", "--unique-for", "1h", "b"])
        #expect(again.status == 11, "every job refused: \(again)")
        #expect(again.stderr.contains("solo push: argument 1: a duplicate of job 1, which holds unique key nightly; not queued"), "\(again.stderr)")
        #expect(again.stderr.contains("queued 0 jobs on feed (1 duplicate not queued)"), "\(again.stderr)")
        // A key for each payload, from it: duplicates within the batch and of an earlier job.
        #expect(try p.solo(["push", "--unique-payload", "x"]).status == 0)
        let batch = try p.solo(["push", "--unique-payload", "--json"], input: Array("y\nx\ny\nz\n".utf8))
        #expect(batch.status == 10, "some jobs refused: \(batch)")
        let report = try Self.object(batch.stdout)
        #expect(report["queue"] as? String == "feed" && report["queued"] as? Int == 2)
        let duplicates = try #require(report["duplicates"] as? [[String: Any]])
        #expect(duplicates.map { $0["line"] as? Int } == [2, 3])
        #expect(duplicates.map { $0["job"] as? Int } == [2, 3], "x is job 2, and line 1 made y job 3")
        #expect(duplicates.map { $0["unique_key"] as? String } == [SHA1.hex("x"), SHA1.hex("y")])
        let jobs = try p.jobs()
        #expect(jobs.map(\.payload) == ["a", "x", "y", "z"])
        #expect(jobs.map(\.uniqueKey) == ["nightly", SHA1.hex("x"), SHA1.hex("y"), SHA1.hex("z")])
        let listed = try p.solo(["queue", "list", "--json"])
        #expect(listed.status == 0 && listed.stdout.contains("\"unique_key\":\"nightly\""), "\(listed.stdout)")
        let table = try p.solo(["queue", "list"])
        #expect(table.stdout.contains("UNIQUE") && table.stdout.contains("nightly"), "\(table.stdout)")
        // Errors stay errors: a refused payload queues nothing, whatever the keys.
        let bad = try p.solo(["push", "--unique-payload"], input: Array("w\n\u{0}\n".utf8))
        #expect(bad.status == 65, "\(bad)")
        #expect(try p.jobs().count == 4)
    }

    @Test func uniqueOptionsAreCheckedBeforeAnythingIsQueued() throws {
        let p = try Place(.sqlite)
        for (words, message) in [(["--unique-for", "1h"], "--unique-for needs a unique key"),
                                 (["--unique", "k", "--unique-payload"], "--unique and --unique-payload are two ways"),
                                 (["--unique", ""], "--unique  is empty"),
                                 (["--unique", "a\tb"], "has a control character"),
                                 (["--unique", "k", "--unique-for", "soon"], "--unique-for ")] {
            let result = try p.solo(["push"] + words + ["job"])
            #expect(result.status == 2 && result.stderr.contains(message), "\(words): \(result)")
        }
        let jobs = p.scratch.exists("state/queue.db") ? try p.jobs() : []
        #expect(jobs.isEmpty)
    }

    /// Two `solo push` processes with the same 20,000 keys at once: each key is queued once,
    /// and the two reports add up (a file's write lock or a server's scripts decide, never both).
    @Test(arguments: StoreKind.allCases)
    func twoPushesRacingWithTheSameKeysQueueEachOnce(_ kind: StoreKind) throws {
        let p = try Place(kind)
        let count = 20_000
        let input = Array((0..<count).map { "job-\($0)\n" }.joined().utf8)
        // Made before the race, so that neither push is the one that creates it.
        #expect(try p.solo(["push", "--unique", "warm-up", "first"]).status == 0)
        let pushes = try (0..<2).map { n in
            try Child(["push", "--unique-payload", "--json", "--config", "solo.conf"], in: p.scratch, name: "push-\(n)", input: input)
        }
        var queued = 0, refused = 0
        for push in pushes {
            let status = try push.wait(seconds: 120)
            #expect([0, 10, 11].contains(status), "\(push.stderr)")
            let report = try Self.object(push.stdout)
            queued += report["queued"] as? Int ?? -1
            refused += (report["duplicates"] as? [Any])?.count ?? -1
        }
        #expect(queued == count && refused == count)
        let jobs = try p.jobs()
        #expect(jobs.count == count + 1 && Set(jobs.compactMap(\.uniqueKey)).count == count + 1)
    }
}
