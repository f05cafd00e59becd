import CSoloSpawn
import Glibc
@testable import SoloKit
import Testing

/// The places a queue lives: every contract test runs once on each.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, redis

    var testDescription: String { rawValue }
}

/// A feeder's store of one kind, made as the supervisor makes it (FeedStores), with the
/// operator's side over the same queue (the JobQueue that `solo push` and `solo queue` use)
/// to push jobs and to look at them: an SQLite file in a scratch directory, or a redis-server
/// of the test's own. Requests go through the store's completion API; a server's answers come
/// on a later turn of an epoll loop that `call` turns, with a deadline.
final class ContractStore {
    /// The queue the tests use; `other` shares its store.
    static let queue = "contract"
    static let other = "elsewhere"
    /// How long a request or a figure may take before the test fails.
    static let patience: Duration = .seconds(10)

    let kind: StoreKind
    let scratch = Scratch()
    let store: any FeedStore
    /// The operator's side of the same place.
    let commands: any JobQueue
    /// What the store told the feeder of by itself.
    let heard = Heard()
    let server: RedisServer?
    private let epoll: Epoll
    private let hub: RedisHub
    private let stores: FeedStores
    private var events = [solo_event](repeating: solo_event(), count: 16)
    private static let filesToken: UInt64 = 1

    init(_ kind: StoreKind) throws {
        self.kind = kind
        epoll = try Epoll()
        hub = RedisHub(epoll: epoll, clientName: "solo:contract", requestTimeout: .seconds(5), say: { _ in })
        stores = FeedStores(hub: hub, say: { _ in })
        if let files = stores.descriptor { try epoll.add(files, token: Self.filesToken) }
        switch kind {
        case .sqlite:
            server = nil
            let path = scratch.file("queue.db")
            store = stores.store(at: .file(path), listener: heard)
            commands = try JobStore(path: path, create: false, busyTimeout: 10_000)
        case .redis:
            let server = try RedisServer(scratch)
            self.server = server
            let url = RedisURL(host: "127.0.0.1", port: server.port)
            store = stores.store(at: .server(url), listener: heard)
            commands = try RedisQueue(url: url)
        }
        try pump("\(store.location) to be up") { store.isUp }
    }

    deinit {
        hub.closeAll()
        close(epoll.descriptor.rawValue)
    }

    // MARK: - the feeder's side

    /// Makes a request and turns the loop until its completion fires.
    func call<T>(_ what: String, _ request: (@escaping (StoreReply<T>) -> Void) -> Void) throws -> StoreReply<T> {
        var reply: StoreReply<T>?
        request { reply = $0 }
        try pump("the answer to \(what)") { reply != nil }
        return reply!
    }

    /// The answer to a request: a refusal, or a store that could not be asked, fails the test.
    func answer<T>(_ what: String, _ request: (@escaping (StoreReply<T>) -> Void) -> Void) throws -> T {
        switch try call(what, request) {
        case .answer(let value): return value
        case .refused(let message): throw ContractFailure("\(kind): \(what) was refused: \(message)")
        case .unavailable: throw ContractFailure("\(kind): \(what): \(store.location) could not be asked (\(store.problem ?? "busy"))")
        }
    }

    func reserve(_ count: Int, by owner: String = "me", lease: Duration = .seconds(3600), queue: String = queue,
                 limits: JobLimits = JobLimits()) throws -> Reservation {
        try answer("reserve") { store.reserve(queue: queue, count: count, owner: owner, lease: lease, limits: limits, $0) }
    }

    @discardableResult
    func commit(_ outcomes: [JobOutcome], by owner: String = "me") throws -> Duration? {
        try answer("commit") { store.commit(queue: Self.queue, outcomes, owner: owner, $0) }
    }

    func promote() throws -> Duration? {
        try answer("promote") { store.promote(queue: Self.queue, $0) }
    }

    func renew(_ ids: [Int64], by owner: String = "me", lease: Duration) throws {
        try answer("renew") { store.renew(queue: Self.queue, ids: ids, owner: owner, lease: lease, $0) }
    }

    func reclaim(owner: String?, keeping: [Int64] = [], maxAttempts: Int, keyConcurrency: Int? = nil) throws -> Int {
        try answer("reclaim") {
            store.reclaim(queue: Self.queue, owner: owner, keeping: keeping, maxAttempts: maxAttempts, keyConcurrency: keyConcurrency, $0)
        }
    }

    func release(_ ids: [Int64], by owner: String = "me") throws {
        try answer("release") { store.release(queue: Self.queue, ids: ids, owner: owner, $0) }
    }

