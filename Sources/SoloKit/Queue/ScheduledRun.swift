/// One run of a schedule (`[schedule:NAME]`), as a store pushes it: exactly once per schedule
/// and scheduled time, however many supervisors try (see JobStore.pushRun and
/// RedisScheduleScripts.pushRun).
public struct ScheduledRun: Equatable, Sendable {
    public var schedule: String
    /// The scheduled time, in seconds since the epoch.
    public var time: Int64
    public var queue: String
    public var job: NewJob

    public init(schedule: String, time: Int64, queue: String, job: NewJob) {
        self.schedule = schedule
        self.time = time
        self.queue = queue
        self.job = job
    }
}

/// A run pushed before: when it was scheduled, and its job.
public struct PastRun: Equatable, Sendable {
    public var time: Int64
    public var jobID: Int64

    public init(time: Int64, jobID: Int64) {
        self.time = time
        self.jobID = jobID
    }
}

/// What came of a push: the run's job, and whether this push made it (false: another push of
/// the same run, by this supervisor or another, made it before).
public struct RunPush: Equatable, Sendable {
    public var jobID: Int64
    public var pushedNow: Bool

    public init(jobID: Int64, pushedNow: Bool) {
        self.jobID = jobID
        self.pushedNow = pushedNow
    }
}
