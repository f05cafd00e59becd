/// Feed mode over Redis: the same work as the SQLite feeder (jobs taken a few ahead, outcomes
/// written in batches, leases renewed, expired ones taken back, old done jobs deleted), done
/// with requests that never block the loop. A request goes out, the loop goes on, and its
/// reply is handled when it arrives: jobs for idle workers are there on a later turn.
///
/// While a server is away, workers stay up and idle, outcomes wait in memory and go out when
/// it is back, and the jobs leased to this supervisor are renewed again. When the connection
/// comes (back) up, the jobs leased under its name that it does not know (a lost reply, or a
/// predecessor's) are taken back before it reserves any: at least once, never lost.
final class RedisFeeder {
    /// A worker waits and the queue had nothing: look again this often, for jobs pushed
    /// without a wake message (a plain RPUSH to the inbox) or while the subscriber was away.
    static let idleLook: Duration = .seconds(1)
    /// Figures older than this are asked for again when `solo status` or scaling wants them.
    static let summaryAge: Duration = .seconds(1)

    final class Feed {
        let pool: Pool
        let server: RedisHub.Server
        let queue: String
        let key: QueueKey
        var prefetched: [ReservedJob] = []
        var maybeNewJobs = true
        var reserving = false
        /// A worker asked for a job the feed did not have.
        var wanting = false
        var summary: RedisSummary?
        var summaryAt: Moment?
        var summaryAsked = false
        var nextDelayed: Moment?
        var nextLook: Moment?
        var purging = false
        var purgeInFlight = false
        /// Done jobs skipped in this purge round (a running group's): the next batch starts after them.
        var purgeOffset = 0
        /// The last refusal of a reserve that was logged (a refusal is logged once, not every second).
        var refusal: String?

        init(pool: Pool, server: RedisHub.Server) {
            self.pool = pool
            self.server = server
            queue = pool.config.queueName
            key = QueueKey(server: server.url, queue: queue)
        }
    }

    /// A queue on a server: where an outcome goes back to.
    struct QueueKey: Hashable {
        let server: RedisURL
        let queue: String
    }

    struct Outcome {
        let kind: String
        let id: Int64
        let text: String
        let delayMilliseconds: Int64
        let maxAttempts: Int
    }

    /// Per queue: outcomes waiting and in flight, and whether our own stale leases were taken
    /// back since the connection came up.
    final class QueueState {
        var outcomes: [Outcome] = []
        var firstOutcome: Moment?
        /// Batches sent and not answered yet, by number.
        var inFlight: [Int: [Outcome]] = [:]
        var nextBatch = 0
        var reclaimed = false
        var reclaiming = false
        /// After a refusal (LOADING, NOREPLICAS, OOM, READONLY...): when the reclaim, and the
        /// outcomes, are tried again.
        var reclaimRetry = Retry()
        var outcomeRetry = Retry()
    }

    /// A request the server refused is tried again later, doubling from 1 s to 30 s, and the
    /// refusal is logged once per message.
    struct Retry {
        var at: Moment?
        var wait: Duration = .seconds(1)
        var refusal: String?

        /// Returns whether to log it.
        mutating func refused(_ message: String, now: Moment) -> Bool {
            at = now + wait
            wait = min(wait * 2, .seconds(30))
            defer { refusal = message }
            return refusal != message
        }

        mutating func accepted() {
            at = nil
            wait = .seconds(1)
            refusal = nil
        }

        func due(_ now: Moment) -> Bool { at.map { now >= $0 } ?? true }
    }

    private struct HeldJob: Hashable {
        let pool: ObjectIdentifier
        let id: Int64
    }

    let owner: String
    let lease: Duration
    private let hub: RedisHub
    private let say: (String) -> Void
    /// The fleet lock's key and token when it lives on `server`: reserving then checks it.
    var fence: (RedisURL) -> (key: String, token: String)? = { _ in nil }
    private(set) var feeds: [Feed] = []
    private var queues: [QueueKey: QueueState] = [:]
    private var held: [HeldJob: QueueKey] = [:]
    private var nextMaintenance = Moment.now()
    private var nextPurge = Moment.now()

    init(hub: RedisHub, owner: String, lease: Duration, say: @escaping (String) -> Void) {
        self.hub = hub
        self.owner = owner
        self.lease = lease
        self.say = say
    }

