import Foundation
import Glibc
import SoloKit
import Testing

/// `solo queue`, `solo push` and `solo wait` as an operator and a script use them, on either
/// store: options that do not apply are refused, jobs are changed one by one by id, and what
/// would go unnoticed in a script is said on standard error.
@Suite struct QueueCommandTests {
    /// Which options each action takes (solo(1)): every other option of the table is refused.
    static let takes: [String: [String]] = [
        "stats": ["config", "queue", "json"],
        "list": ["config", "queue", "json", "state", "limit"],
        "dead": ["config", "queue", "json", "limit"],
        "retry": ["config", "queue", "id", "all"],
        "bury": ["config", "queue", "id", "reason"],
        "purge": ["config", "queue", "state", "id", "yes"],
    ]
    /// A value for each option that takes one.
    static let values = ["state": "done", "limit": "5", "id": "1", "reason": "why", "queue": "feed"]

    func setUp(_ scratch: Scratch, queue: String = "sqlite:state/queue.db") {
        scratch.config(port: 1, "[feed]\ncommand = ./worker.sh\nqueue = \(queue)\n")
    }

    func solo(_ scratch: Scratch, _ arguments: [String], input: [UInt8]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try runSolo(arguments + ["--config", "solo.conf"], in: scratch, input: input)
    }