    func purge(keep: Duration, limit: Int, offset: Int) throws -> PurgeStep {
        try answer("purge") { store.purge(queue: Self.queue, keep: keep, limit: limit, offset: offset, $0) }
    }

    func assign(_ id: Int64, to worker: String, by owner: String = "me") throws {
        try answer("assign") { store.assign(queue: Self.queue, id: id, to: worker, owner: owner, $0) }
    }

    /// The store's own figures (ready, delayed, reserved, dead) once they are `expected`: a
    /// file's are read at once; a server's are the last summary it sent, asked for again when a
    /// second old, so they may take that long to catch up. The last seen is in the failure.
    func figures(become expected: [Int]) throws {
        var seen: [Int]?
        try pump("the store's figures to be \(expected)", poll: true) {
            seen = store.counts(queue: Self.queue).map { [$0.ready, $0.delayed, $0.reserved, $0.dead] }
            return seen == expected
        } failing: { "they are \(seen.map { "\($0)" } ?? "unknown")" }
    }

    /// `ready(atMost:)` once it says `expected` (see `figures`).
    func ready(atMost limit: Int, become expected: Int) throws {
        var seen: Int?
        try pump("ready(atMost: \(limit)) to be \(expected)", poll: true) {
            seen = store.ready(queue: Self.queue, atMost: limit)
            return seen == expected
        } failing: { "it is \(seen.map(String.init) ?? "unknown")" }
    }

    // MARK: - the operator's side

    /// Pushes jobs as `solo push` does; returns when they are delayed to (Unix ms; 0: ready).
    @discardableResult
    func push(_ payloads: [String], priority: Int = 0, delay: Duration = .zero, maxAttempts: Int? = nil, group: String? = nil,
              key: String? = nil, queue: String = queue) throws -> Int64 {
        let template = NewJob(payload: [], priority: priority, runAt: delay > .zero ? JobStore.now() + delay.milliseconds : 0,
                              maxAttempts: maxAttempts, group: group, limitKey: key)
        let writer = try commands.makeWriter(queue: queue, template: template)
        for payload in payloads { try Array(payload.utf8).withUnsafeBytes { raw in try writer.add(raw) } }
        try writer.commit()
        return template.runAt
    }

    /// Pushes jobs with unique keys (nil: none) as `solo push --unique` does, in one push.
    func push(keyed jobs: [(payload: String, key: String?)], uniqueFor: Duration = .zero, delay: Duration = .zero,
              queue: String = queue) throws -> Pushed {
        let template = NewJob(payload: [], runAt: delay > .zero ? JobStore.now() + delay.milliseconds : 0, uniqueFor: uniqueFor)
        let writer = try commands.makeWriter(queue: queue, template: template)
        for job in jobs { try Array(job.payload.utf8).withUnsafeBytes { raw in try writer.add(raw, uniqueKey: job.key) } }
        return try writer.commit()
    }

    /// The id of the one job with `payload` (the test's payloads are all different).
    func id(of payload: String) throws -> Int64 {
        guard let found = try records().values.first(where: { $0.payload == payload }) else {
            throw ContractFailure("\(kind): no job \(payload) in the queue")
        }
        return found.id
    }

    /// Enqueues payloads as another program would, past solo's checks: plain SQL for a file,
    /// RPUSH to the inbox for a server (solo-queue(5)).
    func insertRaw(_ payloads: [[UInt8]]) throws {
        switch kind {
        case .sqlite:
            let app = try Database(path: scratch.file("queue.db"), create: false)
            app.setBusyTimeout(milliseconds: 5000)
            for payload in payloads {
                let hex = payload.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
                try app.execute("INSERT INTO jobs (queue, payload) VALUES ('\(Self.queue)', CAST(X'\(hex)' AS TEXT))")
            }
        case .redis:
            var command = RedisCommand("RPUSH", RedisScripts.prefix(Self.queue) + ":inbox")
            for payload in payloads { command.append(payload) }
            _ = try server!.client().call(command)
        }
    }