    private var leaseMilliseconds: String { String(lease.nanoseconds / 1_000_000) }

    /// The servers it needs: its feeds', and those that still owe an outcome.
    var servers: Set<RedisURL> {
        Set(feeds.map(\.key.server) + queues.filter { !$0.value.outcomes.isEmpty || !$0.value.inFlight.isEmpty }.map(\.key.server)
            + held.values.map(\.server))
    }

    private func feed(of pool: Pool) -> Feed? { feeds.first { $0.pool === pool } }
    private func state(_ key: QueueKey) -> QueueState {
        if let known = queues[key] { return known }
        let new = QueueState()
        queues[key] = new
        return new
    }

    // MARK: - pools and connections

    func reconfigure(pools: [Pool]) {
        var kept: [Feed] = []
        for feed in feeds {
            let current = pools.first { $0 === feed.pool }
            if let current, !current.removed, current.config.queue.redisServer == feed.server.url, current.config.queueName == feed.queue {
                kept.append(feed)
            } else {
                releaseAhead(feed)
            }
        }
        let gone = feeds.filter { old in !kept.contains { $0 === old } }
        feeds = kept
        for feed in gone where !feeds.contains(where: { $0.key == feed.key }) {
            feed.server.unsubscribe(RedisScripts.prefix(feed.queue) + ":wake")
        }
        for pool in pools where !pool.removed && feed(of: pool) == nil {
            guard case .redis(let url) = pool.config.queue else { continue }
            let server = hub.server(url)
            let feed = Feed(pool: pool, server: server)
            feeds.append(feed)
            let key = feed.key
            server.subscribe(RedisScripts.prefix(feed.queue) + ":wake", message: { [unowned self] in self.wake(key) },
                             resubscribed: { [unowned self] in self.wake(key) })
            if server.observers["feeder"] == nil {
                server.observe("feeder", consequence: "the workers stay up, and jobs wait until it is back",
                               up: { [unowned self, unowned server] in self.connected(server) },
                               down: { [unowned self, unowned server] _ in self.disconnected(server) })
            } else if server.isUp {
                // A new queue on a connection that is up: its own stale leases go first. (The
                // queues already in use keep theirs: a reserve of theirs may be in flight.)
                reclaimOwn(key, maxAttempts: pool.config.maxAttempts)
            }
        }
    }


    private func wake(_ key: QueueKey) {
        for feed in feeds where feed.key == key { feed.maybeNewJobs = true }
    }

    /// Up (again): the leases of the jobs we hold are renewed first (they may have run out while
    /// Redis was away), then our stale ones are taken back, then the outcomes go out.
    private func connected(_ server: RedisHub.Server) {
        for (key, queue) in queues where key.server == server.url {
            queue.reclaimed = false
            queue.reclaiming = false
            queue.reclaimRetry.accepted()
            queue.outcomeRetry.accepted()
        }
        renew(server)
        for feed in feeds where feed.server === server {
            feed.maybeNewJobs = true
            reclaimOwn(feed.key, maxAttempts: feed.pool.config.maxAttempts)
        }
        flush(now: .now(), force: true)
    }

    private func disconnected(_ server: RedisHub.Server) {
        for feed in feeds where feed.server === server {
            feed.maybeNewJobs = true
            feed.summaryAsked = false
            feed.purgeInFlight = false
        }
    }

