// The scripts that are about supervisors rather than a queue's jobs: the fleet lock and the
// heartbeats behind `solo status --cluster` (their keys are outside any queue's hash slot).
extension RedisScripts {
    // MARK: - the fleet lock (KEYS: the lock's key, its fence counter; not queue scripts)

    /// ARGV: token, ttl (ms). Takes the lock if it is free, or renews it if it is already the
    /// token's. Returns {1, fence} to the holder, {0, holder's token, ms it has left (-1: no
    /// expiry)} otherwise. The fence grows at every take and never goes back, even if Redis
    /// lost its counter: it is at least the server's time in milliseconds.
    public static let lockAcquire = RedisScript(#"""
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
            local t = redis.call('TIME')
            local floor = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local fence = redis.call('INCR', KEYS[2])
            if fence < floor then
                fence = floor
                redis.call('SET', KEYS[2], string.format('%d', fence))
            end
            return {1, fence}
        end
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
        end
        return {0, holder or '', redis.call('PTTL', KEYS[1])}
        """#)

    /// ARGV: token. Frees the lock if the token holds it, and tells those waiting: 1, else 0.
    public static let lockRelease = RedisScript(#"""
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('DEL', KEYS[1])
            redis.call('PUBLISH', KEYS[1] .. ':released', ARGV[1])
            return 1
        end
        return 0
        """#)

    // MARK: - heartbeats (solo status --cluster)

    /// Every supervisor that uses Redis, by name, scored by its last heartbeat (server time).
    public static let nodesKey = "solo:nodes"
    /// A supervisor's last report (JSON), which expires unless renewed.
    public static func nodeKey(_ owner: String) -> String { "solo:node:\(owner)" }

    /// KEYS: nodes, node. ARGV: owner, report (JSON), ttl (ms). Names forgotten for an hour go.
    public static let heartbeat = RedisScript(#"""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
        redis.call('ZADD', KEYS[1], now, ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
        return now
        """#)

    public static func lockKey(_ name: String) -> String { "solo:lock:\(name)" }
    public static func fenceKey(_ name: String) -> String { "solo:lock:\(name):fence" }
}
