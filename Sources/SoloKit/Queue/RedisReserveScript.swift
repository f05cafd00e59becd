// The script that hands out jobs: due delayed jobs and the inbox brought in, then jobs leased
// within the queue's limits (as JobStore's reserve under limits does in a queue file).
extension RedisScripts {
    /// Limits as the `reserve` script reads them: concurrency, rate count, rate period (ms),
    /// key_concurrency, key rate count, key rate period (ms); '' for none.
    public static func arguments(of limits: JobLimits) -> [String] {
        [limits.concurrency.map(String.init) ?? "", limits.rate.map { String($0.count) } ?? "", limits.rate.map { String($0.period.milliseconds) } ?? "",
         limits.keyConcurrency.map(String.init) ?? "", limits.keyRate.map { String($0.count) } ?? "",
         limits.keyRate.map { String($0.period.milliseconds) } ?? ""]
    }

    /// ARGV: owner, count, lease (ms), fence key ('' for none), fence token, queue, then the
    /// limits (RedisScripts.arguments(of:)): concurrency, rate count, rate period (ms),
    /// key_concurrency, key rate count, key rate period (ms), '' for none. Brings due delayed
    /// jobs and the inbox in, then leases up to `count` ready jobs to the owner within the
    /// limits, as JobStore's reserve under limits does (the same RateBucket sums, in Lua).
    /// Returns the summary (8 numbers), the queue's limit that cut it short ('' for none), ms to
    /// its rate's next turn (-1), then 7 fields a job: id, payload, priority, attempts,
    /// max_attempts ('' for none), group (''), ms it waited since it became ready. Each job counts an attempt and is `ahead` until a
    /// `start` outcome says a worker has it (see Feeder). With a fence key, refuses (FENCED)
    /// unless the key still holds the token: a supervisor that lost the fleet lock takes no job.
    public static let reserve = script(#"""
        if ARGV[4] ~= '' and redis.call('GET', ARGV[4]) ~= ARGV[5] then
            return redis.error_reply('FENCED this supervisor does not hold the fleet lock')
        end
        local t = now_ms()
        promote(t, 1000)
        ingest(t, 1000, ARGV[6])
        local count = tonumber(ARGV[2])
        local limited, next_turn = '', -1
        -- RateBucket: the bucket's state is when its time was spent up to
        local function rate(n, period)
            if not n then return nil end
            local interval = tonumber(period) / tonumber(n)
            return {interval = interval, burst = math.max(1, math.floor(tonumber(n) / math.max(1, math.floor(tonumber(period) / 100))))}
        end
        local function bucket_start(spent, r) return math.max(tonumber(spent) or -math.huge, t - r.burst * r.interval) end
        local concurrency = tonumber(ARGV[7])
        if concurrency then
            local running = redis.call('ZCARD', P .. ':reserved')
            if concurrency - running < count then count = math.max(0, concurrency - running); limited = 'concurrency' end
        end
        local queue_rate = rate(tonumber(ARGV[8]), ARGV[9])
        local queue_from
        if queue_rate then
            queue_from = bucket_start(redis.call('GET', P .. ':bucket'), queue_rate)
            local room = math.floor((t - queue_from) / queue_rate.interval + 1e-9)
            if room < count then
                count = math.max(0, room)
                limited = 'rate_limit'
                next_turn = math.max(0, math.ceil(queue_from + (count + 1) * queue_rate.interval - t))
            end
        end
        local key_concurrency = tonumber(ARGV[10])
        local key_rate = rate(tonumber(ARGV[11]), ARGV[12])
        local picked = {}
        if count > 0 and (key_concurrency or key_rate) then
            -- walk the line: jobs whose key is at its limit are held back, out of the line
            local running, spent = {}, {}
            for _, m in ipairs(redis.call('ZRANGE', P .. ':ready', 0, count + 999)) do
                if #picked >= count then break end
                local id = tonumber(m)
                local key = job(id)
                local f = redis.call('HMGET', key, 'limit_key', 'turn_at', 'created_at', 'run_at', 'ready_at', 'grp', 'priority')
                local k = f[1]
                local hold, run_at = nil, nil
                if k then
                    running[k] = running[k] or tonumber(redis.call('HGET', P .. ':running', k) or '0')
                    if key_concurrency and running[k] >= key_concurrency then
                        hold = 'key_concurrency'
                    elseif key_rate and not f[2] then
                        if spent[k] == nil then spent[k] = redis.call('GET', P .. ':bucket:' .. k) or false end
                        local after = bucket_start(spent[k], key_rate) + key_rate.interval
                        spent[k] = after
                        if after > t then hold, run_at = 'key_rate_limit', math.ceil(after) end
                    end
                end
                if hold then
                    redis.call('ZREM', P .. ':ready', m)
                    redis.call('HSET', key, 'state', 'delayed', 'held_by', hold, 'ready_at', ready_since(f[5], f[3], f[4]))
                    if run_at then
                        redis.call('HSET', key, 'turn_at', run_at)
                    else
                        run_at = HELD_UNTIL_FREED
                        redis.call('ZADD', P .. ':held:' .. k, -tonumber(f[7] or '0'), m)
                        redis.call('SADD', P .. ':heldkeys', k)
                    end
                    redis.call('HSET', key, 'run_at', run_at)
                    redis.call('ZADD', P .. ':delayed', run_at, m)
                    redis.call('HINCRBY', P .. ':held', hold, 1)
                    count_group(f[6], 'ready', 'delayed')
                else
                    if k then running[k] = running[k] + 1 end
                    picked[#picked + 1] = m
                end
            end
            -- a key's bucket is full again a day after it was spent up to at the latest (a rate's
            -- period is a day at most): then it is dropped, as if never used
            for k, v in pairs(spent) do
                if v then redis.call('SET', P .. ':bucket:' .. k, v, 'PX', math.max(1, math.ceil(v - t)) + 86400000) end
            end
            if #picked > 0 then redis.call('ZREM', P .. ':ready', unpack(picked)) end
        elseif count > 0 then
            local popped = redis.call('ZPOPMIN', P .. ':ready', count)
            for i = 1, #popped, 2 do picked[#picked + 1] = popped[i] end
        end
        local jobs = {}
        local lease_until = t + tonumber(ARGV[3])
        local taken = 0
        for _, m in ipairs(picked) do
            local id = tonumber(m)
            local key = job(id)
            local f = redis.call('HMGET', key, 'payload', 'priority', 'max_attempts', 'grp', 'state', 'limit_key', 'ready_at', 'created_at', 'run_at')
            if f[1] and f[5] == 'ready' then
                local attempts = redis.call('HINCRBY', key, 'attempts', 1)
                local since = ready_since(f[7], f[8], f[9])
                redis.call('HSET', key, 'state', 'reserved', 'owner', ARGV[1], 'ahead', '1', 'ready_at', since, 'reserved_at', t)
                redis.call('HDEL', key, 'held_by', 'turn_at')
                if f[6] then redis.call('HINCRBY', P .. ':running', f[6], 1) end
                redis.call('ZADD', P .. ':reserved', lease_until, m)
                count_group(f[4], 'ready', 'reserved')
                taken = taken + 1
                for _, v in ipairs({id, f[1], f[2] or '0', attempts, f[3] or '', f[4] or '', t - since}) do jobs[#jobs + 1] = v end
            end
        end
        if queue_rate and taken > 0 then
            redis.call('SET', P .. ':bucket', queue_from + taken * queue_rate.interval)
        end
        -- a limit that cut the reserve held nothing back if no job is left in line
        if limited ~= '' and redis.call('ZCARD', P .. ':ready') == 0 then limited, next_turn = '', -1 end
        local out = summary(t)
        out[#out + 1] = limited
        out[#out + 1] = next_turn
        for _, v in ipairs(jobs) do out[#out + 1] = v end
        return out
        """#)
}
