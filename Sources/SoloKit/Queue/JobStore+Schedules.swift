/// Schedules' runs in a queue file: the latest run of each schedule per queue
/// (`schedule_runs`), checked and written with the run's job in one transaction, so that two
/// processes that push the same run make one job, and a run at or before the latest one pushed
/// is never pushed (as RedisScheduleScripts.pushRun does on Redis).
extension JobStore {
    /// Pushes the run's job unless it, or a later run, was pushed before, or an earlier run's job
    /// still holds the run's unique key (then the run counts as the latest, with that job);
    /// answers the job pushed now, or the latest run's.
    public func pushRun(_ scheduled: ScheduledRun) throws(QueueError) -> RunPush {
        try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in
                if let last = try latestRun(of: scheduled.schedule, queue: scheduled.queue), last.time >= scheduled.time {
                    return RunPush(jobID: last.jobID, pushedNow: false)
                }
                if let key = scheduled.uniqueKey, let holder = try holder(of: key, in: scheduled.queue) {
                    try record(scheduled, job: holder)
                    return RunPush(jobID: holder, pushedNow: false, overlapped: true)
                }
                let job = scheduled.job
                try statement("INSERT INTO jobs (queue, payload, priority, run_at, max_attempts, grp, unique_key) VALUES (?, ?, ?, ?, ?, ?, ?)")
                    .run([.text(scheduled.queue), .textBytes(job.payload), .integer(Int64(job.priority)), .integer(job.runAt),
                          .optional(job.maxAttempts), .optional(job.group), .optional(scheduled.uniqueKey)])
                let id = database.lastInsertRowID
                try record(scheduled, job: id)
                return RunPush(jobID: id, pushedNow: true)
            }
        }
    }

    /// The job holding a unique key of the queue (one that waits or runs: a schedule's job
    /// holds its key for no longer).
    private func holder(of key: String, in queue: String) throws(DatabaseError) -> Int64? {
        let holder = try statement("SELECT id FROM jobs WHERE queue = ? AND unique_key = ? AND unique_held = 1")
        try holder.bind([.text(queue), .text(key)])
        defer { holder.reset() }
        return try holder.step() ? holder.int64(0) : nil
    }

    /// Notes the run as the schedule's latest, with its job.
    private func record(_ scheduled: ScheduledRun, job id: Int64) throws(DatabaseError) {
        try statement("""
            INSERT INTO schedule_runs (queue, name, scheduled, job_id, pushed_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (queue, name) DO UPDATE SET scheduled = excluded.scheduled, job_id = excluded.job_id, pushed_at = excluded.pushed_at
            """).run([.text(scheduled.queue), .text(scheduled.schedule), .integer(scheduled.time), .integer(id), .integer(Self.now())])
    }

    /// The latest run of the schedule pushed to the queue, if any.
    public func lastRun(of schedule: String, queue: String) throws(QueueError) -> PastRun? {
        try run { () throws(DatabaseError) in try latestRun(of: schedule, queue: queue) }
    }

    private func latestRun(of schedule: String, queue: String) throws(DatabaseError) -> PastRun? {
        let last = try statement("SELECT scheduled, job_id FROM schedule_runs WHERE queue = ? AND name = ?")
        try last.bind([.text(queue), .text(schedule)])
        defer { last.reset() }
        return try last.step() ? PastRun(time: last.int64(0), jobID: last.isNull(1) ? 0 : last.int64(1)) : nil
    }
}
