/// When a holder of a lock with a time to live may act, must renew, must stop its work and
/// must have killed it (pure: tested without Redis). The lock's TTL runs on the server from
/// the moment it handled the take or renewal, which is after the holder sent it: counting
/// from the send time, the holder's view of the end is never later than the server's.
public struct LeaseClock: Equatable, Sendable {
    public let ttl: Duration
    /// The end of the lock as this holder may count on it; nil: it does not hold it.
    public private(set) var validUntil: Moment?

    public init(ttl: Duration) { self.ttl = ttl }

    /// Work stops (gracefully) this long before the end, if no renewal came.
    public var stopWindow: Duration { ttl / 3 }
    /// Whatever still runs is killed this long before the end.
    public var killMargin: Duration { min(.seconds(1), ttl / 10) }

    /// A take or a renewal sent at `sentAt` was confirmed.
    public mutating func confirmed(sentAt: Moment) {
        validUntil = sentAt + ttl
    }

    public mutating func lost() { validUntil = nil }

    public var holds: Bool { validUntil != nil }
    /// When to renew: a third of the TTL after the last confirmed one was sent.
    public var renewAt: Moment? { validUntil.map { $0 + .nanoseconds(-ttl.nanoseconds) + ttl / 3 } }
    public var stopAt: Moment? { validUntil.map { $0 + .nanoseconds(-stopWindow.nanoseconds) } }
    public var killAt: Moment? { validUntil.map { $0 + .nanoseconds(-killMargin.nanoseconds) } }

    /// Whether workers may start and take jobs now: the lock is held, beyond the stop window.
    public func mayAct(now: Moment) -> Bool {
        guard let stopAt else { return false }
        return now < stopAt
    }

    /// How soon a take or renewal that failed is tried again: a few times before the stop time.
    public var retryWait: Duration { max(.milliseconds(100), ttl / 30) }
}

/// The fleet-wide singleton (`cluster_lock = NAME`): of all the supervisors that share it, only
/// the one holding the lock in Redis runs its workers; the others stand by and take it over
/// when the holder dies (its lock runs out, a TTL after its last renewal) or stops cleanly (it
/// frees the lock and tells them at once). The holder renews every third of the TTL. One that
/// cannot renew (Redis away, a network split) stops its workers a third of the TTL before the
/// lock would run out and kills what remains just before, so that two supervisors never work
/// at once; each take gives a higher fencing number (SOLO_FENCE for the workers), and the
/// Redis queue refuses jobs to a supervisor whose token no longer holds the lock.
final class FleetLock: Timed {
    enum Role: String { case standby, holding }

    let name: String
    let server: RedisHub.Server
    /// `owner pid random`: unique per run, so that a restarted supervisor is a new holder.
    let token: String
    private(set) var role = Role.standby
    private(set) var clock: LeaseClock
    private(set) var fence: Int64 = 0
    /// Whose the lock is while this supervisor stands by, and how long it has left.
    private(set) var holder: String?
    private(set) var holderLeft: Duration?
    /// The next take (standing by) or renewal (holding); nil while one is in flight.
    private var nextAttempt: Moment?
    private var inFlight = false
    private var stopped = false
    private var killed = false
    private var everConnected = false
    /// The refusal last logged (said once, not at every try).
    private var refusal: String?
    private(set) var released = false

    /// The supervisor's part: run the pools; stop them (gracefully); kill what is left.
    var gained: (Int64) -> Void = { _ in }
    var losing: (String) -> Void = { _ in }
    var kill: (String) -> Void = { _ in }
    private let say: (String) -> Void

    init(name: String, ttl: Duration, server: RedisHub.Server, owner: String, say: @escaping (String) -> Void) {
        self.name = name
        self.server = server
        self.say = say
        clock = LeaseClock(ttl: ttl)
        var random = SystemRandomNumberGenerator()
        token = "\(owner) \(Processes.ownPID) \(String(random.next(), radix: 36))"
        nextAttempt = .now()
        server.observe("lock", consequence: "the fleet lock is not renewed meanwhile (the workers stop if it stays away for two thirds of cluster_lock_ttl)",
                       up: { [unowned self] in self.connected() }, down: { _ in })
        // Only a message counts (a new subscription says nothing of the holder): a holder that
        // freed the lock is gone, so it is taken now. (The standbys spread a little: one of
        // them takes it, the others see it taken.)
        server.subscribe(RedisScripts.lockKey(name) + ":released", message: { [unowned self] in
            if self.role == .standby && !self.released { self.nextAttempt = .now() + .milliseconds(Int64.random(in: 0...20)) }
        })
    }

    /// The connection is up. A holder checks at once that the lock is still its own: Redis may
    /// have restarted without it. A standby that was cut off waits a whole TTL before it tries
    /// to take the lock: a holder cut off at the same time may still be working, and will
    /// either renew (if Redis kept the lock) or take it back first.
    private func connected() {
        let now = Moment.now()
        if role == .holding {
            if !inFlight { nextAttempt = now }
        } else if everConnected {
            nextAttempt = now + clock.ttl
        } else {
            nextAttempt = now
        }
        everConnected = true
    }

