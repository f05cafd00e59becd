/// A socket of JSON lines served from the loop: the control socket, a unix socket in a 0700
/// directory, mode 0600, that only root and solo's own user may talk to (SO_PEERCRED), and the
/// client socket (solo-client(7)), mode 0660 for client_group, with a gate of its own. Requests
/// and answers are one JSON object per line. Never a TCP port.
final class ControlServer: Timed {
    /// Who may talk to a socket: peers it refuses are answered one error line and closed.
    struct Gate: Sendable {
        let admits: @Sendable (_ uid: UInt32, _ gid: UInt32, _ pid: Int32) -> Bool
        /// Why a peer ("uid N", or "an unknown peer" whose credentials could not be read) is
        /// refused: as it is told, and as solo's log says it.
        let refusal: @Sendable (_ who: String) -> String
        let logged: @Sendable (_ who: String) -> String
        /// Each refused user is logged once, rather than at every connection.
        let logOnce: Bool

        /// Root and solo's own user.
        static let owner = Gate(admits: { uid, _, _ in uid == 0 || uid == Accounts.ownUID }, refusal: { who in
            "permission denied: \(who) may not steer this solo (root and uid \(Accounts.ownUID) may)"
        }, logged: { who in "refused \(who) (only root and uid \(Accounts.ownUID) may steer solo)" }, logOnce: false)
    }

    let path: String
    let name: String
    let maximumRequest: Int
    /// Past this many connections, new ones are refused (nil: no cap).
    let maximumConnections: Int?
    /// A connection owed nothing that is quiet this long is closed (nil: never); one that
    /// leaves a request unfinished for `lineTimeout` is told so and closed.
    let idleTimeout: Duration?
    let lineTimeout: Duration
    /// Connections with part of a request read, since when (with `idleTimeout`).
    private var unfinished: [UInt64: Moment] = [:]
    /// When the connections are next checked for those timeouts: once a second at most.
    private var nextSweep: Moment?
    /// A peer that lets this much of its answers pile up unread is dropped (nil: no cap).
    let maximumBacklog: Int?
    /// The most bytes of unfinished requests held over every connection (nil: no cap): past
    /// it, a connection with a large one is told so and closed.
    let maximumBuffered: Int?
    private let sockets: SocketConnections
    private let gate: Gate
    private var refusedUsers: Set<UInt32?> = []
    /// Connections with requests read and not yet answered (see `serve`).
    private var backlogged: Set<UInt64> = []
    /// A request this long counts against `maximumBuffered`.
    static let largeRequest = 64 * 1024
    /// Requests answered per connection at a turn of the loop.
    static let requestsPerTurn = 64
    /// `solo logs -f`: the pool whose new lines each following connection receives.
    private var following: [UInt64: String] = [:]
    /// `--wait`: the answers owed to connections, each given by its check once the work is done
    /// (with its request's id).
    private var owed: [UInt64: [(check: () -> JSON?, id: JSON?)]] = [:]
    /// The `id` of the request being handled: its answer carries it back, now or later.
    private var answeringID: JSON?
    /// How many answers each connection is still to get (requests answered later: a call, a
    /// wait, a push to Redis, `--wait`).
    private var pending: [UInt64: Int] = [:]
    /// Connections whose peer half-closed: kept open, not read, until their last answer is out.
    private var halfClosed: Set<UInt64> = []
    /// The answer to a request, or nil when it is owed (see `answerLater` and `reply`).
    private let handle: (JSON, UInt64) throws(ControlRequest.Invalid) -> JSON?
    private let say: (String) -> Void

    /// The longest request a socket takes: a push or call of the largest payload, with room for
    /// the rest of its fields, and never less than `floor`.
    static func maximumRequest(floor: Int, maxPayload: Int) -> Int { max(floor, maxPayload + 64 * 1024) }

