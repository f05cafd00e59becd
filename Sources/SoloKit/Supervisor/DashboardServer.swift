/// The web dashboard (`dashboard_listen`): a TCP listener served from the supervisor's loop,
/// like the metrics. Every request is read whole within a few seconds (head and body capped),
/// answered and closed, except the event streams, which get the supervisor's picture once a
/// second while any is open (and no wake-up while none is). A stream whose reader falls a
/// megabyte behind is cut off, and so is one opened with a token since renewed; past the
/// connection cap the oldest that have sent no whole request go first, never a stream: a slow
/// or hostile client costs bounded memory and never holds up the loop.
final class DashboardServer: Timed {
    static let maximumConnections = 64
    /// A request must be whole within this; a stream lives on.
    static let requestLifetime: Duration = .seconds(10)
    static let streamBacklog = 1 << 20
    static let interval: Duration = .seconds(1)

    /// What the supervisor does with a route; nil for the routes the server answers itself.
    struct Handlers {
        /// The answer to an API route or the page: its status and body bytes (whole responses).
        let answer: (DashboardRoute) -> [UInt8]
        /// The picture a stream gets, as JSON text.
        let picture: () -> String
        /// The token now (read at every request: a new one takes effect at once).
        let token: () -> String?
        let readonly: () -> Bool
    }

    let address: ListenAddress
    private let sockets: SocketConnections
    private let handlers: Handlers
    private let allowedHosts: Set<String>
    /// The open event streams, each with the token it was opened with: when the token is
    /// renewed, the streams of the old one end at the next picture.
    private var streams: [UInt64: String] = [:]
    private var nextPicture: Moment?

    init(address: ListenAddress, epoll: Epoll, handlers: Handlers) throws(Errno) {
        self.address = address
        self.handlers = handlers
        allowedHosts = [Host.name().lowercased()]
        let listener = try Sockets.listenTCP(address: address.address, port: address.port)
        sockets = try SocketConnections(listener: listener, tokens: EpollToken.dashboard, lifetime: Self.requestLifetime, epoll: epoll)
    }

    func event(_ event: Epoll.Event) {
        if event.token == EpollToken.dashboard.base { return acceptAll() }
        guard let connection = sockets.connections[event.token] else { return forget(event.token) }
        if event.writable { sockets.write(connection) }
        if event.readable || event.hangup { read(connection) }
        if sockets.connections[event.token] == nil { forget(event.token) }
    }

    /// Past the cap, the oldest connections that have not yet sent a whole request go (the
    /// newcomer itself when every other one is a stream): sockets opened and left idle by
    /// someone without the token never cut off a page's event stream.
    private func acceptAll() {
        _ = try? sockets.acceptAll()
        let excess = sockets.connections.count - Self.maximumConnections
        guard excess > 0 else { return }
        let waiting = sockets.connections.values.filter { !$0.lasting }.sorted { $0.token < $1.token }
        for connection in waiting.prefix(excess) {
            sockets.drop(connection)
            forget(connection.token)
        }
    }

    private func read(_ connection: SocketConnections.Connection) {
        let outcome = sockets.read(connection, limit: HTTP.maximumHead + DashboardHTTP.maximumBody)
        if case .dropped = outcome { return }
        // A stream's reader sends nothing more; the end of its input is the end of the stream.
        if connection.lasting {
            connection.input = []
            if case .endOfFile = outcome { sockets.drop(connection) }
            return
        }
        switch HTTP.parse(connection.input, maximumBody: DashboardHTTP.maximumBody) {
        case .incomplete:
            if case .endOfFile = outcome { sockets.drop(connection) }
        case .refused(let answer):
            connection.input = []
            sockets.send(connection, answer)
            sockets.finish(connection)
        case .request(let request, _):
            connection.input = []
            switch DashboardHTTP.route(request, token: handlers.token(), readonly: handlers.readonly(), allowedHosts: allowedHosts) {
            case .failure(let refusal):
                sockets.send(connection, DashboardHTTP.answer(refusal))
                sockets.finish(connection)
            case .success(.events):
                connection.lasting = true
                streams[connection.token] = handlers.token()
                sockets.send(connection, DashboardHTTP.streamHead + DashboardHTTP.event(handlers.picture()))
                if nextPicture == nil { nextPicture = Moment.now() + Self.interval }
            case .success(let route):
                sockets.send(connection, handlers.answer(route))
                sockets.finish(connection)
            }
        }
    }

    /// Sends the picture to every stream, gathered once for all of them.
    private func broadcast() {
        let event = DashboardHTTP.event(handlers.picture())
        let current = handlers.token()
        for (token, opened) in streams {
            guard let connection = sockets.connections[token] else { forget(token); continue }
            if connection.output.count > Self.streamBacklog || opened != current {
                sockets.drop(connection)
                forget(token)
            } else {
                sockets.send(connection, event)
            }
        }
    }

    var nextDeadline: Moment? { earlier(sockets.nextDeadline, streams.isEmpty ? nil : nextPicture) }

    func expire(now: Moment) {
        sockets.expire(now: now)
        guard let due = nextPicture, due <= now else { return }
        streams = streams.filter { sockets.connections[$0.key] != nil }
        if streams.isEmpty {
            nextPicture = nil
        } else {
            broadcast()
            nextPicture = now + Self.interval
        }
    }

    private func forget(_ token: UInt64) {
        streams[token] = nil
    }

    func close() {
        streams = [:]
        sockets.close()
    }
}
