/// The metrics endpoint (`metrics_listen`): a TCP listener served from the supervisor's loop,
/// one request per connection. It reads and writes without blocking, so a scraper that stalls
/// holds up nothing; it keeps at most a few connections for a few seconds each, and gathers
/// the figures at most once a second however often it is asked (anyone who reaches the port
/// may ask: it has no authentication).
final class MetricsServer: Timed {
    static let maximumConnections = 32
    static let connectionLifetime: Duration = .seconds(10)
    static let renderedLifetime: Duration = .seconds(1)

    let address: ListenAddress
    private let sockets: SocketConnections
    private let render: () -> String
    private var rendered: (at: Moment, text: String)?

    init(address: ListenAddress, epoll: Epoll, render: @escaping () -> String) throws(Errno) {
        self.address = address
        self.render = render
        let listener = try Sockets.listenTCP(address: address.address, port: address.port)
        sockets = try SocketConnections(listener: listener, tokens: EpollToken.metrics, lifetime: Self.connectionLifetime, epoll: epoll)
    }

    func event(_ event: Epoll.Event) {
        if event.token == EpollToken.metrics.base { return acceptAll() }
        guard let connection = sockets.connections[event.token] else { return }
        if event.writable { sockets.write(connection) }
        if event.readable || event.hangup { read(connection) }
    }

    /// Accepts what waits; past the cap, the oldest connections that have not had their answer
    /// yet go first (a scraper reading its answer is left to finish).
    private func acceptAll() {
        _ = try? sockets.acceptAll()
        let excess = sockets.connections.count - Self.maximumConnections
        guard excess > 0 else { return }
        let oldestFirst = sockets.connections.values.sorted { ($0.closeWhenWritten ? 1 : 0, $0.token) < ($1.closeWhenWritten ? 1 : 0, $1.token) }
        for connection in oldestFirst.prefix(excess) { sockets.drop(connection) }
    }

    private func read(_ connection: SocketConnections.Connection) {
        let outcome = sockets.read(connection, limit: MetricsHTTP.maximumHead)
        if case .dropped = outcome { return }
        if let response = MetricsHTTP.response(to: connection.input, metrics: metrics) {
            connection.input = []
            sockets.send(connection, response)
            return sockets.finish(connection)
        }
        // The client hung up before its request was whole.
        if case .endOfFile = outcome { sockets.drop(connection) }
    }

    private func metrics() -> String {
        let now = Moment.now()
        if let rendered, now < rendered.at + Self.renderedLifetime { return rendered.text }
        let text = render()
        rendered = (now, text)
        return text
    }

    var nextDeadline: Moment? { sockets.nextDeadline }
    func expire(now: Moment) { sockets.expire(now: now) }

    func close() { sockets.close() }
}
