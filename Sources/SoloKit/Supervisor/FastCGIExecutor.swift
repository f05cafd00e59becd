import Glibc

/// Runs the jobs of the fastcgi pools as requests to PHP-FPM, on the supervisor's loop: one
/// connection per request (connect, write it whole, read the answer), at most `workers` at
/// once per pool. A request that never reached PHP-FPM (refused, no socket) gives its job back
/// untouched and the pool waits, trying again with a doubling pause (a moment, when PHP-FPM
/// is only busy: its backlog full); one that reached it ends in an answer, or in a retry when
/// it breaks, runs over job_timeout, or outlasts a stop.
final class FastCGIExecutor: Timed {
    /// How long a connection may take to be accepted before PHP-FPM counts as unreachable.
    static let connectTimeout: Duration = .seconds(3)
    /// The longest response read (headers and body; a body over WorkerMessage.maximumLine is
    /// too long to be a result, see FastCGIVerdict, but an error page's excerpt is still shown).
    static let responseLimit = 16 << 20
    /// How long the pool waits while PHP-FPM is busy (every child taken and its backlog full).
    static let busyPause: Duration = .milliseconds(100)

    /// How a request ended.
    enum Ending {
        /// It never reached PHP-FPM: its job goes back, its attempt unspent (and the jobs taken
        /// ahead too, unless PHP-FPM was only busy).
        case undelivered(String, busy: Bool)
        case ended(FastCGIVerdict, timedOut: Bool)
    }

    final class Request {
        let token: UInt64
        let pool: Pool
        let job: ReservedJob
        let socket: FileDescriptor
        let started: Moment
        var output: [UInt8]
        var written = 0
        var connected = false
        /// Since when job_timeout counts: the connection's start, then the moment the request
        /// is written whole. Nothing PHP-FPM sends shows sooner that a child runs it (a script's
        /// first byte may come only at its end, and a listen backlog accepts for a busy PHP-FPM).
        var timedFrom: Moment
        var decoder = FastCGI.Decoder(limit: FastCGIExecutor.responseLimit)
        /// Set once its pool stops taking jobs: the request is aborted if it is not over by then.
        var stopDeadline: Moment?

        init(token: UInt64, pool: Pool, job: ReservedJob, socket: FileDescriptor, output: [UInt8], started: Moment) {
            self.token = token
            self.pool = pool
            self.job = job
            self.socket = socket
            self.output = output
            self.started = started
            timedFrom = started
        }

        var deadline: Moment? {
            let own = connected ? pool.config.jobTimeout.map { timedFrom + $0 } : started + FastCGIExecutor.connectTimeout
            return earlier(own, stopDeadline)
        }
    }

    /// A pool's PHP-FPM while it cannot be reached: why, and when it is tried again.
    struct Outage {
        var problem: String
        var retryAt: Moment { didSet { woke = false } }
        /// The loop has woken for `retryAt` (`expire` saw it due): the feed that follows in the
        /// same turn asks `room` at or after it, so the deadline is spent.
        var woke = false
        var pause = Doubling(from: .seconds(1), to: .seconds(30))
        /// Only busy (its backlog full): up, but taking no more for a moment.
        var busy = false
    }

    private let epoll: Epoll
    private var requests: [UInt64: Request] = [:]
    /// By pool name and address: a pool that a reload removes and adds back finds its PHP-FPM
    /// as it was.
    private var outages: [String: Outage] = [:]
    private var nextToken: UInt64 = 0
    private var buffer = [UInt8](repeating: 0, count: 65536)
    /// A request reached PHP-FPM (its job's attempt is spent).
    var delivered: (Pool, ReservedJob) -> Void = { _, _ in }
    /// A request ended, this long after it started.
    var ended: (Pool, ReservedJob, Ending, Duration) -> Void = { _, _, _, _ in }
    var say: (Pool, String) -> Void = { _, _ in }

    init(epoll: Epoll) { self.epoll = epoll }

    // MARK: - sending

    /// How many more requests the pool may send now: none while its PHP-FPM is away or busy
    /// (one, to try again, once the pause is over: alone after an outage, beside those in
    /// flight when it was busy).
    func room(for pool: Pool, now: Moment) -> Int {
        let free = max(0, pool.desiredWorkers - pool.requestsInFlight)
        guard let outage = outages[key(of: pool)] else { return free }
        return outage.retryAt <= now && (outage.busy || pool.requestsInFlight == 0) ? min(free, 1) : 0
    }

