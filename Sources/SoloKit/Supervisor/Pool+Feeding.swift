// Which workers of a feed pool take a job now: the idle ones, and with prefetch the busy ones
// with room for one more behind the job they run.
extension Pool {
    /// Feed mode: the workers waiting for a job, oldest first.
    public var idleWorkers: [UInt64] { takingJobs { $0.isIdle } }

    /// Feed mode with prefetch: the busy workers to write a job ahead to, oldest first.
    public var workersWantingAhead: [UInt64] { config.prefetch > 0 ? takingJobs { $0.wantsAhead } : [] }

    /// The workers in their slots (not spares) that `wanting` picks, oldest first; none while
    /// the pool takes no job.
    private func takingJobs(_ wanting: (Worker) -> Bool) -> [UInt64] {
        guard config.queue.feedsJobs && !stopping && !standingBy else { return [] }
        var picked: [UInt64] = []
        for (id, worker) in workers where wanting(worker) && !isSpare(worker) { picked.append(id) }
        if picked.count > 1 { picked.sort() }
        return picked
    }
}
