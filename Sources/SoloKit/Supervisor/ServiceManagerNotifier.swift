/// Tells systemd, when it started solo with Type=notify, what it asked for (READY=1,
/// STOPPING=1, the watchdog's WATCHDOG=1), with a one-line STATUS whenever that changed, and
/// comes back every half watchdog interval, or every 5 s for the STATUS.
final class ServiceManagerNotifier: Timed {
    let manager: ServiceManager
    /// The one-line STATUS as of now (asked at every update).
    var status: (Moment) -> String = { _ in "" }
    private var nextUpdate: Moment?
    private var lastStatus = ""
    private let say: (String) -> Void

    init(_ manager: ServiceManager, say: @escaping (String) -> Void) {
        self.manager = manager
        self.say = say
    }

    func tell(_ lines: [String], now: Moment) {
        guard manager.isActive else { return }
        let summary = status(now)
        var message = lines
        if summary != lastStatus {
            message.append("STATUS=" + summary)
            lastStatus = summary
        }
        if !message.isEmpty, let error = manager.notify(message) {
            say("cannot notify systemd at \(manager.socket ?? "?"): \(error)")
        }
        nextUpdate = now + (manager.watchdogInterval.map { min($0, .seconds(5)) } ?? .seconds(5))
    }

    var nextDeadline: Moment? { nextUpdate }

    func expire(now: Moment) {
        if let update = nextUpdate, update <= now { tell(manager.watchdogInterval == nil ? [] : ["WATCHDOG=1"], now: now) }
    }
}