    private var keys: [String] { [RedisScripts.lockKey(name), RedisScripts.fenceKey(name)] }
    private var ttlMilliseconds: String { String(clock.ttl.nanoseconds / 1_000_000) }
    private var retryWait: Duration { clock.retryWait }

    func mayAct(now: Moment) -> Bool { role == .holding && clock.mayAct(now: now) }

    var nextDeadline: Moment? {
        guard !released else { return nil }
        var earliest = inFlight ? nil : nextAttempt
        if role == .holding {
            if !stopped { earliest = earlier(earliest, clock.stopAt) }
            if !killed { earliest = earlier(earliest, clock.killAt) }
        }
        return earliest
    }

    func expire(now: Moment) {
        guard !released else { return }
        if role == .holding {
            if !killed, let killAt = clock.killAt, now >= killAt {
                killed = true
                kill("fleet lock \(name): not renewed in time; killing every worker before it runs out")
                becomeStandby(now: now)
                return
            }
            if !stopped, let stopAt = clock.stopAt, let renewAt = clock.renewAt, now >= stopAt {
                stopped = true
                losing("fleet lock \(name): no renewal for \(Values.formatElapsed(now - renewAt + clock.ttl / 3)) (\(server.problem ?? "Redis does not answer")); stopping every worker, which must be gone before the lock runs out in \(Values.formatElapsed((clock.validUntil ?? now) - now))")
            }
        }
        if !inFlight, let attempt = nextAttempt, now >= attempt { take(now: now) }
    }

    private func becomeStandby(now: Moment) {
        role = .standby
        clock.lost()
        nextAttempt = now + retryWait
    }

    /// Takes the lock, or renews it (the same script: a holder whose lock Redis lost takes it
    /// again, if nobody else has; one whose lock another holds learns it).
    private func take(now: Moment) {
        nextAttempt = nil
        let sentAt = now
        inFlight = true
        let sent = server.commands.evaluate(RedisScripts.lockAcquire, keys: keys, arguments: [token, ttlMilliseconds], now: now) {
            [unowned self] result in
            self.inFlight = false
            self.answered(result, sentAt: sentAt)
        }
        if !sent {
            inFlight = false
            nextAttempt = now + retryWait
        }
    }

    private func answered(_ result: Result<RESPValue, RedisError>, sentAt: Moment) {
        let now = Moment.now()
        guard case .success(let value) = result, let take = LockTake(value) else {
            if case .success(let value) = result {
                let message = value.errorMessage ?? "an unreadable reply"
                if message != refusal { say("fleet lock \(name): Redis refused it: \(message); trying again every \(Values.formatElapsed(retryWait))") }
                refusal = message
            }
            nextAttempt = now + retryWait  // until the stop and kill times, for a holder
            return
        }
        refusal = nil
        switch take {
        case .held where released:
            // Stopped while this was in flight: a take that worked is undone at once.
            server.commands.evaluate(RedisScripts.lockRelease, keys: keys, arguments: [token]) { _ in }
        case .heldBy where released:
            break
        case .held(let fence):
            clock.confirmed(sentAt: sentAt)
            nextAttempt = clock.renewAt
            if role == .standby || stopped {
                role = .holding
                stopped = false
                killed = false
                holder = nil
                holderLeft = nil
                self.fence = fence
                gained(fence)
            } else if fence != self.fence {
                say("fleet lock \(name): Redis had lost it (restarted?); taken again, fence \(fence)")
                self.fence = fence
            }
        case .heldBy(let other, let left):
            if role == .holding {
                killed = true
                kill("fleet lock \(name): \(LockTake.describe(other)) holds it now; killing every worker")
                becomeStandby(now: now)
            }
            if other != holder && !other.isEmpty {
                say("fleet lock \(name): held by \(LockTake.describe(other))\(left == nil ? " with no expiry (set by hand? it never runs out: DEL \(RedisScripts.lockKey(name)) frees it)" : ""); standing by")
            }
            holder = other.isEmpty ? nil : other
            holderLeft = left
            // Again when it runs out (a little after), and at least every third of the TTL.
            let wait = left.map { $0 + .milliseconds(Int64.random(in: 5...50)) } ?? clock.ttl / 3
            nextAttempt = now + min(wait, clock.ttl / 3)
        }
    }

    /// At a clean stop, once the workers are gone: frees the lock and tells those waiting.
    func release() {
        guard !released else { return }
        released = true
        guard role == .holding else { return }
        role = .standby
        clock.lost()
        inFlight = true
        let sent = server.commands.evaluate(RedisScripts.lockRelease, keys: keys, arguments: [token]) { [unowned self] _ in self.inFlight = false }
        if !sent { inFlight = false }
    }

    /// Whether the release has been answered (or cannot be).
    var settled: Bool { !inFlight || !server.isUp }

    var statusJSON: JSON {
        .object([("name", .string(name)), ("role", .string(role.rawValue)), ("fence", .number(fence)),
                 ("holder", .optional(role == .holding ? LockTake.describe(token) : holder.map(LockTake.describe))),
                 ("valid_ms", clock.validUntil.map { .number(max(0, ($0 - Moment.now()).nanoseconds / 1_000_000)) } ?? .null),
                 ("holder_left_ms", holderLeft.map { .number($0.nanoseconds / 1_000_000) } ?? .null),
                 ("server", .string(server.url.description))])
    }
}