    /// Takes back, once per connection, the jobs leased under our own name that we do not
    /// hold: a predecessor's (solo holds the port lock: no live supervisor shares the name),
    /// or those of a reserve whose reply was lost. Until then the queue gives no job.
    private func reclaimOwn(_ key: QueueKey, maxAttempts: Int) {
        let queue = state(key)
        guard !queue.reclaimed, !queue.reclaiming, let server = feeds.first(where: { $0.key == key })?.server else { return }
        queue.reclaiming = true
        let keep = known(key).map(String.init)
        let sent = server.commands.evaluate(RedisScripts.reclaim, keys: [RedisScripts.prefix(key.queue)],
                                            arguments: [owner, String(maxAttempts)] + keep) { [unowned self] result in
            queue.reclaiming = false
            guard case .success(let value) = result else { return }  // down: again when it is up
            guard let taken = value.integer else {
                // Refused (a server still loading its data, say): again shortly, jobs wait meanwhile.
                let message = value.errorMessage ?? "an unreadable reply"
                if queue.reclaimRetry.refused(message, now: .now()) {
                    self.say("queue \(key.queue) (\(key.server)): taking back old leases was refused: \(message); its jobs wait, trying again shortly")
                }
                return
            }
            queue.reclaimRetry.accepted()
            queue.reclaimed = true
            for feed in self.feeds where feed.key == key { feed.maybeNewJobs = true }
            if taken > 0 {
                self.say("queue \(key.queue) (\(key.server)): took back \(taken) job\(taken == 1 ? "" : "s") leased under this supervisor's name that it no longer holds (it was restarted, or a reply was lost)")
            }
        }
        if !sent { queue.reclaiming = false }
    }

    /// Every job of a queue this supervisor holds or still has to answer for.
    private func known(_ key: QueueKey) -> [Int64] {
        var ids = held.filter { $0.value == key }.map(\.key.id)
        for feed in feeds where feed.key == key { ids += feed.prefetched.map(\.id) }
        if let queue = queues[key] { ids += queue.outcomes.map(\.id) + queue.inFlight.values.flatMap { $0.map(\.id) } }
        return ids
    }

    // MARK: - jobs

    func take(for pool: Pool, count: Int, now: Moment) -> [ReservedJob] {
        // A full batch of outcomes not sent yet (the server is away): no new job until they
        // are, so that a kill never runs more than a batch again.
        guard count > 0, let feed = feed(of: pool), (queues[feed.key]?.outcomes.count ?? 0) < Feeder.commitBatch else { return [] }
        if feed.prefetched.count < count {
            feed.wanting = true
            reserve(feed, count: count - feed.prefetched.count, now: now)
        } else {
            feed.wanting = false
        }
        let taken = Array(feed.prefetched.prefix(count))
        feed.prefetched.removeFirst(taken.count)
        for job in taken {
            held[HeldJob(pool: ObjectIdentifier(pool), id: job.id)] = feed.key
            // Said to the server with the next outcomes (see Feeder).
            add(Outcome(kind: "start", id: job.id, text: "", delayMilliseconds: 0, maxAttempts: 0), to: feed.key, now: now)
        }
        return taken
    }

    private func reserve(_ feed: Feed, count: Int, now: Moment) {
        guard feed.maybeNewJobs, !feed.reserving, feed.server.isUp, state(feed.key).reclaimed else { return }
        let wanted = count + Feeder.lookahead(workers: feed.pool.desiredWorkers)
        let fence = fence(feed.server.url)
        feed.reserving = true
        let sent = feed.server.commands.evaluate(RedisScripts.reserve, keys: [RedisScripts.prefix(feed.queue)],
                                                 arguments: [owner, String(wanted), leaseMilliseconds, fence?.key ?? "", fence?.token ?? "", feed.queue],
                                                 now: now) { [unowned self] result in
            feed.reserving = false
            guard case .success(let value) = result else { return }
            self.reserved(value, for: feed, wanted: wanted)
        }
        if !sent { feed.reserving = false }
    }

    private func reserved(_ value: RESPValue, for feed: Feed, wanted: Int) {
        let now = Moment.now()
        if let message = value.errorMessage {
            feed.maybeNewJobs = false
            feed.nextLook = now + Self.idleLook
            if feed.refusal != message {
                let why = message.hasPrefix("FENCED") ? String(message.dropFirst(7)) : message
                say("pool \(feed.pool.name): Redis refused to give jobs: \(why); looking again every second")
            }
            feed.refusal = message
            return
        }
        feed.refusal = nil
        guard let (summary, jobs) = RedisReplies.reserved(value, queue: feed.queue) else {
            say("pool \(feed.pool.name): a reserve reply from \(feed.server.url) solo cannot read; looking again shortly")
            feed.maybeNewJobs = false
            feed.nextLook = now + Self.idleLook
            return
        }
        note(summary, for: feed, now: now)
        if jobs.count < wanted {
            feed.maybeNewJobs = false
            feed.nextLook = now + Self.idleLook
        }
        let current = feeds.contains { $0 === feed }
        var unused: [Int64] = []
        for job in jobs {
            if let problem = job.payloadProblem {
                add(Outcome(kind: "dead", id: job.id, text: "its payload \(problem); it was not given to a worker", delayMilliseconds: 0,
                            maxAttempts: feed.pool.config.maxAttempts), to: feed.key, now: now)
            } else if current && !feed.pool.paused && !feed.pool.stopping && !feed.pool.standingBy {
                feed.prefetched.append(job)
            } else {
                unused.append(job.id)
            }
        }
        if !unused.isEmpty { release(unused, of: feed.key, via: feed.server) }
    }

