/// What went wrong with a Redis request.
public struct RedisError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// No connection: refused, reset, unresolvable, or dropped for a timeout.
        case unreachable
        /// The server answered with an error (`-ERR ...`, `-WRONGPASS ...`).
        case refused
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// A Lua script, named by its SHA-1 as Redis names it: sent by name (EVALSHA), and in full
/// only when the server does not know it yet (after a restart or SCRIPT FLUSH).
public struct RedisScript: Sendable {
    public let text: String
    public let sha: String

    public init(_ text: String) {
        self.text = text
        sha = SHA1.hex(text)
    }
}

/// One connection to a Redis server that never blocks: commands are queued and written when
/// the socket takes them (pipelined: many in one write), replies are matched to them in
/// order as they arrive, whatever their chunks. It reconnects by itself with back-off, and
/// gives up on a request that has had no reply within `requestTimeout`: the server is then
/// taken for gone (a stopped or overloaded server must not hold the supervisor), every
/// request in flight fails, and the connection is made anew.
///
/// Driven from outside: by the supervisor's epoll loop (`epoll` given: the connection keeps its
/// descriptor registered under `token`), or by `RedisClient`'s poll loop for the commands.
public final class RedisConnection {
    public enum Phase: Equatable, Sendable { case down, resolving, connecting, handshaking, up }
    public typealias Reply = (Result<RESPValue, RedisError>) -> Void

    private struct Pending {
        let deadline: Moment
        let reply: Reply?
    }

    public let url: RedisURL
    /// Shown by CLIENT LIST, so that whoever looks at the server sees whose connection it is.
    private let clientName: String
    public private(set) var phase = Phase.down
    public private(set) var descriptor: FileDescriptor?
    /// What went wrong last, until the connection is up again.
    public private(set) var problem: String?
    /// When a connection that is down is tried again.
    public private(set) var retryAt: Moment?
    /// A subscriber connection (SUBSCRIBE) hands every reply after the handshake to `onPush`.
    public var onPush: ((RESPValue) -> Void)?
    /// Called when the handshake is over and requests may be sent.
    public var onUp: (() -> Void)?
    /// Called when the connection is lost (before the requests in flight hear of it).
    public var onDown: ((RedisError) -> Void)?
    /// Whether the connection comes back by itself after `retryWait`.
    public var reconnects = true

    private let requestTimeout: Duration
    private let connectTimeout: Duration
    private let epoll: Epoll?
    private let token: UInt64
    /// The address the last connection went to: used again when the resolver fails, is slow,
    /// or would block (a connection without a loop resolves once).
    private(set) var lastAddress: UInt32?
    private var parser = RESPParser(maximumBulk: 128 << 20)
    private var output: [UInt8] = []
    private var outputStart = 0
    private var pending: [Pending] = []
    private var pendingHead = 0
    private var handshakeReplies = 0
    private var connectDeadline: Moment?
    /// A subscriber's requests get no pending entry; any reply by this time shows it is alive.
    private var quietDeadline: Moment?
    private var watchingWrites = false
    private var retryWait = Doubling(from: .milliseconds(100), to: .seconds(5))
    private var readBuffer = [UInt8](repeating: 0, count: 65536)

    public init(url: RedisURL, clientName: String, requestTimeout: Duration = .seconds(5), connectTimeout: Duration = .seconds(3),
                epoll: Epoll? = nil, token: UInt64 = 0) {
        self.url = url
        self.clientName = clientName
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.epoll = epoll
        self.token = token
    }

    deinit { close() }

    /// The server as messages name it: `redis 10.0.0.5:6379/0`.
    public var place: String { "redis \(url.host):\(url.port)/\(url.database)" }

    /// Requests sent and not answered yet.
    public var inFlight: Int { pending.count - pendingHead }

    // MARK: - connecting

    /// Starts connecting (a connection that is up or on its way is left alone). In the loop, a
    /// host name is resolved at every attempt (so that a changed address is followed) on a
    /// thread of its own: the loop never waits for a resolver, and when the resolver fails or
    /// takes over a second, the last address serves. Without a loop, it is resolved once.
    public func start(now: Moment = .now()) {
        guard phase == .down else { return }
        retryAt = nil
        if let literal = TCPClient.literal(url.host) { return connect(to: literal, now: now) }
        guard let epoll else {
            guard let found = lastAddress ?? TCPClient.resolve(url.host) else { return fail(noAddress, now: now) }
            return connect(to: found, now: now)
        }
        let answer: FileDescriptor
        do { answer = try TCPClient.resolveInBackground(url.host) } catch {
            if let lastAddress { return connect(to: lastAddress, now: now) }
            return fail(RedisError(.unreachable, "\(place): cannot resolve \(url.host): \(error)"), now: now)
        }
        descriptor = answer
        phase = .resolving
        // A first answer may take the resolver's own time-outs; a later one has a second.
        connectDeadline = now + (lastAddress == nil ? Self.firstResolveTimeout : .seconds(1))
        if (try? epoll.add(answer, token: token, readable: true, writable: false)) == nil {
            fail(RedisError(.unreachable, "\(place): cannot watch the resolver"), now: now)
        }
    }