    /// Enqueues a job with a unique key as another program would (solo-queue(5), solo-redis(5)):
    /// an INSERT that does nothing on a held key, or an RPUSH to the keyed inbox.
    func insertRaw(_ payload: String, uniqueKey: String) throws {
        switch kind {
        case .sqlite:
            let app = try Database(path: scratch.file("queue.db"), create: false)
            app.setBusyTimeout(milliseconds: 5000)
            try app.prepare("INSERT INTO jobs (queue, payload, unique_key) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .run([.text(Self.queue), .text(payload), .text(uniqueKey)])
        case .redis:
            _ = try server!.client().call(RedisCommand("RPUSH", RedisScripts.prefix(Self.queue) + ":inbox:unique", "\(uniqueKey)\n\n\(payload)"))
        }
    }

    /// Every job of the queue as `solo queue list` sees it, by id.
    func records() throws -> [Int64: JobRecord] {
        let all = try commands.jobs(queue: Self.queue, states: ["ready", "delayed", "reserved", "done", "dead"], group: nil, after: 0, limit: 10_000)
        return Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
    }

    func record(_ id: Int64) throws -> JobRecord {
        guard let record = try records()[id] else { throw ContractFailure("\(kind): job \(id) is not in the queue") }
        return record
    }

    /// The ids in each state, sorted.
    func ids(in state: String) throws -> [Int64] {
        try records().values.filter { $0.state == state }.map(\.id).sorted()
    }

    /// A group's counts as `solo queue stats --group` and `solo wait` see them: ready, delayed,
    /// reserved, done, dead.
    func groupCounts(_ group: String) throws -> [Int] {
        let counts = try commands.groupCounts(group)
        return [counts.ready, counts.delayed, counts.reserved, counts.done, counts.dead]
    }

    /// The queue's counts from the operator's side: ready, delayed, reserved, done, dead.
    func counts() throws -> [Int] {
        let counts = try commands.counts().first { $0.queue == Self.queue } ?? QueueCounts(queue: Self.queue)
        return [counts.ready, counts.delayed, counts.reserved, counts.done, counts.dead]
    }

    /// Waits until the wall clock (which both stores read: the server's TIME is the same
    /// kernel's clock) is past `moment`, a Unix time in milliseconds.
    func waitForClock(past moment: Int64) throws {
        try waitFor("the clock to pass \(moment)", seconds: 30, interval: 1000) { JobStore.now() > moment }
    }

    /// Waits until the store hears of jobs coming to the queue: a file's directory is watched
    /// from the start; a server's wake channel once the server counts the subscription. What
    /// was heard before is forgotten.
    func listen() throws {
        store.watch(queue: Self.queue)
        store.watchEndings(queue: Self.queue)
        if let server {
            for channel in [RedisScripts.prefix(Self.queue) + ":wake", RedisScripts.prefix(Self.queue) + ":ended"] {
                try pump("the subscription to \(channel)", poll: true) {
                    (try? server.command("PUBSUB", "NUMSUB", channel).elements?.last?.integer) == 1
                }
            }
        }
        // Events of the pushes and opens before (inotify's, a new subscription's) are read now.
        var quiet = Moment.now() + .milliseconds(200)
        var count = heard.jobsMayHaveCome.count
        try pump("the store to fall quiet", poll: true) {
            if heard.jobsMayHaveCome.count != count { count = heard.jobsMayHaveCome.count; quiet = Moment.now() + .milliseconds(200) }
            return Moment.now() >= quiet
        }
        heard.jobsMayHaveCome = []
        heard.jobsMayHaveEnded = []
    }

    // MARK: - the loop

    /// Turns the loop (Redis sockets, the queue files' directory) until `done` holds, for at
    /// most `patience`. With `poll`, `done` is asked at least every 50 ms (it asks something itself).
    func pump(_ what: String, poll: Bool = false, until done: () -> Bool, failing why: () -> String = { "" }) throws {
        let deadline = Moment.now() + Self.patience
        hub.flush()
        while !done() {
            let now = Moment.now()
            guard now < deadline else {
                let reason = why()
                throw ContractFailure("\(kind): timed out after \(Self.patience) waiting for \(what)\(reason.isEmpty ? "" : ": " + reason)")
            }
            let wake = earlier(earlier(deadline, hub.nextDeadline), now + .milliseconds(poll ? 50 : 1000))!
            for event in try epoll.wait(timeoutMilliseconds: wake.millisecondsFrom(now), into: &events) {
                if event.token == Self.filesToken { stores.filesChanged() } else { hub.event(event) }
            }
            hub.expire(now: .now())
            hub.flush()
        }
    }

    /// What the store tells its listener of.
    final class Heard: FeedStoreListener {
        var up = 0
        /// The queues jobs may have come to (nil: any queue of the store).
        var jobsMayHaveCome: [String?] = []
        /// The queues jobs may have ended in.
        var jobsMayHaveEnded: [String] = []

        func jobsMayHaveCome(in store: any FeedStore, queue: String?) { jobsMayHaveCome.append(queue) }
        func jobsMayHaveEnded(in store: any FeedStore, queue: String) { jobsMayHaveEnded.append(queue) }
        func storeIsUp(_ store: any FeedStore) { up += 1 }
        func storeWillBeReplaced(_ store: any FeedStore) {}
        func storeWasReplaced(_ store: any FeedStore) {}
    }
}

struct ContractFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
