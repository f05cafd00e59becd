/// What `solo status --cluster` reads: every supervisor that uses Redis writes, every two
/// seconds and on every server it uses, a report of its pools (JSON) under its name, which
/// expires unless renewed. A host that dies drops out of the list within `ttl`; one that
/// stops cleanly removes its report at once.
final class ClusterHeartbeat: Timed {
    static let interval: Duration = .seconds(2)
    static let ttl: Duration = .seconds(7)

    let owner: String
    /// The servers to write to, and the report to write (both asked at every beat).
    var servers: () -> [RedisHub.Server] = { [] }
    var report: () -> String = { "{}" }
    private var next = Moment.now()

    init(owner: String) { self.owner = owner }

    var nextDeadline: Moment? { servers().isEmpty ? nil : next }

    func expire(now: Moment) {
        guard now >= next else { return }
        next = now + Self.interval
        let targets = servers().filter(\.isUp)
        guard !targets.isEmpty else { return }
        let text = report()
        for server in targets {
            server.commands.evaluate(RedisScripts.heartbeat, keys: [RedisScripts.nodesKey, RedisScripts.nodeKey(owner)],
                                     arguments: [owner, text, String(Self.ttl.nanoseconds / 1_000_000)], now: now) { _ in }
        }
    }

    /// At a clean stop: the report goes at once (the name stays in the list, without a report).
    func leave() {
        for server in servers() where server.isUp {
            server.commands.send(RedisCommand("DEL", RedisScripts.nodeKey(owner)))
        }
    }
}