    static let firstResolveTimeout: Duration = .seconds(30)

    private var noAddress: RedisError {
        RedisError(.unreachable, "\(place): no IPv4 address for host \(url.host) (check the name and the resolver, or write an address)")
    }

    /// The resolver thread answered.
    private func resolved(now: Moment) {
        guard let answer = descriptor else { return }
        epoll?.remove(answer)
        descriptor = nil
        phase = .down
        connectDeadline = nil
        guard let address = TCPClient.resolved(from: answer) ?? lastAddress else { return fail(noAddress, now: now) }
        connect(to: address, now: now)
    }

    /// The resolver is slow: the last address serves (the thread's late answer is dropped).
    private func resolverTimedOut(now: Moment) -> Bool {
        guard phase == .resolving, let address = lastAddress, let answer = descriptor else { return false }
        epoll?.remove(answer)
        answer.close()
        descriptor = nil
        phase = .down
        connectDeadline = nil
        connect(to: address, now: now)
        return true
    }

    private func connect(to address: UInt32, now: Moment) {
        let socket: FileDescriptor
        do { socket = try TCPClient.connect(address: address, port: url.port) } catch {
            return fail(RedisError(.unreachable, "\(place): cannot connect: \(error)"), now: now)
        }
        descriptor = socket
        lastAddress = address
        phase = .connecting
        connectDeadline = now + connectTimeout
        if let epoll {
            watchingWrites = (try? epoll.add(socket, token: token, readable: true, writable: true)) != nil
            if !watchingWrites { return fail(RedisError(.unreachable, "\(place): cannot watch its socket"), now: now) }
        }
    }

