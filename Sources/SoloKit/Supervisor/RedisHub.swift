/// The supervisor's Redis connections: per server (host, port, database, credentials) one
/// connection for commands and one subscribed to the channels that wake solo (new jobs, a
/// released fleet lock). All of it runs in the supervisor's loop and never blocks it: while a
/// server is away its users hear `down`, their requests fail at once, and the hub reconnects
/// with back-off; nothing else in the supervisor waits.
final class RedisHub {
    /// Epoll tokens from here up are Redis sockets (the metrics' start at 1 << 61).
    static let tokenBase: UInt64 = 1 << 60
    static let tokenSpan: UInt64 = 1 << 40

    final class Server {
        let url: RedisURL
        let commands: RedisConnection
        let wakes: RedisConnection
        /// Who is told when the command connection comes up or goes down, by name.
        fileprivate(set) var observers: [String: (up: () -> Void, down: (RedisError) -> Void)] = [:]
        fileprivate var channels: [String: () -> Void] = [:]
        /// The problem last logged, so that a server that stays away is logged once.
        fileprivate var saidProblem: String?

        init(url: RedisURL, commands: RedisConnection, wakes: RedisConnection) {
            self.url = url
            self.commands = commands
            self.wakes = wakes
        }

        var isUp: Bool { commands.phase == .up }
        var problem: String? { commands.problem }

        /// Calls `up` whenever the connection comes up (at once if it is up) and `down` when it
        /// is lost; a later call under the same name replaces the earlier one.
        func observe(_ name: String, up: @escaping () -> Void, down: @escaping (RedisError) -> Void) {
            observers[name] = (up, down)
            if isUp { up() }
        }

        /// Calls `handler` for every message on `channel` (the payload does not matter), and
        /// whenever the subscription is made anew: messages may have been missed meanwhile.
        func subscribe(_ channel: String, _ handler: @escaping () -> Void) {
            let new = channels[channel] == nil
            channels[channel] = handler
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
    private let say: (String) -> Void

    init(epoll: Epoll, clientName: String, say: @escaping (String) -> Void) {
        self.epoll = epoll
        self.clientName = clientName
        self.say = say
    }

    static func owns(_ token: UInt64) -> Bool { token >= tokenBase && token - tokenBase < tokenSpan }

    /// The server's connections, made (and started) on first use.
    func server(_ url: RedisURL) -> Server {
        let key = url.server
        if let known = servers[key] { return known }
        let base = Self.tokenBase + nextIndex * 2
        nextIndex += 1
        let server = Server(url: key,
                            commands: RedisConnection(url: key, clientName: clientName, epoll: epoll, token: base),
                            wakes: RedisConnection(url: key, clientName: clientName + ":wake", epoll: epoll, token: base + 1))
        servers[key] = server
        byToken[base] = server.commands
        byToken[base + 1] = server.wakes
        server.commands.onUp = { [unowned self, unowned server] in
            if let problem = server.saidProblem { self.say("\(server.commands.place): connected again (it was: \(problem))") }
            server.saidProblem = nil
            for observer in server.observers.values { observer.up() }
        }
        server.commands.onDown = { [unowned self, unowned server] error in
            if server.saidProblem != error.message {
                self.say("\(error.message); the workers stay up, and jobs wait until it is back (retrying every few seconds)")
                server.saidProblem = error.message
            }
            for observer in server.observers.values { observer.down(error) }
        }
        server.wakes.onPush = { [unowned server] value in
            // ["message", channel, payload]; subscription confirmations and pongs say nothing.
            guard let parts = value.elements, parts.count == 3, parts[0].string == "message", let channel = parts[1].string else { return }
            server.channels[channel]?()
        }
        server.wakes.onUp = { [unowned server] in
            for channel in server.channels.keys { server.wakes.send(RedisCommand("SUBSCRIBE", channel)) }
            for handler in server.channels.values { handler() }
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