    private func note(_ summary: RedisSummary, for feed: Feed, now: Moment) {
        for other in feeds where other.key == feed.key {
            other.summary = summary
            other.summaryAt = now
            other.nextDelayed = summary.nextDelayedIn.map { now + $0 }
        }
    }

    func assign(_ job: ReservedJob, of pool: Pool, to worker: String) {
        guard job.group != nil, let key = held[HeldJob(pool: ObjectIdentifier(pool), id: job.id)],
              let server = feeds.first(where: { $0.key.server == key.server })?.server else { return }
        server.commands.evaluate(RedisScripts.assign, keys: [RedisScripts.prefix(key.queue)], arguments: [owner, String(job.id), worker]) { _ in }
    }

    func record(_ job: ReservedJob, _ resolution: JobResolution, of pool: Pool, now: Moment) {
        guard let key = held.removeValue(forKey: HeldJob(pool: ObjectIdentifier(pool), id: job.id)) else { return }
        let attempts = pool.config.maxAttempts
        let outcome: Outcome
        switch resolution {
        case .done(let result?): outcome = Outcome(kind: "result", id: job.id, text: result, delayMilliseconds: 0, maxAttempts: attempts)
        case .done(nil): outcome = Outcome(kind: "done", id: job.id, text: "", delayMilliseconds: 0, maxAttempts: attempts)
        case .dead(let error): outcome = Outcome(kind: "dead", id: job.id, text: error, delayMilliseconds: 0, maxAttempts: attempts)
        case .retry(let error, let delay):
            outcome = Outcome(kind: "retry", id: job.id, text: error, delayMilliseconds: delay.nanoseconds / 1_000_000, maxAttempts: attempts)
        }
        add(outcome, to: key, now: now)
    }

    private func add(_ outcome: Outcome, to key: QueueKey, now: Moment) {
        let queue = state(key)
        if queue.outcomes.isEmpty { queue.firstOutcome = now }
        queue.outcomes.append(outcome)
        if Feeder.commitDue(count: queue.outcomes.count, since: queue.firstOutcome, now: now) { flush(now: now) }
    }

    /// Sends the outcomes that have waited long enough (all of them with `force`) to servers
    /// that are up; the others wait for theirs.
    func flush(now: Moment, force: Bool = false) {
        for (key, queue) in queues where !queue.outcomes.isEmpty {
            let due = force || Feeder.commitDue(count: queue.outcomes.count, since: queue.firstOutcome, now: now)
            // Forced (at a stop, on a new connection): even a queue waiting out a refusal.
            guard due, force || queue.outcomeRetry.due(now), let server = hub.existing(key.server), server.isUp else { continue }
            let batch = queue.outcomes
            let number = queue.nextBatch
            queue.nextBatch += 1
            var arguments = [owner]
            arguments.reserveCapacity(1 + batch.count * 5)
            for outcome in batch {
                arguments += [outcome.kind, String(outcome.id), outcome.text, String(outcome.delayMilliseconds), String(outcome.maxAttempts)]
            }
            let sent = server.commands.evaluate(RedisScripts.finish, keys: [RedisScripts.prefix(key.queue)], arguments: arguments, now: now) {
                [unowned self] result in
                queue.inFlight[number] = nil
                switch result {
                case .success(.error(let message)):
                    // Kept and sent again (a server loading its data, out of memory, a replica):
                    // dropped, they would run again.
                    queue.outcomes.insert(contentsOf: batch, at: 0)
                    if queue.firstOutcome == nil { queue.firstOutcome = .now() }
                    if queue.outcomeRetry.refused(message, now: .now()) {
                        self.say("queue \(key.queue) (\(key.server)): \(batch.count) outcome(s) were refused: \(message); kept, and sent again shortly")
                    }
                case .success(let value):
                    queue.outcomeRetry.accepted()
                    if let summary = RedisSummary.parse((value.elements ?? [])[...], queue: key.queue),
                       let feed = self.feeds.first(where: { $0.key == key }) {
                        self.note(summary, for: feed, now: .now())
                    }
                case .failure:
                    // The connection dropped: they go again once it is back.
                    queue.outcomes.insert(contentsOf: batch, at: 0)
                    if queue.firstOutcome == nil { queue.firstOutcome = .now() }
                }
            }
            guard sent else { continue }
            queue.inFlight[number] = batch
            queue.outcomes.removeAll(keepingCapacity: true)
            queue.firstOutcome = nil
        }
    }

