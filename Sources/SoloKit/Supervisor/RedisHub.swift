/// The supervisor's Redis connections: per server (host, port, database, credentials) one
/// connection for commands and one subscribed to the channels that wake solo (new jobs, a
/// released fleet lock). All of it runs in the supervisor's loop and never blocks it: while a
/// server is away its users hear `down`, their requests fail at once, and the hub reconnects
/// with back-off; nothing else in the supervisor waits.
final class RedisHub: Timed {
    final class Server {
        let url: RedisURL
        let commands: RedisConnection
        let wakes: RedisConnection
        /// Who is told when the command connection comes up or goes down, by name, and what
        /// an outage means to each (said when it begins).
        fileprivate(set) var observers: [String: (consequence: String, up: () -> Void, down: (RedisError) -> Void)] = [:]
        /// Per channel: what a message does, and what a new subscription does (nil: nothing),
        /// since messages may have been missed while the subscriber was away.
        fileprivate var channels: [String: (message: () -> Void, resubscribed: (() -> Void)?)] = [:]
        /// The first problem of an outage, and when it began: an outage is logged once, at its
        /// start, and once more when it is over.
        fileprivate var saidProblem: String?
        fileprivate var saidKind: RedisError.Kind?
        fileprivate var downSince: Moment?

        init(url: RedisURL, commands: RedisConnection, wakes: RedisConnection) {
            self.url = url
            self.commands = commands
            self.wakes = wakes
        }

        var isUp: Bool { commands.phase == .up }
        var problem: String? { commands.problem }

        /// Calls `up` whenever the connection comes up (at once if it is up) and `down` when it
        /// is lost; a later call under the same name replaces the earlier one.
        func observe(_ name: String, consequence: String, up: @escaping () -> Void, down: @escaping (RedisError) -> Void) {
            observers[name] = (consequence, up, down)
            if isUp { up() }
        }

        /// Calls `message` for every message on `channel` (the payload does not matter), and
        /// `resubscribed` whenever the subscription is made anew (messages may have been missed).
        func subscribe(_ channel: String, message: @escaping () -> Void, resubscribed: (() -> Void)? = nil) {
            let new = channels[channel] == nil
            channels[channel] = (message, resubscribed)
            if new, wakes.phase == .up { wakes.send(RedisCommand("SUBSCRIBE", channel)) }
        }

        func unsubscribe(_ channel: String) {
            guard channels.removeValue(forKey: channel) != nil, wakes.phase == .up else { return }
            wakes.send(RedisCommand("UNSUBSCRIBE", channel))
        }
    }

    /// Subscribers are pinged this often: one whose server no longer answers is made anew.
    static let pingInterval: Duration = .seconds(10)

    private var servers: [RedisURL: Server] = [:]
    private var nextPing = Moment.now() + pingInterval
    /// Each connection keeps its token across reconnects (its socket is registered anew under it).
    private var byToken: [UInt64: RedisConnection] = [:]
    private var nextIndex: UInt64 = 0
    private let epoll: Epoll
    private let clientName: String
    private let requestTimeout: Duration
    private let say: (String) -> Void

    /// `requestTimeout`: how long a request may wait for its reply before the server is taken
    /// for gone; shorter than the leases and the fleet lock's windows it must protect.
    init(epoll: Epoll, clientName: String, requestTimeout: Duration, say: @escaping (String) -> Void) {
        self.epoll = epoll
        self.clientName = clientName
        self.requestTimeout = requestTimeout
        self.say = say
    }

    /// A quarter of the shortest window that depends on a reply (the lease, the fleet lock's
    /// TTL), from 1 to 5 seconds.
    static func requestTimeout(lease: Duration, lockTTL: Duration?) -> Duration {
        let shortest = min(lease, lockTTL ?? lease)
        return min(max(shortest / 4, .seconds(1)), .seconds(5))
    }

