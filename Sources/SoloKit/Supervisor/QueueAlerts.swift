/// `alert_queue_age` for every pool that sets it: each pool's queue is looked at once a second
/// (and not at all, with no wake-up, while no pool sets it); `QueueAgeAlert` says when an
/// alert begins or ends, and `fire` tells the log and the hooks.
final class QueueAlerts: Timed {
    static let interval = Duration.seconds(1)

    private var alerts: [String: QueueAgeAlert] = [:]
    private var nextCheck: Moment?
    private let pools: () -> [Pool]
    /// The age in ms of the oldest job waiting in the pool's queue (nil inside: none waits);
    /// nil when the store cannot say now (the alert stays as it is).
    private let oldestWaitingMs: (Pool) -> Int64??
    private let fire: (Pool, HookEvent.Kind, String) -> Void

    init(pools: @escaping () -> [Pool], oldestWaitingMs: @escaping (Pool) -> Int64??, fire: @escaping (Pool, HookEvent.Kind, String) -> Void) {
        self.pools = pools
        self.oldestWaitingMs = oldestWaitingMs
        self.fire = fire
    }

    /// Why the pool's queue is in alert, if it is (for `solo status` and the metrics).
    func alert(of pool: Pool) -> String? { pool.config.alertQueueAge == nil ? nil : alerts[pool.name]?.reason }

    /// Whether any pool sets alert_queue_age (a reload may change it).
    private var watching: Bool { pools().contains { $0.config.alertQueueAge != nil } }

    var nextDeadline: Moment? {
        guard watching else { return nil }
        return nextCheck ?? .now()
    }

    func expire(now: Moment) {
        guard watching, nextCheck.map({ $0 <= now }) ?? true else { return }
        nextCheck = now + Self.interval
        var kept: [String: QueueAgeAlert] = [:]
        for pool in pools() {
            guard let limit = pool.config.alertQueueAge else { continue }
            var alert = alerts[pool.name] ?? QueueAgeAlert(limit: limit)
            alert.limit = limit
            if let oldest = oldestWaitingMs(pool), let change = alert.check(oldestWaitingMs: oldest) { fire(pool, change.kind, change.reason) }
            kept[pool.name] = alert
        }
        alerts = kept
    }
}
