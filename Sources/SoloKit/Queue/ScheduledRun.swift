/// One run of a schedule (`[schedule:NAME]`), as a store pushes it: exactly once per schedule
/// and scheduled time, however many supervisors try (see JobStore.pushRun and
/// RedisScheduleScripts.pushRun).
public struct ScheduledRun: Equatable, Sendable {
    public var schedule: String
    /// The scheduled time, in seconds since the epoch.
    public var time: Int64
    public var queue: String
    public var job: NewJob
    /// The unique key the job holds while it waits or runs; a run whose key is held by an
    /// earlier run's job is not pushed (nil: runs may overlap).
    public var uniqueKey: String?

    public init(schedule: String, time: Int64, queue: String, job: NewJob, uniqueKey: String? = nil) {
        self.schedule = schedule
        self.time = time
        self.queue = queue
        self.job = job
        self.uniqueKey = uniqueKey
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
/// the same run, by this supervisor or another, made it before). With `overlapped`, the run was
/// not pushed at all: `jobID` is an earlier run's job, which still waits or runs.
public struct RunPush: Equatable, Sendable {
    public var jobID: Int64
    public var pushedNow: Bool
    public var overlapped: Bool

    public init(jobID: Int64, pushedNow: Bool, overlapped: Bool = false) {
        self.jobID = jobID
        self.pushedNow = pushedNow
        self.overlapped = overlapped
    }
}
