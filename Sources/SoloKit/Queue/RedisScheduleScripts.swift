/// Schedules' runs on a Redis server (see ScheduledRun), in the queue's slot. For a queue Q
/// with prefix P = `solo:{Q}`:
///
///     P:schedules  HASH  NAME → `TIME:ID`, schedule NAME's latest run pushed (TIME in Unix
///                        seconds) and its job
///
/// A run at or before the latest one was pushed before: checked and written with the run's job
/// in one script, so a run is pushed once however many supervisors try (as JobStore.pushRun
/// does in a queue file).
public enum RedisScheduleScripts {
    /// ARGV: queue, schedule, time (s), priority, max_attempts (''), group (''), payload, fence
    /// key (''), fence token, unique key (''). Returns {1, id} for a job made now, {0, id of the
    /// latest run} for a run pushed before, {2, id} for a run not pushed because job id of an
    /// earlier run still holds the unique key (the run counts as the latest, with that job).
    /// With a fence key, refuses (FENCED) unless the key still holds the token.
    public static let pushRun = RedisScripts.script(#"""
        if ARGV[8] ~= '' and redis.call('GET', ARGV[8]) ~= ARGV[9] then
            return redis.error_reply('FENCED this supervisor does not hold the fleet lock')
        end
        local last = redis.call('HGET', P .. ':schedules', ARGV[2])
        if last then
            local time, job = string.match(last, '^(%d+):(%d+)$')
            if time and tonumber(time) >= tonumber(ARGV[3]) then return {0, tonumber(job)} end
        end
        local grp = nil
        if ARGV[6] ~= '' then grp = ARGV[6] end
        local t = now_ms()
        local id = new_unique_job(ARGV[10], '', ARGV[7], tonumber(ARGV[4]), t, 0, ARGV[5], grp)
        if id < 0 then
            redis.call('HSET', P .. ':schedules', ARGV[2], ARGV[3] .. ':' .. -id)
            return {2, -id}
        end
        count_group(grp, nil, 'ready')
        redis.call('HSET', P .. ':schedules', ARGV[2], ARGV[3] .. ':' .. id)
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
