/// Schedules' runs in a queue file: the run and its job in one transaction, keyed by schedule
/// and time (`schedule_runs`), so that two processes that push the same run make one job.
extension JobStore {
    /// Runs older than this (before the newest) are forgotten: only the last run is ever read.
    static let scheduleRunsKept: Int64 = 30 * 86400

    /// Pushes the run's job unless the run was pushed before; answers its job either way.
    public func pushRun(_ scheduled: ScheduledRun) throws(QueueError) -> RunPush {
        try run { () throws(DatabaseError) in
            try database.transaction { () throws(DatabaseError) in
                try statement("INSERT OR IGNORE INTO schedule_runs (name, scheduled, queue, pushed_at) VALUES (?, ?, ?, ?)")
                    .run([.text(scheduled.schedule), .integer(scheduled.time), .text(scheduled.queue), .integer(Self.now())])
                guard database.changes == 1 else {
                    let known = try statement("SELECT job_id FROM schedule_runs WHERE name = ? AND scheduled = ?")
                    try known.bind([.text(scheduled.schedule), .integer(scheduled.time)])
                    defer { known.reset() }
                    return RunPush(jobID: try known.step() ? known.int64(0) : 0, pushedNow: false)
                }
                let job = scheduled.job
                try statement("INSERT INTO jobs (queue, payload, priority, run_at, max_attempts, grp) VALUES (?, ?, ?, ?, ?, ?)")
                    .run([.text(scheduled.queue), .textBytes(job.payload), .integer(Int64(job.priority)), .integer(job.runAt),
                          .optional(job.maxAttempts), .optional(job.group)])
                let id = database.lastInsertRowID
                try statement("UPDATE schedule_runs SET job_id = ? WHERE name = ? AND scheduled = ?")
                    .run([.integer(id), .text(scheduled.schedule), .integer(scheduled.time)])
                try statement("DELETE FROM schedule_runs WHERE name = ? AND scheduled < ?")
                    .run([.text(scheduled.schedule), .integer(scheduled.time - Self.scheduleRunsKept)])
                return RunPush(jobID: id, pushedNow: true)
            }
        }
    }

    /// The latest run of the schedule pushed to this file, if any.
    public func lastRun(of schedule: String) throws(QueueError) -> PastRun? {
        try run { () throws(DatabaseError) in
            let last = try statement("SELECT scheduled, job_id FROM schedule_runs WHERE name = ? ORDER BY scheduled DESC LIMIT 1")
            try last.bind([.text(schedule)])
            defer { last.reset() }
            return try last.step() ? PastRun(time: last.int64(0), jobID: last.isNull(1) ? 0 : last.int64(1)) : nil
        }
    }
}
