/// A Redis server as the feeder's store: every request is a script (RedisScripts) sent on the
/// hub's command connection, never blocking the loop; its answer comes on a later turn. While
/// the server is away, requests are answered `.unavailable` at once and the hub reconnects;
/// the listener hears `storeIsUp` when it is back.
final class RedisFeedStore: FeedStore {
    /// Figures older than this are asked for again when `solo status` or scaling wants them.
    static let summaryAge: Duration = .seconds(1)

    let server: RedisHub.Server
    weak var listener: (any FeedStoreListener)?
    /// The fleet lock's key and token when it lives on this server: a reserve then checks that
    /// this supervisor still holds it (see RedisScripts.reserve).
    var fence: () -> (key: String, token: String)? = { nil }
    /// Per queue: the last summary the server sent, when, and whether one is asked for.
    private var summaries: [String: (summary: RedisSummary?, at: Moment?, asked: Bool)] = [:]

    init(server: RedisHub.Server) { self.server = server }

    func start() {
        server.observe("feeder", consequence: "the workers stay up, and jobs wait until it is back",
                       up: { [weak self] in if let self { self.listener?.storeIsUp(self) } }, down: { _ in })
    }

    var location: String { server.url.description }
    var problem: String? { server.problem }
    var isUp: Bool { server.isUp }
    var settled: Bool { server.commands.inFlight == 0 || !server.isUp }
    // A plain RPUSH to a queue's inbox sends no wake message, nor does a push made while the
    // subscriber was away.
    var lookInterval: Duration? { .seconds(1) }
    // The hub reconnects by itself; nothing here is timed.
    var nextDeadline: Moment? { nil }
    func expire(now: Moment) {}
    func maintain(now: Moment) {}
    func stopping() {}

    func watch(queue: String) {
        server.subscribe(RedisScripts.prefix(queue) + ":wake", message: { [unowned self] in self.listener?.jobsMayHaveCome(in: self, queue: queue) },
                         resubscribed: { [unowned self] in self.listener?.jobsMayHaveCome(in: self, queue: queue) })
    }

    func unwatch(queue: String) { server.unsubscribe(RedisScripts.prefix(queue) + ":wake") }

    func watchEndings(queue: String) {
        server.subscribe(RedisScripts.prefix(queue) + ":ended", message: { [unowned self] in self.listener?.jobsMayHaveEnded(in: self, queue: queue) },
                         resubscribed: { [unowned self] in self.listener?.jobsMayHaveEnded(in: self, queue: queue) })
    }

    func unwatchEndings(queue: String) { server.unsubscribe(RedisScripts.prefix(queue) + ":ended") }

    // MARK: - requests

    func reserve(queue: String, count: Int, owner: String, lease: Duration, limits: JobLimits,
                 _ done: @escaping (StoreReply<Reservation>) -> Void) {
        let fence = fence()
        let arguments = [owner, String(count), String(lease.milliseconds), fence?.key ?? "", fence?.token ?? "", queue]
            + RedisScripts.arguments(of: limits)
        ask(RedisScripts.reserve, queue: queue, arguments, done) { [unowned self] value in
            guard let reserved = RedisReplies.reserved(value, queue: queue) else { return nil }
            self.note(reserved.summary, of: queue)
            return Reservation(jobs: reserved.jobs, nextDelayedIn: reserved.summary.nextDelayedIn, limitedBy: reserved.limitedBy,
                               nextTurnIn: reserved.nextTurnIn)
        }
    }

    func commit(queue: String, _ outcomes: [JobOutcome], owner: String, _ done: @escaping (StoreReply<Duration?>) -> Void) {
        var arguments = [owner]
        arguments.reserveCapacity(1 + outcomes.count * 5)
        for outcome in outcomes { arguments += RedisScripts.fields(of: outcome) }
        ask(RedisScripts.finish, queue: queue, arguments, done) { [unowned self] value in self.summary(value, of: queue) }
    }

    func promote(queue: String, _ done: @escaping (StoreReply<Duration?>) -> Void) {
        ask(RedisScripts.promote, queue: queue, [queue], done) { [unowned self] value in self.summary(value, of: queue) }
    }

    func renew(queue: String, ids: [Int64], owner: String, lease: Duration, _ done: @escaping (StoreReply<Void>) -> Void) {
        ask(RedisScripts.renew, queue: queue, [owner, String(lease.milliseconds)] + ids.map(String.init), done) { $0.integer.map { _ in () } }
    }

