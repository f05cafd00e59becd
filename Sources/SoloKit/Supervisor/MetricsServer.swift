/// The metrics endpoint (`metrics_listen`): a TCP listener served from the supervisor's loop,
/// one request per connection. It reads and writes without blocking, so a scraper that stalls
/// holds up nothing, and it keeps at most a few connections, dropping the oldest.
final class MetricsServer {
    /// Epoll tokens from here up are the metrics listener's (the control socket's are above).
    static let tokenBase: UInt64 = 1 << 61
    static let maximumConnections = 32

    let address: ListenAddress
    private let sockets: SocketConnections
    private let render: () -> String

    init(address: ListenAddress, epoll: Epoll, render: @escaping () -> String) throws(Errno) {
        self.address = address
        self.render = render
        let listener = try Sockets.listenTCP(address: address.address, port: address.port)
        sockets = try SocketConnections(listener: listener, tokenBase: Self.tokenBase, epoll: epoll)
    }

    static func owns(_ token: UInt64) -> Bool { SocketConnections.owns(token, base: tokenBase) }

    func event(_ event: Epoll.Event) {
        if event.token == Self.tokenBase { return acceptAll() }
        guard let connection = sockets.connections[event.token] else { return }
        if event.writable { sockets.write(connection) }
        if event.readable || event.hangup { read(connection) }
    }

    private func acceptAll() {
        guard (try? sockets.acceptAll()) != nil else { return }
        let excess = sockets.connections.count - Self.maximumConnections
        guard excess > 0 else { return }
        for token in sockets.connections.keys.sorted().prefix(excess) {
            if let connection = sockets.connections[token] { sockets.drop(connection) }
        }
    }

    private func read(_ connection: SocketConnections.Connection) {
        guard !connection.closeWhenWritten else { return }
        let outcome = sockets.read(connection)
        if case .dropped = outcome { return }
        if let response = MetricsHTTP.response(to: connection.input, metrics: render) {
            connection.input = []
            sockets.send(connection, response)
            return sockets.finish(connection)
        }
        // The client hung up before its request was whole.
        if case .endOfFile = outcome { sockets.drop(connection) }
    }

    func close() { sockets.close() }
}