    /// Whether the pool waits for its PHP-FPM now (the pause after a request that could not
    /// reach it is not over).
    func holdsBack(_ pool: Pool, now: Moment) -> Bool {
        outages[key(of: pool)].map { $0.retryAt > now } ?? false
    }

    /// Why the pool's jobs wait, while they do.
    func problem(of pool: Pool, now: Moment) -> (problem: String, retryIn: Duration)? {
        outages[key(of: pool)].map { ($0.problem, max(.zero, $0.retryAt - now)) }
    }

    func send(_ job: ReservedJob, for pool: Pool, now: Moment) {
        guard let address = pool.config.fastcgi, let script = pool.config.script else { return }
        pool.requestStarted(job)
        let socket: FileDescriptor
        do {
            switch address {
            case .tcp(let host, let port): socket = try TCPClient.connect(literal: host, port: port)
            case .unix(let path): socket = try UnixSocket.startConnecting(to: path)
            }
        } catch {
            // On a unix socket, EAGAIN is a full listen backlog: PHP-FPM is up, its children busy.
            let busy = error == .wouldBlock
            return undelivered(job, of: pool, busy ? "\(error): its listen backlog is full (every child busy)" : "\(error)", busy: busy,
                               started: now, now: now)
        }
        nextToken += 1
        let token = EpollToken.fastcgi.token(nextToken)
        let body = Self.request(for: job, pool: pool, script: script)
        let request = Request(token: token, pool: pool, job: job, socket: socket, output: body, started: now)
        do { try epoll.add(socket, token: token, readable: true, writable: true) } catch {
            socket.close()
            return undelivered(job, of: pool, "cannot watch the connection: \(error)", busy: false, started: now, now: now)
        }
        requests[token] = request
    }

    /// The request's bytes: the job's parameters (as PHP sees them in `$_SERVER`) and its
    /// payload as the body (`php://input`).
    static func request(for job: ReservedJob, pool: Pool, script: String) -> [UInt8] {
        let body = Array(job.payload.utf8)
        return FastCGI.request(params: params(for: job, pool: pool.name, queue: pool.config.queueName, script: script, bodyLength: body.count),
                               body: body)
    }

    static func params(for job: ReservedJob, pool: String, queue: String, script: String, bodyLength: Int) -> [(String, String)] {
        let name = "/" + (script.split(separator: "/").last.map(String.init) ?? script)
        var params = [("GATEWAY_INTERFACE", "CGI/1.1"), ("SERVER_SOFTWARE", "solo"), ("SERVER_PROTOCOL", "HTTP/1.1"),
                      ("REQUEST_METHOD", "POST"), ("SCRIPT_FILENAME", script), ("SCRIPT_NAME", name), ("REQUEST_URI", name),
                      ("DOCUMENT_URI", name), ("QUERY_STRING", ""), ("CONTENT_TYPE", "application/octet-stream"),
                      ("CONTENT_LENGTH", String(bodyLength)), ("SOLO_JOB_ID", String(job.id)), ("SOLO_QUEUE", queue),
                      ("SOLO_ATTEMPT", String(job.attempts)), ("SOLO_POOL", pool)]
        if let group = job.group { params.append(("SOLO_GROUP", group)) }
        return params
    }

    // MARK: - events

    func event(_ event: Epoll.Event) {
        guard let request = requests[event.token] else { return }
        let now = Moment.now()
        if !request.connected {
            guard event.writable || event.hangup else { return }
            if let error = TCPClient.connectionError(request.socket) { return end(request, .undelivered("\(error)", busy: false), now: now) }
            request.connected = true
            outages[key(of: request.pool)].map { outage in
                guard !outage.busy else { return }
                say(request.pool, "php-fpm at \(address(of: request.pool)) answers again (it could not be reached: \(outage.problem))")
            }
            outages[key(of: request.pool)] = nil
            delivered(request.pool, request.job)
        }
        if request.written < request.output.count && (event.writable || event.hangup) { write(request, now: now) }
        if requests[request.token] != nil && (event.readable || event.hangup) { read(request, now: now) }
    }

    private func write(_ request: Request, now: Moment) {
        do {
            let sent = try request.output[request.written...].withUnsafeBytes { bytes throws(Errno) in try request.socket.sendSome(bytes) }
            request.written += sent
        } catch {
            return end(request, .ended(.lost("the connection to php-fpm broke while the request was written: \(error)"), timedOut: false), now: now)
        }
        if request.written == request.output.count {
            request.output = []
            request.written = 0
            request.timedFrom = now
            try? epoll.modify(request.socket, token: request.token, readable: true, writable: false)
        }
    }