    /// The control socket.
    convenience init(path: String, epoll: Epoll, maxPayload: Int, handle: @escaping (ControlRequest, UInt64) -> JSON?, say: @escaping (String) -> Void) throws(Errno) {
        try Files.makeDirectories(Path.directory(of: path), mode: 0o700)
        try? Files.setMode(Path.directory(of: path), 0o700)
        try self.init(path: path, name: "control socket", listener: try UnixSocket.listen(at: path), tokens: EpollToken.control, epoll: epoll,
                      gate: .owner, maximumRequest: Self.maximumRequest(floor: 64 * 1024, maxPayload: maxPayload), handle: { (json, token) throws(ControlRequest.Invalid) in
                          handle(try ControlRequest(json: json), token)
                      }, say: say)
    }

    init(path: String, name: String, listener: FileDescriptor, tokens: EpollToken.Span, epoll: Epoll, gate: Gate, maximumRequest: Int,
         maximumConnections: Int? = nil, maximumBacklog: Int? = nil, idleTimeout: Duration? = nil, lineTimeout: Duration = .seconds(30), maximumBuffered: Int? = nil,
         handle: @escaping (JSON, UInt64) throws(ControlRequest.Invalid) -> JSON?, say: @escaping (String) -> Void) throws(Errno) {
        self.path = path
        self.name = name
        self.gate = gate
        self.maximumRequest = maximumRequest
        self.maximumConnections = maximumConnections
        self.maximumBacklog = maximumBacklog
        self.idleTimeout = idleTimeout
        self.lineTimeout = lineTimeout
        self.maximumBuffered = maximumBuffered
        self.handle = handle
        self.say = say
        sockets = try SocketConnections(listener: listener, tokens: tokens, epoll: epoll)
    }

    func event(_ event: Epoll.Event) {
        if event.token == sockets.tokens.base { return acceptAll() }
        guard let connection = sockets.connections[event.token] else { return forget(event.token) }
        // A half-closed peer that now closed altogether will read no answer.
        if event.hangup && halfClosed.contains(connection.token) {
            sockets.drop(connection)
            return forget(event.token)
        }
        if event.writable { sockets.write(connection) }
        if event.readable || event.hangup { read(connection) }
        if sockets.connections[event.token] == nil { forget(event.token) }
    }

    private func acceptAll() {
        let accepted: [SocketConnections.Connection]
        do { accepted = try sockets.acceptAll() } catch {
            say("\(name): accept failed: \(error)")
            return
        }
        // Those of this batch past the cap are refused, the newest first.
        let room = maximumConnections.map { $0 - (sockets.connections.count - accepted.count) } ?? accepted.count
        for (index, connection) in accepted.enumerated() {
            if index >= room, let maximum = maximumConnections {
                respond(connection, ControlRequest.failure("too many connections (\(maximum)); try again shortly"))
                sockets.finish(connection)
                continue
            }
            let peer = try? UnixSocket.peer(connection.descriptor)
            guard let peer, gate.admits(peer.uid, peer.gid, peer.pid) else {
                let who = peer.map { "uid \($0.uid)" } ?? "an unknown peer"
                if !gate.logOnce || refusedUsers.insert(peer?.uid).inserted { say("\(name): \(gate.logged(who))") }
                respond(connection, ControlRequest.failure(gate.refusal(who)))
                sockets.finish(connection)
                continue
            }
        }
    }

    private func read(_ connection: SocketConnections.Connection) {
        let outcome = sockets.read(connection, limit: maximumRequest)
        serve(connection, endOfFile: outcome == .endOfFile)
    }

