/// The Redis queue's key layout and the Lua scripts that change it. Every change of a job's
/// state is one script, so it is atomic on the server: a job is in exactly one of the state
/// sets at any moment, and its group's counters move with it. The layout is a documented
/// interface (solo-redis(5)); other programs may enqueue by it. For a queue Q, with the
/// prefix P = `solo:{Q}` (the braces keep a queue's keys in one Redis Cluster slot):
///
///     P:seq               STRING  the last job id given
///     P:job:ID            HASH    payload priority attempts max_attempts grp state run_at
///                                 created_at finished_at result error owner worker ahead
///                                 unique_key unique_until limit_key held_by turn_at
///                                 ready_at reserved_at (held_by: the limit that holds the
///                                 job back, key_concurrency or key_rate_limit; turn_at: the
///                                 turn key_rate_limit booked for it, till its reserve;
///                                 ready_at: when it became ready, kept while held back or
///                                 given back)
///     P:ready             ZSET    member %016d of the id, score -priority (ZPOPMIN: the
///                                 highest priority first, then the oldest)
///     P:delayed           ZSET    score run_at (Unix ms, the server's clock); the jobs a
///                                 key's key_rate_limit holds back wait here for their turn
///     P:reserved          ZSET    score lease_until (Unix ms); owner in the job's hash
///     P:done, P:dead      ZSET    score finished_at
///     P:inbox             LIST    payloads pushed with RPUSH by any program: jobs with the
///                                 defaults, made into jobs the next time a supervisor looks
///     P:inbox:unique      LIST    the same, each with a unique key: KEY LF MS LF PAYLOAD (MS:
///                                 how long the key outlives the job, empty or 0 for not at
///                                 all); a duplicate is dropped and counted in P:duplicates
///     P:group:G           HASH    how many of group G's jobs are in each state
///     P:group:G:jobs      ZSET    the group's jobs, score the id
///     P:worker:NAME       STRING  the group of the job worker NAME holds
///     P:worker:NAME:job   STRING  that job's key (whose ending may clear the two)
///     P:unique:KEY        STRING  the id of the job holding unique key KEY: set when the job
///                                 is pushed, deleted when it ends (done or dead) or is
///                                 deleted; a job pushed with unique_until (Unix ms) that ends
///                                 before then leaves it to expire then (PEXPIREAT)
///     P:duplicates        STRING  how many jobs a held unique key refused
///     P:running           HASH    limit key -> how many of its jobs are reserved
///     P:held:KEY          ZSET    the jobs of limit key KEY held back by key_concurrency,
///                                 member and score as in P:ready (they are in P:delayed too,
///                                 never due); let_go readies the first
///     P:heldkeys          SET     the keys with jobs in P:held:KEY
///     P:held              HASH    key_concurrency, key_rate_limit -> how many they hold back
///     P:bucket            STRING  the queue's rate_limit state (RateBucket, Unix ms)
///     P:bucket:KEY        STRING  key KEY's key_rate_limit state; expires a day after it
///     P:wake              channel a message tells the supervisors that jobs are ready
///     solo:queues         SET     every queue name that has had a job
///
/// Times come from the server's clock (TIME), so hosts whose clocks differ agree on leases.
public enum RedisScripts {
    /// The prefix of a queue's keys.
    public static func prefix(_ queue: String) -> String { "solo:{\(queue)}" }
    public static let queuesKey = "solo:queues"