    private func read(_ request: Request, now: Moment) {
        while true {
            let result: FileDescriptor.ReadResult
            do { result = try request.socket.read(into: &buffer) } catch {
                return end(request, .ended(.lost("the connection to php-fpm broke before its answer: \(error)"), timedOut: false), now: now)
            }
            switch result {
            case .wouldBlock: return
            case .endOfFile:
                return end(request, .ended(.lost("php-fpm closed the connection without an answer (its child died, or request_terminate_timeout)"),
                                           timedOut: false), now: now)
            case .bytes(let n):
                do { try request.decoder.feed(buffer[..<n]) } catch {
                    return end(request, .ended(.lost("php-fpm broke the FastCGI protocol: \(error)"), timedOut: false), now: now)
                }
                if request.decoder.ended != nil { return answered(request, now: now) }
            }
        }
    }

    private func answered(_ request: Request, now: Moment) {
        let verdict: FastCGIVerdict
        do { verdict = .of(try FastCGI.Response.parse(request.decoder.stdout), stderr: request.decoder.stderr) } catch {
            verdict = .lost("php-fpm answered something that is not a CGI response: \(error)")
        }
        end(request, .ended(verdict, timedOut: false), now: now)
    }

    private func undelivered(_ job: ReservedJob, of pool: Pool, _ why: String, busy: Bool, started: Moment, now: Moment) {
        let key = key(of: pool)
        if busy {
            outages[key] = Outage(problem: why, retryAt: now + Self.busyPause, busy: true)
        } else {
            let known = outages[key].flatMap { $0.busy ? nil : $0 }
            var outage = known ?? Outage(problem: why, retryAt: now)
            // Once per round of tries: the requests that fail together double the pause once.
            if outage.retryAt <= now { outage.retryAt = now + outage.pause.next() }
            if known == nil || outage.problem != why {
                say(pool, "php-fpm at \(address(of: pool)): \(why); jobs wait, trying again in \(Values.formatElapsed(outage.retryAt - now))")
            }
            outage.problem = why
            outages[key] = outage
        }
        ended(pool, job, .undelivered(why, busy: busy), now - started)
    }

    private func end(_ request: Request, _ ending: Ending, now: Moment) {
        requests[request.token] = nil
        epoll.remove(request.socket)
        request.socket.close()
        if case .undelivered(let why, let busy) = ending {
            return undelivered(request.job, of: request.pool, why, busy: busy, started: request.started, now: now)
        }
        ended(request.pool, request.job, ending, now - request.started)
    }

    private func address(of pool: Pool) -> String { pool.config.fastcgi?.description ?? "?" }
    private func key(of pool: Pool) -> String { pool.name + " " + address(of: pool) }

    // MARK: - time

    var nextDeadline: Moment? {
        // A retry stays a deadline until the loop has woken for it, and the feed of that turn
        // came at or after it (a feed just before it sends nothing). Then it waits for a job to
        // send (the feeder wakes the loop when one comes, a start or a scale when the pool takes
        // jobs again): a deadline kept in the past would spin the loop.
        var earliest = outages.values.filter { !$0.woke }.map(\.retryAt).min()
        for request in requests.values { earliest = earlier(earliest, request.deadline) }
        return earliest
    }

    func expire(now: Moment) {
        for (key, outage) in outages where !outage.woke && outage.retryAt <= now { outages[key]?.woke = true }
        for request in requests.values.sorted(by: { $0.token < $1.token }) {
            let pool = request.pool
            if request.stopDeadline == nil && (pool.stopping || pool.paused || pool.standingBy) {
                request.stopDeadline = now + pool.config.stopTimeout
            }
            guard let deadline = request.deadline, deadline <= now else { continue }
            if !request.connected {
                end(request, .undelivered("no connection within \(Values.formatElapsed(Self.connectTimeout))", busy: false), now: now)
            } else if let stop = request.stopDeadline, stop <= now {
                end(request, .ended(.lost("the pool stopped, and the request outlasted stop_timeout (\(Values.formatDuration(pool.config.stopTimeout))): aborted"),
                                    timedOut: false), now: now)
            } else {
                let limit = pool.config.jobTimeout.map(Values.formatDuration) ?? "none"
                end(request, .ended(.lost("it ran over job_timeout (\(limit)): the request was aborted"), timedOut: true), now: now)
            }
        }
    }

    /// A second TERM: every request is aborted now.
    func abortAll(now: Moment) {
        for request in requests.values.sorted(by: { $0.token < $1.token }) {
            end(request, .ended(.lost("solo was stopped at once: the request was aborted"), timedOut: false), now: now)
        }
    }
}