    func reclaim(queue: String, owner: String?, keeping: [Int64], maxAttempts: Int, keyConcurrency: Int?,
                 _ done: @escaping (StoreReply<Int>) -> Void) {
        ask(RedisScripts.reclaim, queue: queue, [owner ?? "", String(maxAttempts), keyConcurrency.map(String.init) ?? ""] + keeping.map(String.init),
            done) { $0.integer.map(Int.init) }
    }

    func release(queue: String, ids: [Int64], owner: String, _ done: @escaping (StoreReply<Void>) -> Void) {
        ask(RedisScripts.release, queue: queue, [owner] + ids.map(String.init), done) { _ in () }
    }

    func purge(queue: String, keep: Duration, limit: Int, offset: Int, _ done: @escaping (StoreReply<PurgeStep>) -> Void) {
        ask(RedisScripts.purgeDone, queue: queue, [String(keep.milliseconds), String(limit), String(offset)], done) { value in
            guard let numbers = value.elements?.compactMap(\.integer), numbers.count == 3 else { return nil }
            return PurgeStep(deleted: Int(numbers[0]), finished: numbers[1] < limit, skipped: Int(numbers[2]))
        }
    }

    func assign(queue: String, id: Int64, to worker: String, owner: String, _ done: @escaping (StoreReply<Void>) -> Void) {
        ask(RedisScripts.assign, queue: queue, [owner, String(id), worker], done) { _ in () }
    }

    func pushRun(_ run: ScheduledRun, _ done: @escaping (StoreReply<RunPush>) -> Void) {
        let fence = fence()
        let job = run.job
        ask(RedisScheduleScripts.pushRun, queue: run.queue,
            [run.queue, run.schedule, String(run.time), String(job.priority), job.maxAttempts.map(String.init) ?? "", job.group ?? "",
             String(decoding: job.payload, as: UTF8.self), fence?.key ?? "", fence?.token ?? "", run.uniqueKey ?? ""], done) { value in
            guard let numbers = value.elements?.compactMap(\.integer), numbers.count == 2 else { return nil }
            return RunPush(jobID: numbers[1], pushedNow: numbers[0] == 1, overlapped: numbers[0] == 2)
        }
    }

    func push(queue: String, template: NewJob, _ jobs: [(payload: [UInt8], uniqueKey: String?)],
              _ done: @escaping (StoreReply<[PushedJob]>) -> Void) {
        let keyed = jobs.contains { $0.uniqueKey != nil }
        let delay = template.runAt > 0 ? max(0, template.runAt - JobStore.now()) : 0
        var arguments = [queue, String(template.priority), String(delay), template.maxAttempts.map(String.init) ?? "", template.group ?? "",
                         String(template.uniqueFor.milliseconds), keyed ? "1" : "", template.limitKey ?? ""]
        for job in jobs {
            if keyed { arguments.append(job.uniqueKey ?? "") }
            arguments.append(String(decoding: job.payload, as: UTF8.self))
        }
        ask(RedisScripts.push, queue: queue, arguments, done) { value in
            guard let numbers = value.elements?.compactMap(\.integer) else { return nil }
            if keyed {
                guard numbers.count == jobs.count else { return nil }
                return numbers.map { PushedJob(id: abs($0), duplicate: $0 < 0) }
            }
            guard numbers.count == 2, numbers[1] - numbers[0] + 1 == Int64(jobs.count) else { return nil }
            return (numbers[0]...numbers[1]).map { PushedJob(id: $0, duplicate: false) }
        }
    }

    func jobs(queue: String, ids: [Int64], _ done: @escaping (StoreReply<[JobRecord]>) -> Void) {
        ask(RedisScripts.list, queue: queue, ["", String(ids.count), "", "0", queue] + ids.map(String.init), done) { value in
            RedisReplies.records(value, queue: queue)
        }
    }

    func jobs(queue: String, group: String, limit: Int, _ done: @escaping (StoreReply<[JobRecord]>) -> Void) {
        ask(RedisScripts.list, queue: queue, [JobRecord.states.joined(separator: ","), String(limit), group, "0", queue], done) { value in
            RedisReplies.records(value, queue: queue)
        }
    }

