/// The fastcgi pools' side of feeding: their jobs go to PHP-FPM as requests (FastCGIExecutor),
/// and what the requests end in goes the way of a worker's answers (the pool's counters and
/// outcome, the feeder, the job_dead hook).
extension Supervisor {
    func makeFastCGIExecutor() -> FastCGIExecutor {
        let executor = FastCGIExecutor(epoll: epoll)
        executor.delivered = { [unowned self] pool, job in
            pool.requestDelivered(job)
            feeder.delivered(job, of: pool, now: Moment.now())
        }
        executor.ended = { [unowned self] pool, job, ending, duration in requestEnded(pool, job, ending, after: duration) }
        executor.say = { [unowned self] pool, message in say("pool \(pool.name): \(message)", alsoTo: pool) }
        return executor
    }

    /// Sends jobs for the pool's free requests, while it takes jobs.
    func sendRequests(_ pool: Pool, now: Moment) {
        guard !pool.paused, !pool.stopping, !pool.standingBy, !pool.removed else { return }
        for job in feeder.take(for: pool, count: fastcgi.room(for: pool, now: now), now: now, given: false) {
            // After a request that could not reach PHP-FPM, the rest of the batch goes back unsent.
            if fastcgi.holdsBack(pool, now: now) { feeder.giveBack(job, of: pool); continue }
            if job.group != nil { feeder.assign(job, of: pool, to: "\(feeder.owner)/\(pool.name)/fastcgi") }
            fastcgi.send(job, for: pool, now: now)
        }
    }

    private func requestEnded(_ pool: Pool, _ job: ReservedJob, _ ending: FastCGIExecutor.Ending, after duration: Duration) {
        let now = Moment.now()
        switch ending {
        case .undelivered(_, let busy):
            pool.requestUndelivered()
            feeder.giveBack(job, of: pool)
            // The jobs taken ahead go back too, for other supervisors while this one waits (not
            // for a moment's wait while PHP-FPM is busy).
            if !busy { feeder.releaseAhead(of: pool) }
        case .ended(let verdict, let timedOut):
            let outcome = pool.requestEnded(job, verdict, after: duration, timedOut: timedOut, now: now, using: &random)
            var commands = [PoolCommand.finish(job, outcome)]
            if case .retry(_, let error, let delay, _) = outcome, case .lost = verdict {
                let limit = job.maxAttempts ?? pool.config.maxAttempts
                let fate = job.attempts >= limit ? "no attempt left: dead" : "back in \(Values.formatElapsed(delay))"
                commands.append(.log("job \(job.id) (attempt \(job.attempts) of \(limit)): \(error) (\(fate))"))
            }
            perform(commands, for: pool)
        }
    }

    /// A fastcgi pool in `solo status`: where its PHP-FPM is, its requests in flight, and why
    /// its jobs wait while they do.
    func fastCGIStatus(of pool: Pool, now: Moment) -> JSON? {
        guard let address = pool.config.fastcgi else { return nil }
        var fields: [(String, JSON)] = [("address", .string(address.description)), ("script", .optional(pool.config.script)),
                                        ("in_flight", .number(Int64(pool.requestsInFlight)))]
        if let outage = fastcgi.problem(of: pool, now: now) {
            fields += [("problem", .string(outage.problem)), ("retry_in_ms", .number(outage.retryIn.nanoseconds / 1_000_000))]
        }
        return .object(fields)
    }
}
