/// What a pool has done since solo started, for the metrics: counters only ever grow (a
/// scraper takes rates of them), so they live as long as the pool, across reloads.
public struct PoolCounters: Equatable, Sendable {
    /// Workers started, and starts that failed (the program could not be run).
    public private(set) var starts = 0
    public private(set) var failedStarts = 0
    /// Worker exits by why they left: a `RetireReason`'s label, or `died` when nobody asked.
    public private(set) var exits: [String: Int] = [:]
    /// Jobs by outcome: `done`, `failed`, `retried` as the worker said; `timed_out` and
    /// `worker_died` for jobs whose worker was killed or died holding them.
    public private(set) var jobs: [String: Int] = [:]
    /// How long jobs took, from handing one to a worker to its answer (feed mode).
    public private(set) var jobSeconds = Histogram(bounds: Histogram.jobSeconds)
    /// How long jobs waited in the queue, from ready to handed to a worker (feed mode).
    public private(set) var queueWaitSeconds = Histogram(bounds: Histogram.queueWaitSeconds)

    public static let exitReasons = ["job_limit", "memory_limit", "memory_kill", "lifetime", "restart", "job_timeout",
                                     "protocol_error", "scaled_down", "stopped", "standby", "shutdown", "died"]
    public static let jobOutcomes = ["done", "failed", "retried", "timed_out", "worker_died"]

    public mutating func started() { starts += 1 }
    public mutating func failedToStart() { failedStarts += 1 }

    public mutating func exited(_ worker: Worker) {
        exits[worker.ending.label, default: 0] += 1
        if worker.job != nil { lost(timedOut: worker.jobTimedOut) }
    }

    /// A job that ended without an answer: killed for job_timeout, or its worker (or PHP-FPM
    /// request) gone.
    public mutating func lost(timedOut: Bool) { jobs[timedOut ? "timed_out" : "worker_died", default: 0] += 1 }

    /// A job handed to a worker, after waiting this long in its queue.
    public mutating func handedOut(waited: Duration) { queueWaitSeconds.observe(Double(waited.nanoseconds) / 1e9) }

    /// A worker's answer about a job; `duration` when solo knows when the job began.
    public mutating func answered(_ message: WorkerMessage, duration: Duration?) {
        let outcome: String
        switch message {
        case .ok: outcome = "done"
        case .fail: outcome = "failed"
        case .retry: outcome = "retried"
        case .ready, .status, .invalid: return
        }
        jobs[outcome, default: 0] += 1
        if let duration { jobSeconds.observe(Double(duration.nanoseconds) / 1e9) }
    }
}

extension RetireReason {
    /// The reason as a metrics label.
    public var label: String {
        switch self {
        case .jobs: return "job_limit"
        case .memory: return "memory_limit"
        case .lifetime: return "lifetime"
        case .restart: return "restart"
        case .jobTimedOut: return "job_timeout"
        case .scaledDown: return "scaled_down"
        case .poolStopped: return "stopped"
        case .protocolError: return "protocol_error"
        case .standby: return "standby"
        case .shutdown: return "shutdown"
        }
    }
}
