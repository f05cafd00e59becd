/// The control socket: a unix socket in a 0700 directory, mode 0600, served from the loop.
/// Only root and solo's own user may talk to it (SO_PEERCRED); requests and answers are one
/// JSON object per line. It is never a TCP port.
final class ControlServer: Timed {
    static let maximumRequest = 64 * 1024

    let path: String
    private let sockets: SocketConnections
    private let allowed: Set<UInt32>
    /// `solo logs -f`: the pool whose new lines each following connection receives.
    private var following: [UInt64: String] = [:]
    /// `--wait`: the answers owed to connections, each given by its check once the work is done.
    private var owed: [UInt64: () -> JSON?] = [:]
    /// The answer to a request, or nil when it is owed (see `answerLater`).
    private let handle: (ControlRequest, UInt64) -> JSON?
    private let say: (String) -> Void

    init(path: String, epoll: Epoll, handle: @escaping (ControlRequest, UInt64) -> JSON?, say: @escaping (String) -> Void) throws(Errno) {
        self.path = path
        self.handle = handle
        self.say = say
        allowed = [0, Accounts.ownUID]
        try Files.makeDirectories(Path.directory(of: path), mode: 0o700)
        try? Files.setMode(Path.directory(of: path), 0o700)
        sockets = try SocketConnections(listener: try UnixSocket.listen(at: path), tokens: EpollToken.control, epoll: epoll)
    }

    func event(_ event: Epoll.Event) {
        if event.token == EpollToken.control.base { return acceptAll() }
        guard let connection = sockets.connections[event.token] else { return forget(event.token) }
        if event.writable { sockets.write(connection) }
        if event.readable || event.hangup { read(connection) }
        if sockets.connections[event.token] == nil { forget(event.token) }
    }

    private func acceptAll() {
        let accepted: [SocketConnections.Connection]
        do { accepted = try sockets.acceptAll() } catch {
            say("control socket: accept failed: \(error)")
            return
        }
        for connection in accepted {
            let peer = try? UnixSocket.peer(connection.descriptor)
            guard let peer, allowed.contains(peer.uid) else {
                let who = peer.map { "uid \($0.uid)" } ?? "an unknown peer"
                say("control socket: refused \(who) (only root and uid \(Accounts.ownUID) may steer solo)")
                respond(connection, ControlRequest.failure("permission denied: \(who) may not steer this solo (root and uid \(Accounts.ownUID) may)"))
                sockets.finish(connection)
                continue
            }
        }
    }

    private func read(_ connection: SocketConnections.Connection) {
        let outcome = sockets.read(connection, limit: Self.maximumRequest)
        while let newline = connection.input.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: connection.input[..<newline], as: UTF8.self)
            connection.input.removeSubrange(...newline)
            answer(line, connection: connection)
        }
        if connection.input.count > Self.maximumRequest {
            connection.input.removeAll()
            respond(connection, ControlRequest.failure("request longer than 64K"))
            return sockets.finish(connection)
        }
        // The client may have half-closed after its request: the answer is written first.
        if case .endOfFile = outcome {
            following[connection.token] = nil
            sockets.finish(connection)
        }
    }

    private func answer(_ line: String, connection: SocketConnections.Connection) {
        guard !line.isEmpty else { return }
        let reply: JSON?
        do {
            reply = handle(try ControlRequest(json: try JSON.parse(line)), connection.token)
        } catch let error as JSON.ParseError {
            reply = ControlRequest.failure("not JSON: \(error)")
        } catch let error as ControlRequest.Invalid {
            reply = ControlRequest.failure(error.message)
        } catch {
            reply = ControlRequest.failure("\(error)")
        }
        if let reply { respond(connection, reply) }
    }

    private func respond(_ connection: SocketConnections.Connection, _ reply: JSON) {
        sockets.send(connection, Array((reply.text + "\n").utf8))
    }

    /// From now on, sends the pool's new lines to this connection (`solo logs -f`).
    func follow(_ token: UInt64, pool: String) { following[token] = pool }

    /// A new line of a pool's output, for the connections that follow it. A follower that does
    /// not read is cut off rather than buffered without end.
    func publish(_ line: String, pool: String) {
        for (token, name) in following where name == pool {
            guard let connection = sockets.connections[token] else { forget(token); continue }
            if connection.output.count > 1 << 20 {
                following[token] = nil
                respond(connection, ControlRequest.failure("too slow: lines were lost"))
                sockets.finish(connection)
            } else {
                respond(connection, JSON.object([("line", .string(line))]))
            }
        }
    }

    var hasFollowers: Bool { !following.isEmpty }

    /// Answers the request of `token` later: `check` gives the answer once the work is done.
    func answerLater(_ token: UInt64, when check: @escaping () -> JSON?) { owed[token] = check }

    /// Sends the owed answers whose work is done (once every turn of the loop).
    func settle() {
        for (token, check) in owed {
            guard let connection = sockets.connections[token] else { owed[token] = nil; continue }
            guard let reply = check() else { continue }
            owed[token] = nil
            respond(connection, reply)
        }
    }

    var nextDeadline: Moment? { sockets.nextDeadline }
    func expire(now: Moment) { sockets.expire(now: now) }

    private func forget(_ token: UInt64) {
        following[token] = nil
        owed[token] = nil
    }

    func close() {
        following = [:]
        owed = [:]
        sockets.close()
        try? Files.remove(path)
    }
}