    func groupCounts(queue: String, group: String, _ done: @escaping (StoreReply<QueueCounts>) -> Void) {
        request({ [server] in server.commands.send(RedisReplies.groupCounts(of: group, queue: queue), $0) }, done) { value in
            RedisReplies.groupCounts(value, group: group)
        }
    }

    func lastRun(of schedule: String, queue: String, _ done: @escaping (StoreReply<PastRun?>) -> Void) {
        ask(RedisScheduleScripts.lastRun, queue: queue, [schedule], done) { value in
            guard let text = value.string else { return .some(nil) }
            return RedisScheduleScripts.pastRun(text).map { .some($0) }
        }
    }

    /// Sends a script about `queue`, and answers with what `parse` makes of its reply (a reply
    /// it cannot parse is a refusal).
    private func ask<T>(_ script: RedisScript, queue: String, _ arguments: [String], _ done: @escaping (StoreReply<T>) -> Void,
                        _ parse: @escaping (RESPValue) -> T?) {
        request({ [server] in server.commands.evaluate(script, keys: [RedisScripts.prefix(queue)], arguments: arguments, $0) }, done, parse)
    }

    /// Sends a command with `send`, and answers as `ask` does.
    private func request<T>(_ send: (@escaping RedisConnection.Reply) -> Bool, _ done: @escaping (StoreReply<T>) -> Void,
                            _ parse: @escaping (RESPValue) -> T?) {
        guard server.isUp else { return done(.unavailable) }
        let sent = send { result in
            switch result {
            case .failure: done(.unavailable)
            case .success(let value):
                if let message = value.errorMessage { return done(.refused(message)) }
                guard let answer = parse(value) else { return done(.refused("a reply solo cannot read")) }
                done(.answer(answer))
            }
        }
        if !sent { done(.unavailable) }
    }

    // MARK: - figures

    private func summary(_ value: RESPValue, of queue: String) -> Duration?? {
        guard let summary = RedisSummary.parse((value.elements ?? [])[...], queue: queue) else { return nil }
        note(summary, of: queue)
        return .some(summary.nextDelayedIn)
    }

    private func note(_ summary: RedisSummary, of queue: String) {
        var summary = summary
        let known = summaries[queue]
        // Only the summary script looks for the oldest waiting job: the last it found stands,
        // and its time says when to ask again.
        if !summary.lookedForOldest { summary.counts.oldestWaitingMs = known?.summary?.counts.oldestWaitingMs }
        summaries[queue] = (summary, summary.lookedForOldest ? .now() : known?.at, known?.asked ?? false)
    }

    func counts(queue: String) -> QueueCounts? {
        refresh(queue)
        return summaries[queue]?.summary?.counts
    }

    func ready(queue: String, atMost limit: Int) -> Int? {
        refresh(queue)
        guard server.isUp, let summary = summaries[queue]?.summary else { return nil }
        return min(limit, summary.counts.ready)
    }

    /// Asks for the queue's figures when the last are older than `summaryAge`; they are there
    /// for the next call.
    private func refresh(_ queue: String) {
        let known = summaries[queue]
        let now = Moment.now()
        guard known?.asked != true, server.isUp, known?.at.map({ now - $0 >= Self.summaryAge }) ?? true else { return }
        summaries[queue, default: (nil, nil, false)].asked = true
        ask(RedisScripts.summary, queue: queue, [], { [weak self] (_: StoreReply<Void>) in self?.summaries[queue]?.asked = false }) {
            [weak self] value in
            if let summary = RedisSummary.parse((value.elements ?? [])[...], queue: queue) { self?.note(summary, of: queue) }
            return ()
        }
    }
}

extension RedisScripts {
    /// An outcome as the `finish` script reads it: kind, id, text, delay (ms), max_attempts.
    static func fields(of outcome: JobOutcome) -> [String] {
        switch outcome {
        case .started(let id): ["start", String(id), "", "0", "0"]
        case .done(let id, let result?): ["result", String(id), result, "0", "0"]
        case .done(let id, nil): ["done", String(id), "", "0", "0"]
        case .dead(let id, let error): ["dead", String(id), error, "0", "0"]
        case .retry(let id, let error, let delay, let maxAttempts): ["retry", String(id), error, String(delay.milliseconds), String(maxAttempts)]
        }
    }
}