    /// Shared by every queue script. KEYS[1] is the queue's prefix.
    static let prelude = #"""
        local P = KEYS[1]
        -- run_at of a job held back by key_concurrency: never due by time (2100-01-01, as
        -- QueueSchema.heldUntilFreed)
        local HELD_UNTIL_FREED = 4102444800000
        local function now_ms()
            local t = redis.call('TIME')
            return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function member(id) return string.format('%016d', id) end
        local function job(id) return P .. ':job:' .. string.format('%d', id) end
        local function count_group(grp, from, to)
            if not grp or grp == '' then return end
            local g = P .. ':group:' .. grp
            if from then redis.call('HINCRBY', g, from, -1) end
            if to then redis.call('HINCRBY', g, to, 1) end
        end
        local function drop_group_if_empty(grp)
            if redis.call('ZCARD', P .. ':group:' .. grp .. ':jobs') == 0 then
                redis.call('DEL', P .. ':group:' .. grp, P .. ':group:' .. grp .. ':jobs')
            end
        end
        local function to_ready(id, key, grp, from)
            local prio = tonumber(redis.call('HGET', key, 'priority') or '0')
            redis.call('HSET', key, 'state', 'ready')
            redis.call('ZADD', P .. ':ready', -prio, member(id))
            count_group(grp, from, 'ready')
        end
        -- The best job held back by key_concurrency of key k is ready again (true), or none is
        -- left (false) and k leaves P:heldkeys; a job deleted or buried meanwhile is passed over.
        local function free_held(k)
            while true do
                local held = redis.call('ZPOPMIN', P .. ':held:' .. k, 1)
                if not held[1] then
                    redis.call('SREM', P .. ':heldkeys', k)
                    return false
                end
                local id = tonumber(held[1])
                local hk = job(id)
                local h = redis.call('HMGET', hk, 'state', 'held_by', 'grp')
                if h[1] == 'delayed' and h[2] == 'key_concurrency' then
                    redis.call('HINCRBY', P .. ':held', 'key_concurrency', -1)
                    redis.call('ZREM', P .. ':delayed', held[1])
                    redis.call('HSET', hk, 'run_at', 0)
                    redis.call('HDEL', hk, 'held_by')
                    to_ready(id, hk, h[3], 'delayed')
                    redis.call('PUBLISH', P .. ':wake', '')
                    return true
                end
            end
        end
        -- A job leaves 'reserved' (every way out calls this): its worker and lease go, and if
        -- it has a limit key, the key runs one fewer and its best job held back by
        -- key_concurrency is ready again (as the queue file's jobs_key_freed trigger does).
        local function let_go(key)
            local f = redis.call('HMGET', key, 'worker', 'limit_key')
            -- Only if the worker's note is still this job's: its next job's may be there already
            -- (this job's outcome is written with others, after the next job was given).
            if f[1] and redis.call('GET', P .. ':worker:' .. f[1] .. ':job') == key then
                redis.call('DEL', P .. ':worker:' .. f[1], P .. ':worker:' .. f[1] .. ':job')
            end
            redis.call('HDEL', key, 'worker', 'owner', 'ahead')
            local k = f[2]
            if not k then return end
            if redis.call('HINCRBY', P .. ':running', k, -1) <= 0 then redis.call('HDEL', P .. ':running', k) end
            free_held(k)
        end
        -- A job that ends (t: when) or is deleted (t nil) lets go of its unique key, unless the key
        -- is another job's by now; one that ends before its unique_until leaves the key until then.
        local function free_unique(id, key, t)
            local f = redis.call('HMGET', key, 'unique_key', 'unique_until')
            if not f[1] then return end
            local u = P .. ':unique:' .. f[1]
            if redis.call('GET', u) ~= string.format('%d', id) then return end
            if t and f[2] and tonumber(f[2]) > t then redis.call('PEXPIREAT', u, f[2])
            else redis.call('DEL', u) end
        end
        local function to_dead(id, key, grp, from, err, t)
            free_unique(id, key, t)
            redis.call('HSET', key, 'state', 'dead', 'error', err, 'finished_at', t)
            redis.call('ZADD', P .. ':dead', t, member(id))
            count_group(grp, from, 'dead')
        end
        local function new_job(id, payload, prio, t, run_at, max_attempts, grp, limit_key)
            local key = job(id)
            local m = member(id)
            local state = 'ready'
            if run_at > 0 then state = 'delayed' end
            redis.call('HSET', key, 'payload', payload, 'priority', prio, 'attempts', 0, 'state', state,
                       'created_at', t, 'run_at', run_at)
            if max_attempts ~= '' then redis.call('HSET', key, 'max_attempts', max_attempts) end
            if limit_key and limit_key ~= '' then redis.call('HSET', key, 'limit_key', limit_key) end
            if grp then
                redis.call('HSET', key, 'grp', grp)
                redis.call('ZADD', P .. ':group:' .. grp .. ':jobs', id, m)
            end
            if state == 'delayed' then redis.call('ZADD', P .. ':delayed', run_at, m)
            else redis.call('ZADD', P .. ':ready', -prio, m) end
        end
        -- when a job became ready: kept while it was held back, else when it was pushed or due
        local function ready_since(f_ready_at, f_created_at, f_run_at)
            if f_ready_at then return tonumber(f_ready_at) end
            return math.max(tonumber(f_created_at or '0'), tonumber(f_run_at or '0'))
        end
        -- ready (with the inbox), delayed (held back ones too), reserved, dead, ms until the next
        -- delayed job (-1: none), held back by key_concurrency, by key_rate_limit, and with
        -- `look`, the age in ms of the oldest of the next 1000 in line (-1: none; -2: not looked)
        local function summary(t, look)
            local nxt = redis.call('ZRANGE', P .. ':delayed', 0, 0, 'WITHSCORES')
            local wait = -1
            if nxt[2] and tonumber(nxt[2]) < HELD_UNTIL_FREED then wait = math.max(0, tonumber(nxt[2]) - t) end
            local held = redis.call('HMGET', P .. ':held', 'key_concurrency', 'key_rate_limit')
            local oldest = -2
            if look then
                oldest = -1
                for _, m in ipairs(redis.call('ZRANGE', P .. ':ready', 0, 999)) do
                    local f = redis.call('HMGET', job(tonumber(m)), 'ready_at', 'created_at', 'run_at')
                    if f[2] then oldest = math.max(oldest, t - ready_since(f[1], f[2], f[3])) end
                end
            end
            return {redis.call('ZCARD', P .. ':ready') + redis.call('LLEN', P .. ':inbox') + redis.call('LLEN', P .. ':inbox:unique'),
                    redis.call('ZCARD', P .. ':delayed'), redis.call('ZCARD', P .. ':reserved'),
                    redis.call('ZCARD', P .. ':dead'), wait, math.max(0, tonumber(held[1] or '0')), math.max(0, tonumber(held[2] or '0')), oldest}
        end
        local function promote(t, limit)
            local due = redis.call('ZRANGEBYSCORE', P .. ':delayed', '-inf', t, 'LIMIT', 0, limit)
            for _, m in ipairs(due) do
                redis.call('ZREM', P .. ':delayed', m)
                local id = tonumber(m)
                local key = job(id)
                local f = redis.call('HMGET', key, 'grp', 'held_by', 'state')
                -- a job back at its booked turn (key_rate_limit) is no longer held back; its
                -- turn_at stays, so that its reserve spends no second turn
                if f[2] then
                    redis.call('HINCRBY', P .. ':held', f[2], -1)
                    redis.call('HDEL', key, 'held_by')
                end
                if f[3] then to_ready(id, key, f[1], 'delayed') end
            end
        end
        -- A job with unique key k ('' for none), held `hold` ms after t once it ended ('' or 0:
        -- only while it waits or runs): its new id, or minus the id of the job holding k.
        local function new_unique_job(k, hold, payload, prio, t, run_at, max_attempts, grp, limit_key)
            local u = P .. ':unique:' .. k
            local holder = nil
            if k ~= '' then holder = redis.call('GET', u) end
            -- a key left by a job no longer there (deleted by hand) is free
            if holder and redis.call('EXISTS', job(tonumber(holder))) == 1 then
                redis.call('INCR', P .. ':duplicates')
                return -tonumber(holder)
            end
            local id = redis.call('INCR', P .. ':seq')
            new_job(id, payload, prio, t, run_at, max_attempts, grp, limit_key)
            if k ~= '' then
                redis.call('SET', u, id)
                redis.call('HSET', job(id), 'unique_key', k)
                local ms = tonumber(hold) or 0
                if ms > 0 then redis.call('HSET', job(id), 'unique_until', t + ms) end
            end
            return id
        end
        local function ingest(t, limit, queue)
            local raw = redis.call('LPOP', P .. ':inbox', limit)
            if raw then
                local last = redis.call('INCRBY', P .. ':seq', #raw)
                for i = 1, #raw do new_job(last - #raw + i, raw[i], 0, t, 0, '', nil) end
                redis.call('SADD', 'solo:queues', queue)
            end
            -- KEY LF MS LF PAYLOAD; an entry not of that form is a job of it all, with no key
            local keyed = redis.call('LPOP', P .. ':inbox:unique', limit)
            if not keyed then return end
            for _, entry in ipairs(keyed) do
                local k, hold, payload = string.match(entry, '^([^\n]*)\n([0-9]*)\n(.*)$')
                if not k then k, hold, payload = '', '', entry end
                new_unique_job(k, hold, payload, 0, t, 0, '', nil)
            end
            redis.call('SADD', 'solo:queues', queue)
        end
        -- a job held back by a limit that is buried or deleted: no longer counted as held
        local function unhold(key, state)
            local held = redis.call('HGET', key, 'held_by')
            if not held then return end
            if state == 'delayed' then redis.call('HINCRBY', P .. ':held', held, -1) end
            redis.call('HDEL', key, 'held_by', 'turn_at')
        end
        -- a dead job (out of its set already) back to ready, its attempts and error gone and its
        -- queue wait starting now (a key it still holds is held again while it waits: no longer
        -- to expire)
        local function revive(id, key)
            local u = redis.call('HGET', key, 'unique_key')
            if u and redis.call('GET', P .. ':unique:' .. u) == string.format('%d', id) then
                redis.call('PERSIST', P .. ':unique:' .. u)
            end
            redis.call('HSET', key, 'attempts', 0, 'run_at', 0, 'ready_at', now_ms())
            redis.call('HDEL', key, 'error', 'finished_at', 'held_by', 'turn_at')
            to_ready(id, key, redis.call('HGET', key, 'grp'), 'dead')
        end
        local function delete_job(m, state)
            local key = job(tonumber(m))
            local grp = redis.call('HGET', key, 'grp')
            unhold(key, state)
            free_unique(tonumber(m), key, nil)
            redis.call('DEL', key)
            redis.call('ZREM', P .. ':' .. state, m)
            if grp then
                redis.call('ZREM', P .. ':group:' .. grp .. ':jobs', m)
                count_group(grp, state, nil)
                drop_group_if_empty(grp)
            end
        end

        """#

    static func script(_ body: String) -> RedisScript { RedisScript(prelude + body) }

    /// ARGV: queue, priority, delay (ms), max_attempts ('' for the pool's), group ('' for none),
    /// unique_for (ms, '' or 0 for none), keyed ('1' or ''), limit key ('' for none), then the
    /// payloads; keyed, each
    /// payload comes after its unique key ('' for none). Returns {first id, last id}; keyed, one
    /// number a payload: the new job's id, or minus the id of the job holding its key (a
    /// duplicate, not queued).
    public static let push = script(#"""
        local keyed = ARGV[7] == '1'
        local width = 1
        if keyed then width = 2 end
        local n = (#ARGV - 8) / width
        local limit_key = ARGV[8]
        if n < 1 then return {0, 0} end
        local prio = tonumber(ARGV[2])
        local delay = tonumber(ARGV[3])
        local grp = nil
        if ARGV[5] ~= '' then grp = ARGV[5] end
        local t = now_ms()
        local run_at = 0
        if delay > 0 then run_at = t + delay end
        local state = 'ready'
        if run_at > 0 then state = 'delayed' end
        local added = 0
        local out = {}
        if keyed then
            for i = 1, n do
                out[i] = new_unique_job(ARGV[7 + 2 * i], ARGV[6], ARGV[8 + 2 * i], prio, t, run_at, ARGV[4], grp, limit_key)
                if out[i] > 0 then added = added + 1 end
            end
        else
            local last = redis.call('INCRBY', P .. ':seq', n)
            for i = 1, n do new_job(last - n + i, ARGV[8 + i], prio, t, run_at, ARGV[4], grp, limit_key) end
            out = {last - n + 1, last}
            added = n
        end
        if grp and added > 0 then redis.call('HINCRBY', P .. ':group:' .. grp, state, added) end
        redis.call('SADD', 'solo:queues', ARGV[1])
        if run_at == 0 and added > 0 then redis.call('PUBLISH', P .. ':wake', '') end
        return out
        """#)

    /// ARGV: owner, then 5 fields an outcome: kind (start, done, result, dead, retry), id, text
    /// (the result or the error), delay (ms, retry), max_attempts (for jobs that name none).
    /// Only jobs the owner still holds change; `start`: a worker has it, it is no longer ahead.
    /// Returns the summary. A batch that ends a job is published on P:ended, heard by the
    /// supervisors whose callers wait for jobs of the queue (ClientWaiters).
    public static let finish = script(#"""
        local t = now_ms()
        local ended = false
        for i = 2, #ARGV, 5 do
            local kind = ARGV[i]
            local id = tonumber(ARGV[i + 1])
            local text = ARGV[i + 2]
            local key = job(id)
            local m = member(id)
            local f = redis.call('HMGET', key, 'state', 'owner', 'grp', 'attempts', 'max_attempts')
            if f[1] == 'reserved' and f[2] == ARGV[1] and kind == 'start' then
                redis.call('HDEL', key, 'ahead')
            elseif f[1] == 'reserved' and f[2] == ARGV[1] then
                redis.call('ZREM', P .. ':reserved', m)
                let_go(key)
                if kind == 'done' or kind == 'result' then
                    ended = true
                    free_unique(id, key, t)
                    redis.call('HSET', key, 'state', 'done', 'finished_at', t)
                    if kind == 'result' then redis.call('HSET', key, 'result', text) end
                    redis.call('ZADD', P .. ':done', t, m)
                    count_group(f[3], 'reserved', 'done')
                elseif kind == 'dead' then
                    ended = true
                    to_dead(id, key, f[3], 'reserved', text, t)
                else
                    local limit = tonumber(f[5] or ARGV[i + 4])
                    local attempts = tonumber(f[4] or '0')
                    if attempts >= limit then
                        ended = true
                        to_dead(id, key, f[3], 'reserved', text .. ' (no attempt left: ' .. attempts .. ' of ' .. limit .. ')', t)
                    else
                        local run_at = t + tonumber(ARGV[i + 3])
                        redis.call('HSET', key, 'state', 'delayed', 'run_at', run_at, 'error', text)
                        redis.call('HDEL', key, 'ready_at')
                        redis.call('ZADD', P .. ':delayed', run_at, m)
                        count_group(f[3], 'reserved', 'delayed')
                    end
                end
            end
        end
        if ended then redis.call('PUBLISH', P .. ':ended', '') end
        return summary(t)
        """#)

    /// ARGV: keep (ms), limit, offset. Deletes done jobs finished more than `keep` ago, but those
    /// of a group that still runs in any queue and those whose unique_until has not passed (as
    /// JobStore.purgeDone does), looking at `limit` of them from `offset` (the ones a caller
    /// skipped before). Returns {deleted, looked at, skipped}; looked at = limit: there may be
    /// more, from offset + skipped.
    public static let purgeDone = script(#"""
        local t = now_ms()
        -- A group may span queues (a worker pushes to another queue within its job's group):
        -- it runs while any queue has a job of it waiting or running.
        local queues, runs = nil, {}
        local function group_runs(grp)
            if runs[grp] == nil then
                queues = queues or redis.call('SMEMBERS', 'solo:queues')
                runs[grp] = false
                for _, q in ipairs(queues) do
                    local g = redis.call('HMGET', 'solo:{' .. q .. '}:group:' .. grp, 'ready', 'delayed', 'reserved')
                    if tonumber(g[1] or '0') + tonumber(g[2] or '0') + tonumber(g[3] or '0') > 0 then runs[grp] = true; break end
                end
            end
            return runs[grp]
        end
        local old = redis.call('ZRANGEBYSCORE', P .. ':done', '-inf', t - tonumber(ARGV[1]), 'LIMIT', tonumber(ARGV[3]), tonumber(ARGV[2]))
        local n = 0
        for _, m in ipairs(old) do
            local id = tonumber(m)
            local key = job(id)
            local f = redis.call('HMGET', key, 'grp', 'unique_until')
            local grp = f[1]
            -- a job whose unique key outlives it is kept until then (its id answers a duplicate)
            if (not grp or not group_runs(grp)) and not (f[2] and tonumber(f[2]) > t) then
                free_unique(id, key, nil)
                redis.call('DEL', key)
                redis.call('ZREM', P .. ':done', m)
                if grp then
                    redis.call('ZREM', P .. ':group:' .. grp .. ':jobs', m)
                    count_group(grp, 'done', nil)
                    drop_group_if_empty(grp)
                end
                n = n + 1
            end
        end
        return {n, #old, #old - n}
        """#)

    /// No ARGV: the summary (ready with the inbox, delayed, reserved, dead, ms to the next
    /// delayed job).
    public static let summary = script(#"""
        return summary(now_ms(), true)
        """#)

    /// ARGV: queue. Brings due delayed jobs and the inbox in, as a reserve does, and returns
    /// the summary.
    public static let promote = script(#"""
        local t = now_ms()
        promote(t, 1000)
        ingest(t, 1000, ARGV[1])
        return summary(t)
        """#)

    /// ARGV: owner, id, worker. Notes which worker holds the job, for `solo push` run by it.
    public static let assign = script(#"""
        local key = job(tonumber(ARGV[2]))
        local f = redis.call('HMGET', key, 'state', 'owner', 'grp')
        if f[1] ~= 'reserved' or f[2] ~= ARGV[1] or not f[3] then return 0 end
        redis.call('HSET', key, 'worker', ARGV[3])
        redis.call('SET', P .. ':worker:' .. ARGV[3], f[3])
        redis.call('SET', P .. ':worker:' .. ARGV[3] .. ':job', key)
        return 1
        """#)
}
