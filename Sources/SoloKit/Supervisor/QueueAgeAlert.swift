/// `alert_queue_age`: whether a pool's queue is in alert (its oldest waiting job older than
/// the limit), and the one event each change of that makes: an `alert` when it passes the
/// limit, an `alert_cleared` when it is back under, never one per check.
public struct QueueAgeAlert: Equatable, Sendable {
    /// The age it alerts over (a reload may change it; an alert on goes on until it is under).
    public var limit: Duration
    /// While in alert: why, as the event and `solo status` say it.
    public private(set) var reason: String?

    public init(limit: Duration) { self.limit = limit }

    /// Looks at the oldest waiting job's age in milliseconds (nil: none waits); returns the
    /// event to fire and its reason when the alert begins or ends.
    public mutating func check(oldestWaitingMs: Int64?) -> (kind: HookEvent.Kind, reason: String)? {
        let age = oldestWaitingMs.map { Duration.milliseconds($0) }
        let limitText = "alert_queue_age \(Values.formatDuration(limit))"
        if let age, age > limit {
            guard reason == nil else { return nil }
            reason = "oldest waiting job \(Values.formatElapsed(age)) > \(limitText)"
            return (.alert, reason!)
        }
        guard reason != nil else { return nil }
        reason = nil
        return (.alertCleared, age.map { "oldest waiting job \(Values.formatElapsed($0)) <= \(limitText)" } ?? "no job waits (\(limitText))")
    }
}
