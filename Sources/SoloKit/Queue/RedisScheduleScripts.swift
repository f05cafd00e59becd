/// Schedules' runs on a Redis server (see ScheduledRun), in the queue's slot. For a queue Q
/// with prefix P = `solo:{Q}`:
///
///     P:schedule:NAME:TIME  STRING  the job id of schedule NAME's run at TIME (Unix seconds),
///                                   set with NX before the job is made; expires after a day
///     P:schedules           HASH    NAME → `TIME:ID`, the latest run pushed
public enum RedisScheduleScripts {
    /// How long a run's key outlives its push: far longer than any supervisor takes to push it.
    static let runKeySeconds = 86400

    /// ARGV: queue, schedule, time (s), priority, max_attempts (''), group (''), payload, fence
    /// key (''), fence token. Returns {1, id} for a job made now, {0, id} for a run pushed before.
    /// With a fence key, refuses (FENCED) unless the key still holds the token.
    public static let pushRun = RedisScripts.script(#"""
        if ARGV[8] ~= '' and redis.call('GET', ARGV[8]) ~= ARGV[9] then
            return redis.error_reply('FENCED this supervisor does not hold the fleet lock')
        end
        local run = P .. ':schedule:' .. ARGV[2] .. ':' .. ARGV[3]
        if not redis.call('SET', run, '0', 'NX', 'EX', \#(runKeySeconds)) then
            return {0, tonumber(redis.call('GET', run))}
        end
        local grp = nil
        if ARGV[6] ~= '' then grp = ARGV[6] end
        local t = now_ms()
        local id = redis.call('INCR', P .. ':seq')
        new_job(id, ARGV[7], tonumber(ARGV[4]), t, 0, ARGV[5], grp)
        count_group(grp, nil, 'ready')
        redis.call('SET', run, id, 'KEEPTTL')
        local last = redis.call('HGET', P .. ':schedules', ARGV[2])
        if not last or tonumber(string.match(last, '^(%d+)')) < tonumber(ARGV[3]) then
            redis.call('HSET', P .. ':schedules', ARGV[2], ARGV[3] .. ':' .. id)
        end
        redis.call('SADD', 'solo:queues', ARGV[1])
        redis.call('PUBLISH', P .. ':wake', '')
        return {1, id}
        """#)

    /// ARGV: schedule. Returns `TIME:ID` of its latest run, or nil.
    public static let lastRun = RedisScripts.script(#"""
        return redis.call('HGET', P .. ':schedules', ARGV[1])
        """#)

    /// `TIME:ID` as the scripts store a run.
    public static func pastRun(_ text: String) -> PastRun? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let time = Int64(parts[0]), let id = Int64(parts[1]) else { return nil }
        return PastRun(time: time, jobID: id)
    }
}
