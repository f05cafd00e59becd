import Glibc

/// The control socket: a unix socket in a 0700 directory, mode 0600, served from the loop.
/// Only root and solo's own user may talk to it (SO_PEERCRED); requests and answers are one
/// JSON object per line. It is never a TCP port.
final class ControlServer {
    /// Epoll tokens from here up are the control socket's (workers' tokens are far below).
    static let tokenBase: UInt64 = 1 << 62
    static let maximumRequest = 64 * 1024

    final class Connection {
        let descriptor: FileDescriptor
        var input: [UInt8] = []
        var output: [UInt8] = []
        var closeWhenWritten = false
        var watchingWrites = false
        /// `solo logs -f`: the pool whose new lines this connection receives.
        var following: String?

        init(descriptor: FileDescriptor) { self.descriptor = descriptor }
    }

    let path: String
    private let listener: FileDescriptor
    private let epoll: Epoll
    private let allowed: Set<UInt32>
    private var connections: [UInt64: Connection] = [:]
    private var nextToken = ControlServer.tokenBase + 1
    private var buffer = [UInt8](repeating: 0, count: 16384)
    private let handle: (ControlRequest, UInt64) -> JSON
    private let say: (String) -> Void

    init(path: String, epoll: Epoll, handle: @escaping (ControlRequest, UInt64) -> JSON, say: @escaping (String) -> Void) throws(Errno) {
        self.path = path
        self.epoll = epoll
        self.handle = handle
        self.say = say
        allowed = [0, getuid()]
        try Files.makeDirectories(Path.directory(of: path), mode: 0o700)
        chmod(Path.directory(of: path), 0o700)
        listener = try UnixSocket.listen(at: path)
        try epoll.add(listener, token: Self.tokenBase)
    }

    static func owns(_ token: UInt64) -> Bool { token >= tokenBase }

    func event(_ event: Epoll.Event) {
        if event.token == Self.tokenBase { return acceptAll() }
        guard let connection = connections[event.token] else { return }
        if event.writable { write(connection, token: event.token) }
        if event.readable || event.hangup { read(connection, token: event.token) }
    }

    private func acceptAll() {
        while true {
            let accepted: FileDescriptor?
            do { accepted = try UnixSocket.accept(listener) } catch {
                say("control socket: accept failed: \(error)")
                return
            }
            guard let descriptor = accepted else { return }
            let connection = Connection(descriptor: descriptor)
            let token = nextToken
            nextToken += 1
            connections[token] = connection
            if (try? epoll.add(descriptor, token: token)) == nil { return drop(token) }
            let peer = try? UnixSocket.peer(descriptor)
            guard let peer, allowed.contains(peer.uid) else {
                let who = peer.map { "uid \($0.uid)" } ?? "an unknown peer"
                say("control socket: refused \(who) (only root and uid \(getuid()) may steer solo)")
                respond(connection, token: token, ControlRequest.failure("permission denied: \(who) may not steer this solo (root and uid \(getuid()) may)"))
                connection.closeWhenWritten = true
                write(connection, token: token)
                continue
            }
        }
    }

    private func read(_ connection: Connection, token: UInt64) {
        while true {
            switch Result(catching: { () throws(Errno) in try connection.descriptor.read(into: &buffer) }) {
            case .success(.bytes(let n)):
                connection.input += buffer[0..<n]
                while let newline = connection.input.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: connection.input[..<newline], as: UTF8.self)
                    connection.input.removeSubrange(...newline)
                    answer(line, connection: connection, token: token)
                }
                if connection.input.count > Self.maximumRequest {
                    respond(connection, token: token, ControlRequest.failure("request longer than 64K"))
                    connection.closeWhenWritten = true
                    connection.input.removeAll()
                    return write(connection, token: token)
                }
            case .success(.wouldBlock):
                return
            case .success(.endOfFile):
                // The client may have half-closed after its request: finish the answer first.
                if connection.output.isEmpty { return drop(token) }
                connection.closeWhenWritten = true
                connection.following = nil
                epoll.remove(connection.descriptor)
                try? epoll.add(connection.descriptor, token: token, readable: false, writable: true)
                connection.watchingWrites = true
                return
            case .failure:
                return drop(token)
            }
        }
    }

    private func answer(_ line: String, connection: Connection, token: UInt64) {
        guard !line.isEmpty else { return }
        let reply: JSON
        do {
            reply = handle(try ControlRequest(json: try JSON.parse(line)), token)
        } catch let error as JSON.ParseError {
            reply = ControlRequest.failure("not JSON: \(error)")
        } catch let error as ControlRequest.Invalid {
            reply = ControlRequest.failure(error.message)
        } catch {
            reply = ControlRequest.failure("\(error)")
        }
        respond(connection, token: token, reply)
    }

    private func respond(_ connection: Connection, token: UInt64, _ reply: JSON) {
        connection.output += Array((reply.text + "\n").utf8)
        write(connection, token: token)
    }

    private func write(_ connection: Connection, token: UInt64) {
        while !connection.output.isEmpty {
            let written: Int
            do {
                written = try connection.output.withUnsafeBytes { raw in Result { () throws(Errno) in try connection.descriptor.writeSome(raw) } }.get()
            } catch {
                return drop(token)
            }
            if written == 0 { break }
            connection.output.removeFirst(written)
        }
        if connection.output.isEmpty && connection.closeWhenWritten { return drop(token) }
        let wants = !connection.output.isEmpty
        if wants != connection.watchingWrites {
            try? epoll.modify(connection.descriptor, token: token, readable: true, writable: wants)
            connection.watchingWrites = wants
        }
    }

    /// From now on, sends the pool's new lines to this connection (`solo logs -f`).
    func follow(_ token: UInt64, pool: String) { connections[token]?.following = pool }

    /// A new line of a pool's output, for the connections that follow it. A follower that does
    /// not read is cut off rather than buffered without end.
    func publish(_ line: String, pool: String) {
        for (token, connection) in connections where connection.following == pool {
            if connection.output.count > 1 << 20 {
                connection.output += Array((ControlRequest.failure("too slow: lines were lost").text + "\n").utf8)
                connection.closeWhenWritten = true
                connection.following = nil
            } else {
                connection.output += Array((JSON.object([("line", .string(line))]).text + "\n").utf8)
            }
            write(connection, token: token)
        }
    }

    var hasFollowers: Bool { connections.values.contains { $0.following != nil } }

    private func drop(_ token: UInt64) {
        guard let connection = connections.removeValue(forKey: token) else { return }
        epoll.remove(connection.descriptor)
        connection.descriptor.close()
    }

    func close() {
        for token in Array(connections.keys) { drop(token) }
        epoll.remove(listener)
        listener.close()
        unlink(path)
    }
}
