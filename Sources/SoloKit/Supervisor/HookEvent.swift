import Glibc

/// Something `on_event` hears of: what happened and its facts, which the hook gets as SOLO_*
/// variables (as supervisord's event listeners get a header, and systemd's OnFailure= units
/// the failed unit's name). Pure: which events a worker's end, a job's outcome or a slot's
/// back-off make is decided here; the supervisor only runs the hooks.
public struct HookEvent: Equatable, Sendable {
    public enum Kind: String, Equatable, Sendable, CaseIterable {
        case crash, recycle, backoff
        case jobDead = "job_dead"
        case lockGained = "lock_gained"
        case lockLost = "lock_lost"
        case alert
        case alertCleared = "alert_cleared"
    }

    public var kind: Kind
    public var pool: String?
    public var pid: pid_t?
    public var slot: Int?
    public var reason: String?
    /// How the worker exited, as LAST EXIT in `solo status` says.
    public var exit: String?
    public var jobID: Int64?
    public var queue: String?
    public var error: String?

    public init(_ kind: Kind, pool: String? = nil, pid: pid_t? = nil, slot: Int? = nil, reason: String? = nil,
                exit: String? = nil, jobID: Int64? = nil, queue: String? = nil, error: String? = nil) {
        self.kind = kind
        self.pool = pool
        self.pid = pid
        self.slot = slot
        self.reason = reason
        self.exit = exit
        self.jobID = jobID
        self.queue = queue
        self.error = error
    }

    /// Every variable a hook may get; those an event has no fact for are left out, not empty.
    public static let variableNames = ["SOLO_EVENT", "SOLO_POOL", "SOLO_PID", "SOLO_SLOT", "SOLO_REASON", "SOLO_EXIT",
                                       "SOLO_JOB_ID", "SOLO_QUEUE", "SOLO_ERROR", "SOLO_HOST", "SOLO_TIME"]

    /// The facts as the hook's variables, with this host's name and the time (RFC 3339, UTC).
    public func variables(host: String, time: Int64) -> [(String, String)] {
        let facts: [(String, String?)] = [
            ("SOLO_EVENT", kind.rawValue), ("SOLO_POOL", pool), ("SOLO_PID", pid.map { String($0) }), ("SOLO_SLOT", slot.map { String($0) }),
            ("SOLO_REASON", reason), ("SOLO_EXIT", exit), ("SOLO_JOB_ID", jobID.map { String($0) }), ("SOLO_QUEUE", queue),
            ("SOLO_ERROR", error), ("SOLO_HOST", host), ("SOLO_TIME", CivilTime.rfc3339(time)),
        ]
        return facts.compactMap { name, value in value.map { (name, $0) } }
    }

    /// The event a slot's worker's end makes: a crash when it died unasked, a recycle (with
    /// its reason) when solo replaced it for one of its limits; nil when it was asked to go
    /// (a stop, a restart, scaling down), which the operator knows already.
    public static func ending(_ ending: WorkerEnding, pool: String, slot: Int, pid: pid_t) -> HookEvent? {
        let reason: String
        switch ending.cause {
        case .died:
            return HookEvent(.crash, pool: pool, pid: pid, slot: slot, reason: "died", exit: ending.lastExit)
        case .killedForMemory:
            reason = "memory_kill"
        case .retired(let why):
            switch why {
            case .jobs: reason = "jobs"
            case .memory: reason = "memory"
            case .lifetime: reason = "lifetime"
            case .jobTimedOut: reason = "job_timeout"
            case .protocolError: reason = "protocol_error"
            case .restart, .scaledDown, .poolStopped, .standby, .shutdown: return nil
            }
        }
        return HookEvent(.recycle, pool: pool, pid: pid, slot: slot, reason: reason, exit: ending.lastExit)
    }

    /// The event of a job outcome that leaves the job dead: the worker's `fail`, or a retry
    /// (its own, or its worker's death) with no attempt left (`poolAttempts` for a job naming none).
    public static func jobDead(_ job: ReservedJob, _ outcome: JobOutcome, pool: String, queue: String) -> HookEvent? {
        switch outcome {
        case .dead(_, let error):
            return HookEvent(.jobDead, pool: pool, reason: "failed", jobID: job.id, queue: queue, error: error)
        case .retry(_, let error, _, let poolAttempts) where job.attempts >= (job.maxAttempts ?? poolAttempts):
            return HookEvent(.jobDead, pool: pool, reason: "no attempt left (\(job.attempts) of \(job.maxAttempts ?? poolAttempts))",
                             jobID: job.id, queue: queue, error: error)
        case .started, .done, .retry:
            return nil
        }
    }
}