    func releaseAhead(of pool: Pool) {
        guard let feed = feed(of: pool) else { return }
        releaseAhead(feed)
    }

    private func releaseAhead(_ feed: Feed) {
        guard !feed.prefetched.isEmpty else { return }
        release(feed.prefetched.map(\.id), of: feed.key, via: feed.server)
        feed.prefetched = []
    }

    /// Gives jobs back untouched. If the server is away they stay leased to us, unrenewed, and
    /// come back to the queue when their lease runs out.
    private func release(_ ids: [Int64], of key: QueueKey, via server: RedisHub.Server) {
        server.commands.evaluate(RedisScripts.release, keys: [RedisScripts.prefix(key.queue)], arguments: [owner] + ids.map(String.init)) { _ in }
    }

    // MARK: - figures

    /// The figures for `solo status` and the metrics: the last ones the server sent (a second
    /// old at most while someone asks), or the server's problem.
    func status(of pool: Pool) -> (path: String, counts: QueueCounts?, problem: String?)? {
        guard let feed = feed(of: pool) else { return nil }
        refreshSummary(feed)
        return (feed.server.url.description, feed.summary?.counts, feed.server.problem)
    }

    func waiting(of pool: Pool, atMost limit: Int) -> Int? {
        guard let feed = feed(of: pool) else { return nil }
        refreshSummary(feed)
        guard let summary = feed.summary, feed.server.isUp else { return nil }
        return min(limit, summary.counts.ready + feed.prefetched.count)
    }

    private func refreshSummary(_ feed: Feed) {
        let now = Moment.now()
        guard !feed.summaryAsked, feed.server.isUp, feed.summaryAt.map({ now - $0 >= Self.summaryAge }) ?? true else { return }
        feed.summaryAsked = true
        let sent = feed.server.commands.evaluate(RedisScripts.summary, keys: [RedisScripts.prefix(feed.queue)], arguments: [], now: now) {
            [unowned self] result in
            feed.summaryAsked = false
            if case .success(let value) = result, let summary = RedisSummary.parse((value.elements ?? [])[...], queue: feed.queue) {
                self.note(summary, for: feed, now: .now())
            }
        }
        if !sent { feed.summaryAsked = false }
    }

    // MARK: - time

    private var idle: Bool { feeds.isEmpty && held.isEmpty && queues.values.allSatisfy { $0.outcomes.isEmpty } }

    var nextDeadline: Moment? {
        guard !idle else { return nil }
        var earliest: Moment? = nextMaintenance
        for feed in feeds {
            earliest = earlier(earliest, feed.nextDelayed)
            if feed.wanting { earliest = earlier(earliest, feed.nextLook) }
        }
        for (key, queue) in queues where hub.existing(key.server)?.isUp == true {
            if let first = queue.firstOutcome { earliest = earlier(earliest, max(first + Feeder.commitDelay, queue.outcomeRetry.at ?? first)) }
            if !queue.reclaimed, !queue.reclaiming, feeds.contains(where: { $0.key == key }) { earliest = earlier(earliest, queue.reclaimRetry.at) }
        }
        return earliest
    }

