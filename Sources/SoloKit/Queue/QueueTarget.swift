/// Which queue file and queue name a command means: `--queue NAME`, or the one feed pool of the
/// config, or (inside a worker) the worker's own queue.
public struct QueueTarget: Equatable, Sendable {
    public var path: String
    public var queue: String
    /// The pools that take jobs from it (empty: none does; jobs would wait).
    public var pools: [String]

    public static func resolve(_ config: SoloConfig, queue: String?) throws(UsageError) -> QueueTarget {
        let feeding = config.pools.filter { $0.queue.feedsJobs }
        func path(of pool: PoolConfig) -> String {
            if case .sqlite(let path) = pool.queue { return path }
            return config.global.stateDirectory + "/queue.db"
        }
        if let queue {
            let takers = feeding.filter { $0.queueName == queue }
            let paths = Set(takers.map(path))
            if paths.count > 1 {
                throw UsageError("queue \(queue) is in several files (\(paths.sorted().joined(separator: ", "))); pools that share a queue name must share a file")
            }
            return QueueTarget(path: paths.first ?? config.global.stateDirectory + "/queue.db", queue: queue, pools: takers.map(\.name))
        }
        guard let only = feeding.first else {
            throw UsageError("no pool of \(config.file) takes jobs from a queue (every one has queue = none); name one with --queue")
        }
        let names = Set(feeding.map(\.queueName))
        guard names.count == 1 else {
            throw UsageError("several queues in \(config.file) (\(names.sorted().joined(separator: ", "))); choose one with --queue")
        }
        return QueueTarget(path: path(of: only), queue: only.queueName, pools: feeding.map(\.name))
    }

    /// Every queue file the config's pools use.
    public static func files(_ config: SoloConfig) -> [String] {
        var paths: [String] = []
        for pool in config.pools {
            if case .sqlite(let path) = pool.queue, !paths.contains(path) { paths.append(path) }
        }
        return paths
    }
}