    /// Answers the connection's requests, `requestsPerTurn` at most: the rest wait for the next
    /// turn of the loop (see `nextDeadline`), so that a burst of them does not hold up feeding.
    private func serve(_ connection: SocketConnections.Connection, endOfFile: Bool = false) {
        let newline = UInt8(ascii: "\n")
        var start = 0
        var answered = 0
        // Taken off the front once: a line at a time would move the rest (up to a megabyte) each time.
        defer {
            if sockets.connections[connection.token] === connection {
                // Emptied, it lets go of its memory (up to a megabyte a connection).
                if start == connection.input.count { connection.input.removeAll() } else { connection.input.removeFirst(start) }
            }
        }
        while answered < Self.requestsPerTurn, let end = connection.input[start...].firstIndex(of: newline) {
            let line = String(decoding: connection.input[start..<end], as: UTF8.self)
            start = end + 1
            answered += 1
            answer(line, connection: connection)
            guard sockets.connections[connection.token] === connection else { return forget(connection.token) }
        }
        if connection.input[start...].contains(newline) {
            backlogged.insert(connection.token)
            return
        }
        backlogged.remove(connection.token)
        if idleTimeout != nil {
            // Since the start of the request it holds part of: a steady stream of them is not slow.
            if connection.input.count == start { unfinished[connection.token] = nil }
            else if answered > 0 || unfinished[connection.token] == nil { unfinished[connection.token] = .now() }
        }
        if connection.input.count - start > maximumRequest {
            start = 0
            connection.input.removeAll()
            respond(connection, ControlRequest.failure("request longer than \(Values.formatSize(UInt64(maximumRequest)))"))
            return sockets.finish(connection)
        }
        // Summed only for a large request: small ones cannot add up to much.
        if let maximum = maximumBuffered, connection.input.count - start > Self.largeRequest,
           sockets.connections.values.reduce(0, { $0 + $1.input.count }) > maximum {
            start = 0
            connection.input.removeAll()
            respond(connection, ControlRequest.failure("solo holds \(Values.formatSize(UInt64(maximum))) of unfinished requests already; send this one again shortly"))
            return sockets.finish(connection)
        }
        // The client may have half-closed after its request: its answers are written first,
        // those that come later included.
        if endOfFile { halfClosed.insert(connection.token) }
        if halfClosed.contains(connection.token) { finishIfAnswered(connection) }
    }

    /// A half-closed connection goes once it has every answer it is owed; until then it is read
    /// no more.
    private func finishIfAnswered(_ connection: SocketConnections.Connection) {
        guard pending[connection.token] == nil && !backlogged.contains(connection.token) else { return sockets.stopReading(connection) }
        following[connection.token] = nil
        sockets.finish(connection)
    }

    private func answer(_ line: String, connection: SocketConnections.Connection) {
        guard !line.isEmpty else { return }
        // Owed from now: a request answered later may be answered within `handle` (a push to a file).
        pending[connection.token, default: 0] += 1
        let reply: JSON?
        defer { answeringID = nil }
        do {
            let request = try JSON.parse(line)
            switch request["id"] {
            case .string?, .number?, nil: answeringID = request["id"]
            default: throw ControlRequest.Invalid(message: "id must be a string or a number (it comes back with the answer)")
            }
            reply = try handle(request, connection.token)
        } catch let error as JSON.ParseError {
            reply = ControlRequest.failure("not JSON: \(error)")
        } catch let error as ControlRequest.Invalid {
            reply = ControlRequest.failure(error.message)
        } catch {
            reply = ControlRequest.failure("\(error)")
        }
        if let reply {
            respond(connection, Self.tagged(reply, answeringID))
            pending[connection.token] = Self.less(pending[connection.token])
        }
    }

    private func respond(_ connection: SocketConnections.Connection, _ reply: JSON) {
        // A peer that sends requests and never reads the answers is not buffered for without end.
        if let maximum = maximumBacklog, connection.output.count > maximum { return sockets.drop(connection) }
        sockets.send(connection, Array((reply.text + "\n").utf8))
    }

    /// What sends the answer of the request being handled, later: once, to its connection if
    /// still open, with the request's id.
    func replier(_ token: UInt64) -> (JSON) -> Void {
        let id = answeringID
        return { [weak self] answer in
            guard let self else { return }
            guard let connection = sockets.connections[token] else { return forget(token) }
            respond(connection, Self.tagged(answer, id))
            answered(connection)
        }
    }

