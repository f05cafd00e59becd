import Glibc

/// The connections of one listening socket, served from the supervisor's loop: accepted, read
/// and written without blocking, each watched through epoll under its own token. What the
/// bytes mean is the owner's business (the control socket's JSON lines, the metrics' HTTP).
final class SocketConnections {
    final class Connection {
        let descriptor: FileDescriptor
        let token: UInt64
        let opened = Moment.now()
        /// When the peer last sent bytes, or was sent some.
        var lastActive = Moment.now()
        var input: [UInt8] = []
        var output: [UInt8] = []
        var closeWhenWritten = false
        /// Kept open on purpose (a dashboard's event stream): the lifetime does not end it.
        var lasting = false
        fileprivate var watchingWrites = false
        fileprivate var readable = true

        init(descriptor: FileDescriptor, token: UInt64) {
            self.descriptor = descriptor
            self.token = token
        }
    }

    enum ReadOutcome {
        /// Everything available was read; the connection stays open.
        case open
        /// The peer will send no more (it may still read what is owed to it).
        case endOfFile
        /// The connection broke, and is gone.
        case dropped
    }

    let listener: FileDescriptor
    /// The listener's token is the span's first; each connection takes the next.
    let tokens: EpollToken.Span
    /// Connections older than this are dropped (nil: they may stay, as `solo logs -f` does).
    let lifetime: Duration?
    /// Set while accepting is paused after an error (out of descriptors): the listener would
    /// stay readable and the loop would spin on it.
    private(set) var acceptPausedUntil: Moment?
    private let epoll: Epoll
    private(set) var connections: [UInt64: Connection] = [:]
    private var nextToken: UInt64
    private var buffer = [UInt8](repeating: 0, count: 16384)

    /// Serves `listener`, which it owns from here on (closed if watching it fails).
    init(listener: FileDescriptor, tokens: EpollToken.Span, lifetime: Duration? = nil, epoll: Epoll) throws(Errno) {
        self.listener = listener
        self.tokens = tokens
        self.lifetime = lifetime
        self.epoll = epoll
        nextToken = tokens.token(1)
        do { try epoll.add(listener, token: tokens.base) } catch {
            listener.close()
            throw error
        }
    }

    /// Accepts every waiting connection and watches it; returns them. After an error (EMFILE,
    /// say) accepting pauses for a second, and the error is thrown.
    func acceptAll() throws(Errno) -> [Connection] {
        var accepted: [Connection] = []
        while true {
            let next: FileDescriptor?
            do { next = try Sockets.accept(listener) } catch {
                acceptPausedUntil = Moment.now() + .seconds(1)
                try? epoll.modify(listener, token: tokens.base, readable: false, writable: false)
                throw error
            }
            guard let descriptor = next else { break }
            let connection = Connection(descriptor: descriptor, token: nextToken)
            nextToken += 1
            guard (try? epoll.add(descriptor, token: connection.token)) != nil else {
                descriptor.close()
                continue
            }
            connections[connection.token] = connection
            accepted.append(connection)
        }
        return accepted
    }

    /// Reads what is available into the connection's input, up to a little past `limit` (the
    /// rest waits in the socket: a client cannot make solo buffer without end, nor keep it
    /// reading). Nothing is read from a connection that is being finished.
    func read(_ connection: Connection, limit: Int) -> ReadOutcome {
        guard connection.readable && !connection.closeWhenWritten else { return .open }
        while connection.input.count <= limit {
            switch Result(catching: { () throws(Errno) in try connection.descriptor.read(into: &buffer) }) {
            case .success(.bytes(let n)):
                connection.input += buffer[0..<n]
                connection.lastActive = .now()
            case .success(.wouldBlock): return .open
            case .success(.endOfFile): return .endOfFile
            case .failure:
                drop(connection)
                return .dropped
            }
        }
        return .open
    }

    /// Queues bytes for the peer and writes what the socket takes now.
    func send(_ connection: Connection, _ bytes: [UInt8]) {
        connection.output += bytes
        connection.lastActive = .now()
        write(connection)
    }

    /// Writes what the socket takes; the rest when it is writable again. A connection marked
    /// `closeWhenWritten` goes once its output is out.
    func write(_ connection: Connection) {
        guard connections[connection.token] === connection else { return }
        while !connection.output.isEmpty {
            let written: Int
            do {
                written = try connection.output.withUnsafeBytes { raw in Result { () throws(Errno) in try connection.descriptor.writeSome(raw) } }.get()
            } catch {
                return drop(connection)
            }
            if written == 0 { break }
            // Emptied, it lets go of its memory (one large answer must not stay held).
            if written == connection.output.count { connection.output.removeAll() } else { connection.output.removeFirst(written) }
        }
        if connection.output.isEmpty && connection.closeWhenWritten { return drop(connection) }
        let wants = !connection.output.isEmpty
        if wants != connection.watchingWrites {
            try? epoll.modify(connection.descriptor, token: connection.token, readable: connection.readable, writable: wants)
            connection.watchingWrites = wants
        }
    }

    /// Reads no more from the connection (its peer half-closed), which stays open for answers
    /// still to come, until `finish` or `drop`.
    func stopReading(_ connection: Connection) {
        guard connection.readable else { return }
        connection.readable = false
        try? epoll.modify(connection.descriptor, token: connection.token, readable: false, writable: connection.watchingWrites)
    }

    /// Reads no more from the connection (its peer half-closed, or said all it may): it closes
    /// once what is owed to it is written.
    func finish(_ connection: Connection) {
        connection.closeWhenWritten = true
        guard !connection.output.isEmpty else { return drop(connection) }
        connection.readable = false
        connection.watchingWrites = true
        try? epoll.modify(connection.descriptor, token: connection.token, readable: false, writable: true)
    }

    /// When a connection outlives its lifetime or accepting resumes next.
    var nextDeadline: Moment? {
        var earliest = acceptPausedUntil
        if let lifetime { for connection in connections.values where !connection.lasting { earliest = earlier(earliest, connection.opened + lifetime) } }
        return earliest
    }

    /// Drops connections past their lifetime; resumes accepting after a pause.
    func expire(now: Moment) {
        if let paused = acceptPausedUntil, paused <= now {
            acceptPausedUntil = nil
            try? epoll.modify(listener, token: tokens.base, readable: true, writable: false)
        }
        guard let lifetime else { return }
        for connection in Array(connections.values) where !connection.lasting && connection.opened + lifetime <= now { drop(connection) }
    }

    func drop(_ connection: Connection) {
        guard connections.removeValue(forKey: connection.token) != nil else { return }
        epoll.remove(connection.descriptor)
        connection.descriptor.close()
    }

    func close() {
        for connection in Array(connections.values) { drop(connection) }
        epoll.remove(listener)
        listener.close()
    }
}