    func expire(now: Moment) {
        if idle { return }
        if now >= nextMaintenance { maintain(now: now) }
        for feed in feeds {
            if let due = feed.nextDelayed, due <= now {
                feed.nextDelayed = nil
                feed.maybeNewJobs = true
            }
            if feed.wanting, let look = feed.nextLook, look <= now {
                feed.nextLook = nil
                feed.maybeNewJobs = true
            }
            if feed.purging && !feed.purgeInFlight { purgeStep(feed) }
            let queue = state(feed.key)
            if !queue.reclaimed, !queue.reclaiming, feed.server.isUp, let retry = queue.reclaimRetry.at, retry <= now {
                reclaimOwn(feed.key, maxAttempts: feed.pool.config.maxAttempts)
            }
        }
    }

    /// Every third of a lease: renew ours, take back others' that ran out, and once a
    /// minute start deleting old done jobs.
    private func maintain(now: Moment) {
        nextMaintenance = now + lease / 3
        var renewed: Set<ObjectIdentifier> = []
        for feed in feeds where renewed.insert(ObjectIdentifier(feed.server)).inserted { renew(feed.server) }
        for feed in feeds where state(feed.key).reclaimed {
            feed.maybeNewJobs = true
            guard feeds.first(where: { $0.key == feed.key }) === feed else { continue }
            // A reserve in flight holds jobs `known` cannot name yet: leased before a pause (a
            // SIGSTOP, a suspended machine), they may have run out. The next maintenance will do.
            guard !feeds.contains(where: { $0.key == feed.key && $0.reserving }) else { continue }
            feed.server.commands.evaluate(RedisScripts.reclaim, keys: [RedisScripts.prefix(feed.queue)],
                                          arguments: ["", String(feed.pool.config.maxAttempts)] + known(feed.key).map(String.init),
                                          now: now) { [unowned self] result in
                if case .success(let value) = result, let taken = value.integer, taken > 0 {
                    self.say("pool \(feed.pool.name): took back \(taken) job\(taken == 1 ? "" : "s") whose supervisor's lease ran out")
                }
            }
        }
        if now >= nextPurge {
            nextPurge = now + .seconds(60)
            for feed in feeds where feeds.first(where: { $0.key == feed.key }) === feed { feed.purging = true }
        }
    }

    private func renew(_ server: RedisHub.Server) {
        var keys = Set(feeds.filter { $0.server === server }.map(\.key))
        keys.formUnion(held.values.filter { $0.server == server.url })
        for key in keys {
            let ids = known(key)
            guard !ids.isEmpty else { continue }
            server.commands.evaluate(RedisScripts.renew, keys: [RedisScripts.prefix(key.queue)],
                                     arguments: [owner, leaseMilliseconds] + ids.map(String.init)) { _ in }
        }
    }

    private func purgeStep(_ feed: Feed) {
        guard feed.server.isUp else { return }
        feed.purgeInFlight = true
        let keep = String(feed.pool.config.keepDone.nanoseconds / 1_000_000)
        let sent = feed.server.commands.evaluate(RedisScripts.purgeDone, keys: [RedisScripts.prefix(feed.queue)],
                                                 arguments: [keep, "2000", String(feed.purgeOffset)]) { result in
            feed.purgeInFlight = false
            guard case .success(let value) = result, let counts = value.elements?.map(\.integer), counts.count == 3 else {
                feed.purging = false  // refused or down: the next round is in a minute
                feed.purgeOffset = 0
                return
            }
            if (counts[1] ?? 0) < 2000 {
                feed.purging = false
                feed.purgeOffset = 0
            } else {
                feed.purgeOffset += Int(counts[2] ?? 0)
            }
        }
        if !sent { feed.purgeInFlight = false }
    }

    // MARK: - stopping

    /// At the end: outcomes are sent and the jobs taken ahead go back; the caller runs the
    /// loop a little longer, until `settled`, for the replies.
    func shutdown() {
        for feed in feeds { releaseAhead(feed) }
        flush(now: .now(), force: true)
    }

    /// Whether every outcome has been answered (or cannot be: the server is away).
    var settled: Bool {
        queues.allSatisfy { key, queue in
            let up = hub.existing(key.server)?.isUp == true
            return queue.inFlight.isEmpty && (queue.outcomes.isEmpty || !up)
        } && feeds.allSatisfy { $0.server.commands.inFlight == 0 || !$0.server.isUp }
    }
}

extension QueueSetting {
    /// The server and database of a Redis queue.
    var redisServer: RedisURL? {
        if case .redis(let url) = self { return url.server }
        return nil
    }
}