    /// The server's connections, made (and started) on first use.
    func server(_ url: RedisURL) -> Server {
        let key = url.server
        if let known = servers[key] { return known }
        let base = EpollToken.redis.token(nextIndex * 2)
        nextIndex += 1
        let server = Server(url: key,
                            commands: RedisConnection(url: key, clientName: clientName, requestTimeout: requestTimeout, epoll: epoll, token: base),
                            wakes: RedisConnection(url: key, clientName: clientName + ":wake", requestTimeout: requestTimeout, epoll: epoll, token: base + 1))
        servers[key] = server
        byToken[base] = server.commands
        byToken[base + 1] = server.wakes
        server.commands.onUp = { [unowned self, unowned server] in
            if let problem = server.saidProblem, let since = server.downSince {
                let place = server.commands.place
                let what = problem.hasPrefix(place + ": ") ? String(problem.dropFirst(place.count + 2)) : problem
                self.say("\(place): connected again after \(Values.formatElapsed(.now() - since)) (it was: \(what))")
            }
            server.saidProblem = nil
            server.downSince = nil
            for observer in server.observers.values { observer.up() }
        }
        server.commands.onDown = { [unowned self, unowned server] error in
            // Said again only when the kind of trouble changes (away, then refusing the password).
            if server.saidProblem == nil || server.saidKind != error.kind {
                let consequences = server.observers.values.map(\.consequence).sorted().joined(separator: "; ")
                self.say("\(error.message); \(consequences.isEmpty ? "" : consequences + " ")(retrying every few seconds)")
                server.saidProblem = error.message
                server.saidKind = error.kind
                if server.downSince == nil { server.downSince = .now() }
            }
            for observer in server.observers.values { observer.down(error) }
        }
        server.wakes.onPush = { [unowned server] value in
            // ["message", channel, payload]; subscription confirmations and pongs say nothing.
            guard let parts = value.elements, parts.count == 3, parts[0].string == "message", let channel = parts[1].string else { return }
            server.channels[channel]?.message()
        }
        server.wakes.onUp = { [unowned server] in
            for channel in server.channels.keys { server.wakes.send(RedisCommand("SUBSCRIBE", channel)) }
            for handlers in server.channels.values { handlers.resubscribed?() }
        }
        let now = Moment.now()
        server.commands.start(now: now)
        server.wakes.start(now: now)
        return server
    }

    /// Closes the servers not in `needed` (a reload took their last user away).
    func keep(only needed: Set<RedisURL>) {
        for (key, server) in servers where !needed.contains(key) {
            server.commands.close()
            server.wakes.close()
            servers[key] = nil
            byToken = byToken.filter { $0.value !== server.commands && $0.value !== server.wakes }
        }
    }

    var all: [Server] { Array(servers.values) }

    /// The connections to a server, if any are open (a lookup, for the loop's every turn).
    func existing(_ url: RedisURL) -> Server? { servers[url.server] }

    func event(_ event: Epoll.Event) {
        byToken[event.token]?.handle(readable: event.readable, writable: event.writable, hangup: event.hangup)
    }

    /// Writes what the loop turn queued, in one write per connection.
    func flush() {
        let now = Moment.now()
        for server in servers.values {
            server.commands.flush(now: now)
            server.wakes.flush(now: now)
        }
    }

    var nextDeadline: Moment? {
        var earliest: Moment? = servers.isEmpty ? nil : nextPing
        for server in servers.values {
            earliest = earlier(earliest, earlier(server.commands.nextDeadline, server.wakes.nextDeadline))
        }
        return earliest
    }

    func expire(now: Moment) {
        if now >= nextPing {
            nextPing = now + Self.pingInterval
            checkSubscribers()
        }
        for server in servers.values {
            server.commands.expire(now: now)
            server.wakes.expire(now: now)
        }
    }

    /// Pings every subscriber: one that gets no answer in time is made anew.
    private func checkSubscribers() {
        for server in servers.values where server.wakes.phase == .up { server.wakes.send(RedisCommand("PING")) }
    }

    func closeAll() {
        for server in servers.values {
            server.commands.close()
            server.wakes.close()
        }
        servers = [:]
        byToken = [:]
    }
}
