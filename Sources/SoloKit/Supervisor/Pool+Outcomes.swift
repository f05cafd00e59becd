/// What a pool makes of a worker's answer, and how long a job waits before its next attempt.
extension Pool {
    /// What a worker's answer makes of its job (a job naming no `max_attempts` has the pool's).
    func outcome(of job: ReservedJob, _ message: WorkerMessage, using random: inout some RandomNumberGenerator) -> JobOutcome {
        switch message {
        case .ok(let result): return .done(id: job.id, result: result)
        case .fail(let reason): return .dead(id: job.id, error: reason ?? "failed")
        case .retry(let delay):
            return .retry(id: job.id, error: "the worker asked for a retry", delay: delay ?? retryDelay(after: job.attempts, using: &random),
                          maxAttempts: config.maxAttempts)
        case .ready, .status, .invalid: preconditionFailure("\(message) is not an outcome")
        }
    }

    /// FastCGI: a request's end, counted as a worker's answer is (or as a job its worker died
    /// holding); what becomes of its job.
    func requestEnded(_ job: ReservedJob, _ verdict: FastCGIVerdict, after duration: Duration, timedOut: Bool, now: Moment,
                      using random: inout some RandomNumberGenerator) -> JobOutcome {
        requestsInFlight -= 1
        switch verdict {
        case .answer(let message):
            jobRate.record(1, now: now)
            counters.answered(message, duration: duration)
            return outcome(of: job, message, using: &random)
        case .lost(let why):
            counters.lost(timedOut: timedOut)
            return .retry(id: job.id, error: why, delay: retryDelay(after: job.attempts, using: &random), maxAttempts: config.maxAttempts)
        }
    }

    /// FastCGI: a request for `job` is on its way.
    func requestStarted(_ job: ReservedJob) { requestsInFlight += 1 }

    /// FastCGI: the request reached PHP-FPM; its job's wait in the queue ends here (a request
    /// that never reached it leaves the job waiting).
    func requestDelivered(_ job: ReservedJob) {
        if let waited = job.waited { counters.handedOut(waited: waited) }
    }

    /// FastCGI: a request that never reached PHP-FPM (its job goes back untouched).
    func requestUndelivered() { requestsInFlight -= 1 }

    /// The wait before attempt `attempts + 1`: retry_delay's low end, doubling per attempt up to
    /// its high end, give or take a fifth, so that jobs that failed together do not return together.
    public func retryDelay(after attempts: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let low = config.retryDelay.lowerBound.nanoseconds, high = config.retryDelay.upperBound.nanoseconds
        var ns = low
        for _ in 1..<max(attempts, 1) where ns < high { ns = ns.multipliedReportingOverflow(by: 2).partialValue }
        ns = min(max(ns, 0), high)
        let jitter = Int64.random(in: -(ns / 5)...(ns / 5), using: &random)
        return .nanoseconds(max(0, ns + jitter))
    }
}