    /// The connection attempt is over (the socket turned writable): handshake, or fail.
    private func connected(now: Moment) {
        guard let socket = descriptor else { return }
        if let error = TCPClient.connectionError(socket) {
            return fail(RedisError(.unreachable, "\(place): cannot connect: \(error)"), now: now)
        }
        connectDeadline = nil
        phase = .handshaking
        var commands: [RedisCommand] = []
        if let password = url.password {
            commands.append(url.user.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password))
        }
        if url.database != 0 { commands.append(RedisCommand("SELECT", String(url.database))) }
        commands.append(RedisCommand("CLIENT", "SETNAME", clientName))
        handshakeReplies = commands.count
        for command in commands {
            let name = command.name
            enqueue(command, now: now) { [unowned self] result in
                guard self.phase == .handshaking else { return }
                switch result {
                case .success(.error(let message)):
                    let hint = name == "AUTH" ? " (check the user and password in the URL)" : name == "SELECT" ? " (check the database number)" : ""
                    self.fail(RedisError(.refused, "\(self.place): \(name) refused: \(message)\(hint)"), now: .now())
                case .success:
                    self.handshakeReplies -= 1
                    if self.handshakeReplies == 0 { self.becameUp() }
                case .failure:
                    break  // fail() has taken the connection down already
                }
            }
        }
        flush(now: now)
    }

    private func becameUp() {
        phase = .up
        problem = nil
        retryWait.reset()
        onUp?()
    }

    /// Drops the connection: every request in flight fails with `error`, and it is tried again
    /// after the back-off (doubling from 100 ms to 5 s, with jitter).
    private func fail(_ error: RedisError, now: Moment) {
        let replies = pending[pendingHead...].compactMap(\.reply)
        closeSocket()
        problem = error.message
        if reconnects {
            let wait = retryWait.next()
            let jitter = Duration.nanoseconds(Int64.random(in: 0...max(1, wait.nanoseconds / 4)))
            retryAt = now + wait + jitter
        }
        onDown?(error)
        for reply in replies { reply(.failure(error)) }
    }

    private func closeSocket() {
        if let socket = descriptor {
            epoll?.remove(socket)
            socket.close()
        }
        descriptor = nil
        phase = .down
        watchingWrites = false
        output = []
        outputStart = 0
        pending = []
        pendingHead = 0
        parser = RESPParser(maximumBulk: parser.maximumBulk)
        connectDeadline = nil
        quietDeadline = nil
    }

    /// Closes the connection for good (no reconnect); requests in flight get no reply.
    public func close() {
        reconnects = false
        retryAt = nil
        closeSocket()
    }

    // MARK: - requests

    /// Queues a command; false (and no reply ever) when the connection is not up. Written at
    /// the next `flush`, so that the commands of one loop turn leave in one write.
    @discardableResult
    public func send(_ command: RedisCommand, now: Moment = .now(), _ reply: Reply? = nil) -> Bool {
        guard phase == .up else { return false }
        if onPush != nil {
            // A subscriber: replies are pushes, not answers. Any of them within the timeout
            // shows the server is there.
            output.append(contentsOf: command.encoded())
            if quietDeadline == nil { quietDeadline = now + requestTimeout }
        } else {
            enqueue(command, now: now, reply)
        }
        return true
    }

    /// Runs a script by its SHA-1, and sends its text only if the server does not have it.
    @discardableResult
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String], now: Moment = .now(), _ reply: @escaping Reply) -> Bool {
        func command(_ verb: String, _ body: String) -> RedisCommand {
            var command = RedisCommand(verb, body, String(keys.count))
            for key in keys { command.append(key) }
            for argument in arguments { command.append(argument) }
            return command
        }
        return send(command("EVALSHA", script.sha), now: now) { [weak self] result in
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT"), let self,
               self.send(command("EVAL", script.text), now: .now(), reply) {
                self.flush(now: .now())
                return
            }
            reply(result)
        }
    }

    private func enqueue(_ command: RedisCommand, now: Moment, _ reply: Reply?) {
        output.append(contentsOf: command.encoded())
        pending.append(Pending(deadline: now + requestTimeout, reply: reply))
    }

    /// Writes what the socket takes now; the rest when it is writable again.
    public func flush(now: Moment = .now()) {
        guard let socket = descriptor, phase == .handshaking || phase == .up else { return }
        while outputStart < output.count {
            let written: Int
            do {
                written = try output.withUnsafeBytes { raw in
                    try Result { () throws(Errno) in try socket.sendSome(UnsafeRawBufferPointer(rebasing: raw[outputStart...])) }.get()
                }
            } catch {
                return fail(RedisError(.unreachable, "\(place): the connection broke: \(error)"), now: now)
            }
            if written == 0 { break }
            outputStart += written
        }
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.count <= 1 << 20)
            outputStart = 0
        }
        watchWrites(outputStart < output.count)
    }

    private func watchWrites(_ wanted: Bool) {
        guard let epoll, let socket = descriptor, wanted != watchingWrites else { return }
        if (try? epoll.modify(socket, token: token, readable: true, writable: wanted)) != nil { watchingWrites = wanted }
    }

    /// Whether the socket should be watched for writing (for a caller that polls by itself).
    public var wantsWritable: Bool { phase == .connecting || outputStart < output.count }

    // MARK: - events

    /// The socket is ready: finishes connecting, writes what waits, reads replies.
    public func handle(readable: Bool, writable: Bool, hangup: Bool, now: Moment = .now()) {
        if phase == .resolving {
            if readable || hangup { resolved(now: now) }
            return
        }
        if phase == .connecting {
            guard writable || hangup else { return }
            connected(now: now)
            return
        }
        if writable { flush(now: now) }
        if readable || hangup { read(now: now) }
    }

    private func read(now: Moment) {
        while let socket = descriptor {
            let result = readBuffer.withUnsafeMutableBytes { raw in Result { () throws(Errno) in try socket.read(into: raw) } }
            switch result {
            case .success(.bytes(let n)):
                readBuffer.withUnsafeBytes { parser.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                deliverReplies(now: now)
            case .success(.wouldBlock):
                return
            case .success(.endOfFile):
                return fail(RedisError(.unreachable, "\(place): the server closed the connection"), now: now)
            case .failure(let error):
                return fail(RedisError(.unreachable, "\(place): the connection broke: \(error)"), now: now)
            }
        }
    }

    private func deliverReplies(now: Moment) {
        while descriptor != nil {
            let value: RESPValue?
            do { value = try parser.next() } catch {
                return fail(RedisError(.unreachable, "\(place): a reply broke the protocol (\(error)); reconnecting"), now: now)
            }
            guard let value else { return }
            if phase == .up, let onPush {
                quietDeadline = nil
                onPush(value)
                continue
            }
            guard pendingHead < pending.count else {
                return fail(RedisError(.unreachable, "\(place): a reply to no request; reconnecting"), now: now)
            }
            let request = pending[pendingHead]
            pendingHead += 1
            if pendingHead == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingHead = 0
            } else if pendingHead >= 1024 && pendingHead * 2 >= pending.count {
                pending.removeFirst(pendingHead)
                pendingHead = 0
            }
            request.reply?(.success(value))
        }
    }

    // MARK: - time

    /// The next moment `expire` has something to do.
    public var nextDeadline: Moment? {
        var earliest = earlier(connectDeadline, quietDeadline)
        if pendingHead < pending.count { earliest = earlier(earliest, pending[pendingHead].deadline) }
        return earlier(earliest, phase == .down && reconnects ? retryAt : nil)
    }

    /// Gives up on a connection attempt or a request that took too long; reconnects when due.
    public func expire(now: Moment = .now()) {
        if let deadline = connectDeadline, deadline <= now {
            if resolverTimedOut(now: now) { return }
            let what = phase == .resolving ? "no address for \(url.host) from the resolver" : "no connection"
            return fail(RedisError(.unreachable, "\(place): \(what) within \(Values.formatDuration(connectTimeout))"), now: now)
        }
        if (pendingHead < pending.count && pending[pendingHead].deadline <= now) || (quietDeadline.map { $0 <= now } ?? false) {
            return fail(RedisError(.unreachable, "\(place): no reply within \(Values.formatDuration(requestTimeout)); reconnecting"), now: now)
        }
        if phase == .down, reconnects, let retry = retryAt, retry <= now { start(now: now) }
    }
}
