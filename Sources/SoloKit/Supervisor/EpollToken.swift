/// Every source in the supervisor's epoll set is told apart by its token, and every token is
/// made here: each kind of source has fixed tokens or a span of its own, so that no two kinds
/// can meet, and the loop reads back from a token which kind it is (`source(of:)`).
enum EpollToken {
    /// The tokens of one kind of source with many descriptors (connections, workers' pipes).
    struct Span {
        let base: UInt64
        let size: UInt64

        func contains(_ token: UInt64) -> Bool { token >= base && token - base < size }
        func token(_ offset: UInt64) -> UInt64 { base + offset }
        func offset(of token: UInt64) -> UInt64 { token - base }
    }

    /// What a token belongs to.
    enum Source: Equatable {
        case signals, guardian, queueFiles
        case workerPipe(worker: UInt64, WorkerPipe)
        case redis, metrics, control, clients, hooks, dashboard, fastcgi
        case unknown
    }

    static let signals: UInt64 = 0
    static let guardian: UInt64 = 1
    static let queueFiles: UInt64 = 2
    /// Four tokens per worker id (one for each pipe; the fourth is unused).
    static let workerPipes = Span(base: 1 << 8, size: 1 << 58)
    /// One per running `on_event` hook (its output pipe).
    static let hooks = Span(base: 1 << 59, size: 1 << 40)
    /// The dashboard's listener (the span's first token) and its connections.
    static let dashboard = Span(base: (1 << 59) + (1 << 41), size: 1 << 40)
    /// The client socket's listener (the span's first token) and its connections.
    static let clients = Span(base: (1 << 59) + (1 << 43), size: 1 << 40)
    /// One per request to PHP-FPM (see FastCGIExecutor).
    static let fastcgi = Span(base: (1 << 59) + (1 << 45), size: 1 << 40)
    /// Two per Redis server: its command connection and its subscriber.
    static let redis = Span(base: 1 << 60, size: 1 << 40)
    /// The metrics listener (the span's first token) and its connections.
    static let metrics = Span(base: 1 << 61, size: 1 << 40)
    /// The control socket's listener (the span's first token) and its connections.
    static let control = Span(base: 1 << 62, size: 1 << 40)

    static func workerPipe(_ worker: UInt64, _ pipe: WorkerPipe) -> UInt64 {
        workerPipes.token(worker << 2 | pipe.rawValue)
    }

    static func source(of token: UInt64) -> Source {
        switch token {
        case signals: return .signals
        case guardian: return .guardian
        case queueFiles: return .queueFiles
        case _ where workerPipes.contains(token):
            let offset = workerPipes.offset(of: token)
            return WorkerPipe(rawValue: offset & 3).map { .workerPipe(worker: offset >> 2, $0) } ?? .unknown
        case _ where hooks.contains(token): return .hooks
        case _ where redis.contains(token): return .redis
        case _ where metrics.contains(token): return .metrics
        case _ where control.contains(token): return .control
        case _ where dashboard.contains(token): return .dashboard
        case _ where clients.contains(token): return .clients
        case _ where fastcgi.contains(token): return .fastcgi
        default: return .unknown
        }
    }
}

/// A worker's pipes as the supervisor watches them: its output (stdout and stderr), its
/// control pipe (fd 3) and its stdin.
enum WorkerPipe: UInt64 {
    case output = 1, control = 2, input = 3
}
