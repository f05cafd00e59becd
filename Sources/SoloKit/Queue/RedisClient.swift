/// A Redis connection for the commands (`solo push`, `solo queue`, `solo wait`, `solo status
/// --cluster`, `solo -lock`): each call waits for its reply, within the timeout, and a lost
/// connection is an error (the command fails and says so; it does not reconnect).
public final class RedisClient {
    public let connection: RedisConnection

    public init(url: RedisURL, name: String = "solo", timeout: Duration = .seconds(10)) throws(RedisError) {
        connection = RedisConnection(url: url, clientName: name, requestTimeout: timeout, connectTimeout: min(timeout, .seconds(5)))
        connection.reconnects = false
        connection.start()
        drive { connection.phase == .up || connection.phase == .down }
        guard connection.phase == .up else { throw lost }
    }

    private var lost: RedisError {
        RedisError(.unreachable, connection.problem ?? "\(connection.place): the connection was lost")
    }

    /// Sends one command and waits for its reply; an error reply throws `.refused`.
    @discardableResult
    public func call(_ command: RedisCommand) throws(RedisError) -> RESPValue {
        try checked(try pipeline([command])[0])
    }

    /// Runs a script (by its SHA-1, its text if the server lacks it) and waits for its reply.
    @discardableResult
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) throws(RedisError) -> RESPValue {
        var result: Result<RESPValue, RedisError>?
        guard connection.evaluate(script, keys: keys, arguments: arguments, { result = $0 }) else { throw lost }
        connection.flush()
        drive { result != nil }
        guard let result else { throw lost }
        return try checked(try result.get())
    }

    /// Sends the commands in one write and waits for every reply; error replies come back as
    /// values (a transaction's QUEUED and EXEC need them one by one).
    public func pipeline(_ commands: [RedisCommand]) throws(RedisError) -> [RESPValue] {
        var replies: [RESPValue] = []
        var failure: RedisError?
        for command in commands {
            let sent = connection.send(command) { result in
                switch result {
                case .success(let value): replies.append(value)
                case .failure(let error): failure = error
                }
            }
            guard sent else { throw lost }
        }
        connection.flush()
        drive { replies.count == commands.count || failure != nil }
        if let failure { throw failure }
        guard replies.count == commands.count else { throw lost }
        return replies
    }

    private func checked(_ value: RESPValue) throws(RedisError) -> RESPValue {
        if case .error(let message) = value { throw RedisError(.refused, "\(connection.place): \(message)") }
        return value
    }

    /// Runs the connection's events until `done`, or until it is down.
    private func drive(until done: () -> Bool) {
        while !done() {
            guard let socket = connection.descriptor else { return }
            let now = Moment.now()
            let wait = connection.nextDeadline.map { $0.millisecondsFrom(now) } ?? 1000
            let ready = Poll.wait(socket, writable: connection.wantsWritable, milliseconds: wait)
            if ready.any { connection.handle(readable: ready.readable, writable: ready.writable, hangup: ready.hangup) }
            connection.expire()
        }
    }

    public func close() { connection.close() }
}