    /// An answer with its request's id, if it had one.
    private static func tagged(_ answer: JSON, _ id: JSON?) -> JSON {
        guard let id, case .object(let fields) = answer else { return answer }
        return .object(fields + [("id", id)])
    }

    /// One answer fewer is owed to the connection, which goes if it was the last one it waited for.
    private func answered(_ connection: SocketConnections.Connection) {
        let token = connection.token
        guard sockets.connections[token] === connection else { return forget(token) }
        pending[token] = Self.less(pending[token])
        if halfClosed.contains(token) { finishIfAnswered(connection) }
    }

    /// One fewer than `owed`, nil for none.
    private static func less(_ owed: Int?) -> Int? {
        guard let owed, owed > 1 else { return nil }
        return owed - 1
    }

    /// Whether the connection of `token` is still open (a caller that left waits for nothing).
    func isOpen(_ token: UInt64) -> Bool { sockets.connections[token] != nil }

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
    /// Each is owed its own answer: a connection may wait for several (pipelined `--wait`s).
    func answerLater(_ token: UInt64, when check: @escaping () -> JSON?) { owed[token, default: []].append((check, answeringID)) }

    /// Sends the owed answers whose work is done (once every turn of the loop).
    func settle() {
        for (token, owings) in owed {
            guard let connection = sockets.connections[token] else { owed[token] = nil; continue }
            var waiting: [(check: () -> JSON?, id: JSON?)] = []
            for owing in owings {
                guard let reply = owing.check() else { waiting.append(owing); continue }
                respond(connection, Self.tagged(reply, owing.id))
                answered(connection)
            }
            owed[token] = waiting.isEmpty ? nil : waiting
        }
    }

    var nextDeadline: Moment? {
        if !backlogged.isEmpty { return .now() }
        return earlier(sockets.nextDeadline, idleTimeout != nil && !sockets.connections.isEmpty ? nextSweep ?? .now() : nil)
    }

    func expire(now: Moment) {
        sockets.expire(now: now)
        if let idleTimeout, !sockets.connections.isEmpty {
            if let sweep = nextSweep, sweep <= now {
                closeQuiet(now: now, idleTimeout: idleTimeout)
                nextSweep = nil
            }
            nextSweep = nextSweep ?? now + .seconds(1)
        } else {
            nextSweep = nil
        }
        for token in backlogged {
            guard let connection = sockets.connections[token] else { forget(token); continue }
            serve(connection)
        }
    }

    /// Closes the connections idle past `idleTimeout` (nothing owed to them, nothing sent) and
    /// those whose request stayed unfinished past `lineTimeout`: each holds a descriptor, and
    /// up to a megabyte.
    private func closeQuiet(now: Moment, idleTimeout: Duration) {
        for connection in Array(sockets.connections.values) {
            let token = connection.token
            if let since = unfinished[token], since + lineTimeout <= now {
                connection.input.removeAll()
                respond(connection, ControlRequest.failure("request unfinished after \(Values.formatDuration(lineTimeout)) (a request is one line, ended by a newline)"))
                sockets.finish(connection)
                forget(token)
            } else if connection.lastActive + idleTimeout <= now, connection.output.isEmpty, pending[token] == nil, following[token] == nil, owed[token] == nil {
                sockets.drop(connection)
                forget(token)
            }
        }
    }

    private func forget(_ token: UInt64) {
        following[token] = nil
        owed[token] = nil
        pending[token] = nil
        halfClosed.remove(token)
        unfinished[token] = nil
        backlogged.remove(token)
    }

    func close() {
        following = [:]
        owed = [:]
        pending = [:]
        halfClosed = []
        sockets.close()
        try? Files.remove(path)
    }
}
