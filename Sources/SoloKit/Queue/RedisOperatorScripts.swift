// The scripts behind the operator's commands on a Redis queue (`solo queue list`, `retry`,
// `bury`, `purge`), as JobStore+Operator.swift is for a queue file.
extension RedisScripts {
    /// The fields of a job record, in this order.
    static let recordFields = ["state", "payload", "priority", "attempts", "max_attempts", "grp", "run_at", "created_at",
                               "finished_at", "result", "error", "unique_key"]

    /// ARGV: states (comma-separated), limit, group ('' for any), after (an id), queue, and
    /// optionally ids: then those jobs alone (the ones that exist), whatever their state. Jobs as 13 fields each
    /// (the id, then `recordFields`; '' for a missing one), in the order they would run (a
    /// group's: by id, after `after`). The inbox is made into jobs first, so
    /// that they show.
    public static let list = script(#"""
        local t = now_ms()
        ingest(t, 10000, ARGV[5])
        local wanted = {}
        for s in string.gmatch(ARGV[1], '[^,]+') do wanted[s] = true end
        local limit = tonumber(ARGV[2])
        local ids = {}
        if ARGV[6] then
            for i = 6, #ARGV do
                if redis.call('EXISTS', job(tonumber(ARGV[i]))) == 1 then ids[#ids + 1] = tonumber(ARGV[i]) end
            end
        elseif ARGV[3] ~= '' then
            local after = tonumber(ARGV[4])
            while #ids < limit do
                local page = redis.call('ZRANGEBYSCORE', P .. ':group:' .. ARGV[3] .. ':jobs', '(' .. after, '+inf', 'LIMIT', 0, 1000)
                if #page == 0 then break end
                for _, m in ipairs(page) do
                    after = tonumber(m)
                    if #ids < limit and wanted[redis.call('HGET', job(after), 'state')] then ids[#ids + 1] = after end
                end
            end
        else
            for _, state in ipairs({'ready', 'delayed', 'reserved', 'done', 'dead'}) do
                if wanted[state] and #ids < limit then
                    for _, m in ipairs(redis.call('ZRANGE', P .. ':' .. state, 0, limit - #ids - 1)) do ids[#ids + 1] = tonumber(m) end
                end
            end
        end
        local out = {}
        local fields = {'state', 'payload', 'priority', 'attempts', 'max_attempts', 'grp', 'run_at', 'created_at',
                        'finished_at', 'result', 'error', 'unique_key'}
        for _, id in ipairs(ids) do
            local f = redis.call('HMGET', job(id), unpack(fields))
            out[#out + 1] = id
            for i = 1, #fields do out[#out + 1] = f[i] or '' end
        end
        return out
        """#)

    /// ARGV: limit. Up to `limit` dead jobs back to ready with their attempts reset. Returns
    /// how many.
    public static let retryDead = script(#"""
        local n = 0
        for _, m in ipairs(redis.call('ZRANGE', P .. ':dead', 0, tonumber(ARGV[1]) - 1)) do
            redis.call('ZREM', P .. ':dead', m)
            revive(tonumber(m), job(tonumber(m)))
            n = n + 1
        end
        if n > 0 then redis.call('PUBLISH', P .. ':wake', '') end
        return n
        """#)

    /// ARGV: state (ready, delayed, done or dead), limit. Deletes up to `limit` jobs in that
    /// state (ready: the inboxes too). Returns how many.
    public static let purge = script(#"""
        local state = ARGV[1]
        local n = 0
        if state == 'ready' then
            n = redis.call('LLEN', P .. ':inbox') + redis.call('LLEN', P .. ':inbox:unique')
            redis.call('DEL', P .. ':inbox', P .. ':inbox:unique')
        end
        for _, m in ipairs(redis.call('ZRANGE', P .. ':' .. state, 0, tonumber(ARGV[2]) - 1)) do
            delete_job(m, state)
            n = n + 1
        end
        return n
        """#)

    /// ARGV: change (retry, bury or delete), the error of a buried job, the states the change
    /// takes (comma-separated: JobChange.from), then ids. Changes each job that is in one of
    /// those states; returns the state of each id before ('' for no such job).
    public static let change = script(#"""
        local t = now_ms()
        local takes = {}
        for s in string.gmatch(ARGV[3], '[^,]+') do takes[s] = true end
        local out = {}
        for i = 4, #ARGV do
            local id = tonumber(ARGV[i])
            local key = job(id)
            local m = member(id)
            local state = redis.call('HGET', key, 'state') or ''
            out[#out + 1] = state
            if takes[state] then
                if ARGV[1] == 'retry' then
                    redis.call('ZREM', P .. ':dead', m)
                    revive(id, key)
                    redis.call('PUBLISH', P .. ':wake', '')
                elseif ARGV[1] == 'bury' then
                    redis.call('ZREM', P .. ':' .. state, m)
                    unhold(key, state)
                    to_dead(id, key, redis.call('HGET', key, 'grp'), state, ARGV[2], t)
                elseif ARGV[1] == 'delete' then
                    delete_job(m, state)
                end
            end
        end
        return out
        """#)
}
