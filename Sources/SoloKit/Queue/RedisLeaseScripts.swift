// The scripts that keep a supervisor's leases on a Redis queue: jobs given back untouched,
// leases renewed, and the jobs of dead supervisors taken back (as JobStore's release,
// renewLeases and reclaim do in a queue file).
extension RedisScripts {
    /// ARGV: owner, then ids: jobs taken ahead and never given to a worker go back untouched.
    public static let release = script(#"""
        local t = now_ms()
        local n = 0
        for i = 2, #ARGV do
            local id = tonumber(ARGV[i])
            local key = job(id)
            local f = redis.call('HMGET', key, 'state', 'owner', 'grp', 'ahead')
            if f[1] == 'reserved' and f[2] == ARGV[1] then
                redis.call('ZREM', P .. ':reserved', member(id))
                let_go(key)
                if f[4] == '1' then redis.call('HINCRBY', key, 'attempts', -1) end
                to_ready(id, key, f[3], 'reserved')
                n = n + 1
            end
        end
        if n > 0 then redis.call('PUBLISH', P .. ':wake', '') end
        return summary(t)
        """#)

    /// ARGV: owner, lease (ms), then ids: extends the leases the owner holds on them. Returns
    /// how many it extended.
    public static let renew = script(#"""
        local t = now_ms()
        local n = 0
        for i = 3, #ARGV do
            local id = tonumber(ARGV[i])
            local f = redis.call('HMGET', job(id), 'state', 'owner')
            if f[1] == 'reserved' and f[2] == ARGV[1] then
                redis.call('ZADD', P .. ':reserved', 'XX', t + tonumber(ARGV[2]), member(id))
                n = n + 1
            end
        end
        return n
        """#)

    /// ARGV: owner ('' for none), max_attempts, key_concurrency ('' for none), then the ids to
    /// keep (the caller holds them:
    /// left alone, even if their lease ran out while it was cut off; it renews them). Jobs whose
    /// lease ran out (their supervisor died) go back to ready, or die when their attempts are
    /// used up; with an owner, so do that owner's jobs that are not kept (its own jobs from
    /// before a restart, or of a lost reply). A job still `ahead` (no worker had it) goes back
    /// as it was before its reserve, its attempt given back. Each key with jobs held back by
    /// key_concurrency gets as many freed as it has room for (as JobStore.freeHeld). Returns
    /// how many were taken back.
    public static let reclaim = script(#"""
        local t = now_ms()
        local keep = {}
        for i = 4, #ARGV do keep[ARGV[i]] = true end
        local candidates
        if ARGV[1] ~= '' then candidates = redis.call('ZRANGE', P .. ':reserved', 0, -1)
        else candidates = redis.call('ZRANGEBYSCORE', P .. ':reserved', '-inf', '(' .. t) end
        local n = 0
        local ended = false
        for _, m in ipairs(candidates) do
            local id = tonumber(m)
            local key = job(id)
            local f = redis.call('HMGET', key, 'owner', 'grp', 'attempts', 'max_attempts', 'state', 'ahead')
            local expired = tonumber(redis.call('ZSCORE', P .. ':reserved', m)) < t
            if not keep[string.format('%d', id)] and (expired or f[1] == ARGV[1]) then
                redis.call('ZREM', P .. ':reserved', m)
                if f[5] == 'reserved' and f[6] == '1' then
                    let_go(key)
                    redis.call('HINCRBY', key, 'attempts', -1)
                    to_ready(id, key, f[2], 'reserved')
                    n = n + 1
                elseif f[5] == 'reserved' then
                    let_go(key)
                    local why = 'its supervisor (' .. (f[1] or '?') .. ') died while it ran'
                    local limit = tonumber(f[4] or ARGV[2])
                    local attempts = tonumber(f[3] or '0')
                    if attempts >= limit then
                        ended = true
                        to_dead(id, key, f[2], 'reserved', why .. ' (no attempt left: ' .. attempts .. ' of ' .. limit .. ')', t)
                    else
                        redis.call('HSET', key, 'error', why, 'ready_at', t)
                        to_ready(id, key, f[2], 'reserved')
                    end
                    n = n + 1
                end
            end
        end
        if n > 0 then redis.call('PUBLISH', P .. ':wake', '') end
        if ended then redis.call('PUBLISH', P .. ':ended', '') end
        -- each key with held-back jobs gets as many freed as it has room for (all, a thousand
        -- at a time, with no key_concurrency), as JobStore.freeHeld does
        local key_concurrency = tonumber(ARGV[3])
        for _, k in ipairs(redis.call('SMEMBERS', P .. ':heldkeys')) do
            local room = 1000
            if key_concurrency then room = key_concurrency - tonumber(redis.call('HGET', P .. ':running', k) or '0') end
            for _ = 1, room do
                if not free_held(k) then break end
            end
        end
        return n
        """#)
}
