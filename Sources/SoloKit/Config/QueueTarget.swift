/// Which queue a command means, and where it lives (an SQLite file or a Redis server):
/// `--queue NAME`, or the one feed pool of the config, or (inside a worker) the worker's own.
public struct QueueTarget: Equatable, Sendable {
    /// `.sqlite(path:)` or `.redis(url)`, never `.none`.
    public var place: QueueSetting
    public var queue: String
    /// The pools that take jobs from it (empty: none does; jobs would wait).
    public var pools: [String]

    public init(place: QueueSetting, queue: String, pools: [String]) {
        self.place = place
        self.queue = queue
        self.pools = pools
    }

    public static func resolve(_ config: SoloConfig, queue: String?) throws(UsageError) -> QueueTarget {
        let feeding = config.pools.filter { $0.queue.feedsJobs }
        let fallback = QueueSetting.sqlite(path: config.global.stateDirectory + "/queue.db")
        if let queue {
            let takers = feeding.filter { $0.queueName == queue }
            var places: [QueueSetting] = []
            for pool in takers where !places.contains(server(of: pool.queue)) { places.append(server(of: pool.queue)) }
            if places.count > 1 {
                throw UsageError("queue \(queue) is in several places (\(places.map(\.location).joined(separator: ", "))); pools that share a queue name must share a file or a Redis server")
            }
            return QueueTarget(place: places.first ?? fallback, queue: queue, pools: takers.map(\.name))
        }
        guard let only = feeding.first else {
            throw UsageError("no pool of \(config.file) takes jobs from a queue (every one has queue = none); name one with --queue")
        }
        let names = Set(feeding.map(\.queueName))
        guard names.count == 1 else {
            throw UsageError("several queues in \(config.file) (\(names.sorted().joined(separator: ", "))); choose one with --queue")
        }
        return QueueTarget(place: server(of: only.queue), queue: only.queueName, pools: feeding.map(\.name))
    }

    /// Every place the config's pools keep queues in: each SQLite file, each Redis server.
    public static func places(_ config: SoloConfig) -> [QueueSetting] {
        var places: [QueueSetting] = []
        for pool in config.pools where pool.queue.feedsJobs && !places.contains(server(of: pool.queue)) {
            places.append(server(of: pool.queue))
        }
        return places
    }

    /// Two pools on one Redis server and database share it, whatever their URLs' lock names.
    private static func server(of place: QueueSetting) -> QueueSetting {
        if case .redis(let url) = place { return .redis(url.server) }
        return place
    }
}

extension QueueSetting {
    /// The queue's file or server for an operator (`solo queue`, `solo push`, the dashboard);
    /// nil for `none`. `patience` bounds each wait: for a busy file, or a Redis reply.
    public func open(create: Bool, durable: Bool = false, clientName: String, patience: Duration = .seconds(10)) throws(QueueError) -> (any JobQueue)? {
        switch self {
        case .sqlite(let path): return try JobStore(path: path, create: create, durable: durable, busyTimeout: Int32(patience.milliseconds))
        case .redis(let url): return try RedisQueue(url: url, clientName: clientName, timeout: patience)
        case .none: return nil
        }
    }
}