    @Test func everyQueueActionRefusesTheOptionsItDoesNotTake() throws {
        let scratch = Scratch()
        setUp(scratch)
        #expect(try solo(scratch, ["push", "a", "b"]).status == 0)
        #expect(try solo(scratch, ["queue", "bury", "--id", "1"]).status == 0)
        let every = Set(Self.takes.values.joined()).sorted()
        for (action, options) in Self.takes.sorted(by: { $0.key < $1.key }) {
            for option in every where !options.contains(option) {
                let words = ["queue", action, "--\(option)"] + (Self.values[option].map { [$0] } ?? [])
                let result = try solo(scratch, words)
                #expect(result.status == 2 && result.stderr.contains("--\(option) does not apply to \(action)"),
                        "solo \(words.joined(separator: " ")): \(result.status) \(result.stderr)")
            }
        }
        for (command, option) in [("push", "--id"), ("push", "--yes"), ("push", "--state"), ("wait", "--id"), ("wait", "--all")] {
            let result = try solo(scratch, [command, "g", option, "1"])
            #expect(result.status == 2 && result.stderr.contains("unknown option \(option)"), "\(command) \(option): \(result.stderr)")
        }
        let json = try solo(scratch, ["wait", "g", "--json"])
        #expect(json.status == 2 && json.stderr.contains("--json applies to --results only"))
        let both = try solo(scratch, ["queue", "purge", "--id", "1", "--state", "dead", "--yes"])
        #expect(both.status == 2 && both.stderr.contains("give --id or --state, not both"))
        let store = try JobStore(path: scratch.file("state/queue.db"), create: false)
        #expect(try store.counts() == [{ var c = QueueCounts(queue: "feed"); c.ready = 1; c.dead = 1; return c }()],
                "no refused command changed a job")
    }

    /// Bury, retry and purge by id on either store: only the jobs named change, a reserved job
    /// is left to its worker, and an id without a job is an error that names it.
    /// `reserveOldest` leases the oldest ready job as a supervisor would.
    static func expectChangesByID(in scratch: Scratch, store: () throws -> any JobQueue, reserveOldest: () throws -> Void) throws {
        func solo(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try runSolo(arguments + ["--config", "solo.conf"], in: scratch)
        }
        #expect(try solo(["push", "--queue", "feed", "a", "b", "c", "d"]).status == 0)
        try reserveOldest()
        let bury = try solo(["queue", "bury", "--id", "2,2"])
        #expect(bury.status == 0 && bury.stdout == "buried 1 job\n", "\(bury.stderr)")
        #expect(try solo(["queue", "bury", "--id", "4", "--reason", "customer gone"]).status == 0)
        let dead = try store().jobs(queue: nil, states: ["dead"], group: nil, after: 0, limit: 10)
        #expect(dead.map(\.id) == [2, 4] && dead.map(\.error) == ["buried by operator", "customer gone"])
        let again = try solo(["queue", "bury", "--id", "2"])
        #expect(again.status == 1 && again.stderr.contains("job 2 is dead, left as it is"))
        let running = try solo(["queue", "purge", "--id", "1", "--yes"])
        #expect(running.status == 1 && running.stderr.contains("job 1 is reserved, left as it is") && running.stderr.contains("a worker may be running it"))
        #expect(try solo(["queue", "bury", "--id", "1"]).status == 1)
        let missing = try solo(["queue", "retry", "--id", "99999"])
        #expect(missing.status == 1 && missing.stderr.contains("no job 99999"), "\(missing.stderr)")
        let retry = try solo(["queue", "retry", "--id", "4"])
        #expect(retry.status == 0 && retry.stdout == "1 dead job back in the queue\n")
        #expect(try solo(["queue", "bury", "--id", "4"]).status == 0)
        let purge = try solo(["queue", "purge", "--id", "2", "--yes"])
        #expect(purge.status == 0 && purge.stdout == "deleted 1 job\n")
        let left = try store().jobs(queue: nil, states: ["ready", "reserved", "dead"], group: nil, after: 0, limit: 10)
        #expect(left.map { "\($0.id) \($0.state)" }.sorted() == ["1 reserved", "3 ready", "4 dead"], "only job 2 was deleted")
    }

    @Test func operatorsChangeJobsByIDInAQueueFile() throws {
        let scratch = Scratch()
        setUp(scratch)
        let path = scratch.file("state/queue.db")
        try Self.expectChangesByID(in: scratch, store: { try JobStore(path: path, create: false) }, reserveOldest: {
            _ = try JobStore(path: path, create: false).reserve(queue: "feed", count: 1, owner: "test", leaseUntil: JobStore.now() + 60_000, now: JobStore.now())
        })
    }

    @Test func operatorsChangeJobsByIDOnRedis() throws {
        let scratch = Scratch()
        let server = try RedisServer(scratch)
        scratch.config(port: 1, "[feed]\ncommand = ./worker.sh\nqueue = \(server.url)\n[other]\ncommand = ./worker.sh\nqueue = \(server.url)\n")
        let url = RedisURL(host: "127.0.0.1", port: server.port)
        try Self.expectChangesByID(in: scratch, store: { try RedisQueue(url: url) }, reserveOldest: {
            _ = try server.client().evaluate(RedisScripts.reserve, keys: [RedisScripts.prefix("feed")], arguments: ["test", "1", "60000", "", "", "feed"])
        })
        // Ids are per queue on Redis: an id in two queues needs --queue.
        #expect(try runSolo(["push", "--queue", "other", "x", "--config", "solo.conf"], in: scratch).status == 0)
        let ambiguous = try runSolo(["queue", "bury", "--id", "1", "--config", "solo.conf"], in: scratch)
        #expect(ambiguous.status == 1 && ambiguous.stderr.contains("job 1 is in queues feed, other; say which with --queue"), "\(ambiguous.stderr)")
        #expect(try runSolo(["queue", "bury", "--id", "1", "--queue", "other", "--config", "solo.conf"], in: scratch).status == 0)
    }

    @Test func aQueueNoPoolTakesFromIsSaidEvenInAScript() throws {
        let scratch = Scratch()
        setUp(scratch)
        let typo = try solo(scratch, ["push", "--queue", "fede", "x"])
        #expect(typo.status == 0 && typo.stderr.contains("warning: no pool of") && typo.stderr.contains("takes jobs from queue fede (did you mean feed?)"),
                "\(typo.stderr)")
        let strict = try solo(scratch, ["push", "--strict", "--queue", "fede", "y"])
        #expect(strict.status == 1 && strict.stderr.contains("nothing was queued (--strict)"))
        let store = try JobStore(path: scratch.file("state/queue.db"), create: false)
        #expect(try store.jobs(queue: "fede", states: ["ready"], limit: 5).map(\.payload) == ["x"], "--strict queued nothing")
        let quiet = try solo(scratch, ["push", "--strict", "z"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "a queue a pool takes from is silent: \(quiet.stderr)")
    }

    @Test func pushingNothingIsNotAnError() throws {
        let scratch = Scratch()
        setUp(scratch)
        let empty = try solo(scratch, ["push"], input: [])
        #expect(empty.status == 0 && empty.stderr == "solo push: nothing to queue (no payload given, and standard input is empty)\n")
        let priority = try solo(scratch, ["push", "--priority", "1000001", "x"])
        #expect(priority.status == 2 && priority.stderr.contains("--priority 1000001 is out of range (-1000000 to 1000000)"))
    }

    @Test func waitOnAFinishedGroupGivesTheGroupsTime() throws {
        let scratch = Scratch()
        setUp(scratch)
        #expect(try solo(scratch, ["push", "--group", "g", "a", "b"]).status == 0)
        let store = try JobStore(path: scratch.file("state/queue.db"), create: false)
        // As if the group had been queued 5 s before its jobs ran.
        let app = try Database(path: scratch.file("state/queue.db"), create: false)
        try app.execute("UPDATE jobs SET created_at = created_at - 5000")
        let jobs = try store.reserve(queue: "feed", count: 2, owner: "test", leaseUntil: JobStore.now() + 60_000, now: JobStore.now())
        try store.finish(jobs.map { .done(id: $0.id, result: nil) }, owner: "test", now: JobStore.now())
        let wait = try solo(scratch, ["wait", "g"])
        #expect(wait.status == 0 && wait.stderr.contains("group g: 2 jobs, 2 done, 0 dead, in 5."), "\(wait.stderr)")
    }

    /// A user who may not enter state_dir gets an error that names the file, never an empty
    /// table or "no queue file yet".
    @Test(.enabled(if: getuid() == 0, "needs root to make a state_dir another user cannot enter"))
    func aQueueThatCannotBeReadIsAnError() throws {
        let scratch = Scratch()
        setUp(scratch)
        #expect(try solo(scratch, ["push", "--group", "g", "a"]).status == 0)
        chmod(scratch.path, 0o755)
        chmod(scratch.file("state"), 0o700)
        for words in [["queue", "stats"], ["queue", "list"], ["queue", "dead"], ["wait", "g"]] {
            let child = try Child(["--reuid=nobody", "--regid=nogroup", "--clear-groups", soloBinary] + words + ["--config", "solo.conf"],
                                  in: scratch, name: "nobody-\(words.last!)", executable: "/usr/bin/setpriv")
            let status = try child.wait()
            #expect(status == 1 && child.stderr.contains("\(scratch.file("state/queue.db")): Permission denied (uid 65534)")
                    && child.stderr.contains("run this as the user the supervisor runs as"), "\(words): \(status) \(child.stderr)")
            #expect(child.stdout.isEmpty, "\(words) printed no table: \(child.stdout)")
        }
    }
}
