/// What a reload changes: pools added, removed, changed or left alone, and the [global] keys
/// that cannot change while solo runs.
public struct ConfigDiff: Equatable, Sendable {
    public var added: [String] = []
    public var removed: [String] = []
    public var changed: [String] = []
    public var unchanged: [String] = []
    /// [global] keys whose new value needs a restart of solo (the old one stays in force).
    public var needsRestart: [String] = []

    public init(from old: SoloConfig, to new: SoloConfig) {
        for pool in new.pools {
            guard let before = old.pool(named: pool.name) else { added.append(pool.name); continue }
            if Self.same(before, pool) { unchanged.append(pool.name) } else { changed.append(pool.name) }
        }
        removed = old.pools.map(\.name).filter { new.pool(named: $0) == nil }
        let a = old.global, b = new.global
        if a.lockPort != b.lockPort { needsRestart.append("lock_port") }
        if a.lockAddress != b.lockAddress { needsRestart.append("lock_addr") }
        if a.stateDirectory != b.stateDirectory { needsRestart.append("state_dir") }
        if a.logFile != b.logFile { needsRestart.append("log_file") }
        if a.maxPayload != b.maxPayload { needsRestart.append("max_payload") }
        if a.lease != b.lease { needsRestart.append("lease") }
        if a.clientSocket != b.clientSocket { needsRestart.append("client_socket") }
        if a.clientGroup != b.clientGroup { needsRestart.append("client_group") }
        if a.clusterLock != b.clusterLock { needsRestart.append("cluster_lock") }
        if a.clusterRedis != b.clusterRedis { needsRestart.append("cluster_redis") }
        if a.clusterLockTTL != b.clusterLockTTL { needsRestart.append("cluster_lock_ttl") }
    }

    /// Equal as far as running it goes (where the section sits in its file does not matter).
    public static func same(_ a: PoolConfig, _ b: PoolConfig) -> Bool {
        var a = a, b = b
        a.file = ""; a.line = 0
        b.file = ""; b.line = 0
        return a == b
    }

    /// Equal but for the number of workers (or their range): a change that scaling alone applies.
    public static func sameExceptCount(_ a: PoolConfig, _ b: PoolConfig) -> Bool {
        var b = b
        b.workers = a.workers
        b.maxWorkers = a.maxWorkers
        b.scaleCooldown = a.scaleCooldown
        // Read where they are used, not by the workers: nothing to restart for them.
        b.onEvent = a.onEvent
        b.alertQueueAge = a.alertQueueAge
        return same(a, b)
    }

    public var json: JSON {
        .object([("added", .array(added.map(JSON.string))), ("removed", .array(removed.map(JSON.string))),
                 ("changed", .array(changed.map(JSON.string))), ("unchanged", .array(unchanged.map(JSON.string))),
                 ("needs_restart", .array(needsRestart.map(JSON.string)))])
    }
}
