import Glibc

/// Every state a worker can be in; `solo status` and the logs speak the same words.
public enum WorkerState: String, Sendable {
    /// Spawned; not yet `ready` (its ready line, seen waiting on its stdin, its first job, or start_grace alive).
    case starting
    /// Alive and available.
    case ready
    /// Holding a job (feed mode).
    case busy
    /// Asked to finish and exit (EOF on stdin, or `stop_signal` in poll mode).
    case draining
    /// Being forced out: the next signal on the stop ladder, up to SIGKILL.
    case stopping
    /// Reaped.
    case exited
    /// Dead; its slot waits before the next start.
    case backoff
}

/// What a pool's workers are told to do, from the pool's config.
public struct WorkerPolicy: Equatable, Sendable {
    public var stopSignal: Int32
    public var stopTimeout: Duration
    public var memoryLimit: UInt64?
    public var memoryKill: UInt64?
    /// Feed mode: jobs arrive on stdin, and a graceful stop begins with EOF there.
    public var feedsJobs: Bool
    public var jobTimeout: Duration?
    /// How long a worker that says nothing stays `starting`.
    public var startGrace: Duration
    /// Feed mode: how often a starting worker is looked at to see whether it waits on its stdin.
    public var inputProbeInterval: Duration = .milliseconds(5)
    /// How long to wait after SIGKILL before saying the process seems stuck.
    public var killWait: Duration = .seconds(5)

    public init(pool: PoolConfig) {
        stopSignal = pool.stopSignal
        stopTimeout = pool.stopTimeout
        memoryLimit = pool.memoryLimit
        memoryKill = pool.memoryKill
        feedsJobs = pool.queue.feedsJobs
        jobTimeout = pool.jobTimeout
        startGrace = pool.startGrace
    }

    /// Feed mode: EOF on stdin (the worker finishes its job and exits), `stop_signal` after
    /// `stop_timeout`, SIGKILL after another. Poll mode: `stop_signal` at once (Laravel and
    /// Symfony workers finish the current job on SIGTERM), SIGKILL after `stop_timeout`.
    public var gracefulLadder: [StopStep] {
        guard feedsJobs else { return signalLadder }
        var steps = [StopStep(action: .closeInput, state: .draining, wait: stopTimeout)]
        if stopSignal != SIGKILL { steps.append(StopStep(action: .signal(stopSignal), state: .stopping, wait: stopTimeout)) }
        steps.append(StopStep(action: .signal(SIGKILL), state: .stopping, wait: killWait))
        return steps
    }

    /// `stop_signal`, then SIGKILL after `stop_timeout`: for poll-mode workers, and for what a
    /// dead worker left behind (closing a stdin means nothing to them).
    public var signalLadder: [StopStep] {
        var steps: [StopStep] = []
        if stopSignal != SIGKILL { steps.append(StopStep(action: .signal(stopSignal), state: .draining, wait: stopTimeout)) }
        steps.append(StopStep(action: .signal(SIGKILL), state: .stopping, wait: killWait))
        return steps
    }

    public var killLadder: [StopStep] {
        [StopStep(action: .signal(SIGKILL), state: .stopping, wait: killWait)]
    }
}
