import Glibc

/// How a worker's life ended, read once when it is reaped. Whether its slot backs off, what
/// `solo status` shows as LAST EXIT and the exit reason the metrics count all come from here.
public struct WorkerEnding: Equatable, Sendable {
    public enum Cause: Equatable, Sendable {
        /// solo asked it to go, or it left by itself at its job limit (as a worker may).
        case retired(RetireReason)
        /// Killed at memory_kill, at this tree RSS.
        case killedForMemory(UInt64)
        /// It died unasked.
        case died
    }

    public var cause: Cause
    public var status: ExitStatus
    /// It held a job when it died (feed mode).
    public var heldJob: Bool
    /// The job it held was on its first attempt: no worker had died on it before. Only such
    /// deaths count toward blaming the worker (`diedHoldingNewJob`), so that a few poison
    /// jobs coming back for their later attempts, all in a row once the good jobs are done,
    /// never pass for a broken deploy.
    public var heldNewJob: Bool
    public var jobsDone: Int

    /// Whether solo wanted it gone: a recycle, restart, stop or job_timeout, not a death or a
    /// kill for misbehaving.
    public var wasPlanned: Bool {
        switch cause {
        case .retired(.protocolError), .killedForMemory, .died: return false
        case .retired: return true
        }
    }

    /// Whether the death says the worker cannot get going (a broken deploy, a missing
    /// service), so that its slot backs off: it broke the protocol, or it died before getting
    /// through a job and holding none. A death with a job in hand is the job's fault until
    /// shown otherwise: the job's attempt is spent and it waits its retry delay, and the slot
    /// restarts at once, so that a few poison jobs cannot stall a pool (`blamesWorker(jobDeaths:)`
    /// says when it is shown otherwise).
    public var blamesWorker: Bool {
        switch cause {
        case .retired(.protocolError): return true
        case .retired: return false
        case .killedForMemory, .died: return !heldJob && jobsDone == 0
        }
    }

    /// How many deaths in a row with a new job in hand (on its first attempt), in one slot and
    /// with no job finished in the pool meanwhile, show that the worker is at fault after all (it boots, but cannot get
    /// through any job: a database down that it connects to lazily). Ten, so that a cluster of
    /// poison jobs at the head of the queue, shared among the slots and then left to their retry
    /// delays while the good jobs run, does not slow a pool (issue 13's 15 among 2 workers), while
    /// a broken deploy spends ten attempts a slot, not the whole queue's, before backing off.
    public static let jobDeathsBlamingWorker = 10

    /// It died unasked with a job in hand (memory_kill included).
    public var diedHoldingJob: Bool {
        switch cause {
        case .retired: return false
        case .killedForMemory, .died: return heldJob
        }
    }

    /// It died unasked holding a job that no worker had died on before: what counts toward
    /// `jobDeathsBlamingWorker`.
    public var diedHoldingNewJob: Bool { diedHoldingJob && heldNewJob }

    /// `blamesWorker`, or the `jobDeathsBlamingWorker`th death in a row with a job in hand
    /// (`jobDeaths` counts this one) and no job finished in the pool since: from there on each
    /// such death counts toward back-off as a boot death does (the jobs' attempts are spent all
    /// the same).
    public func blamesWorker(jobDeaths: Int) -> Bool {
        blamesWorker || diedHoldingJob && jobDeaths >= Self.jobDeathsBlamingWorker
    }

    /// LAST EXIT in `solo status`: what ended it, then how it exited.
    public var lastExit: String {
        switch cause {
        case .retired(let reason): return "\(Self.words(for: reason)) (\(status))"
        case .killedForMemory: return "killed: memory_kill (\(status))"
        case .died:
            if status.succeeded { return "exited unasked: \(status)" }
            if case .signaled(SIGKILL) = status { return "crashed: \(status) (not sent by solo: out of memory?)" }
            return "crashed: \(status)"
        }
    }

    /// The log line for a slot's worker that ended and is replaced: what ended it, then
    /// `summary` (its life), `next` (when the next one starts) and `streak` (why it backs off).
    public func restartLine(who: String, summary: String, next: String, streak: String) -> String {
        switch cause {
        case .retired(.jobTimedOut):
            return "\(who) was killed for a job over job_timeout: \(status) \(summary); \(next)"
        case .retired(.protocolError(let why)):
            return "\(who) was stopped for breaking the fd 3 protocol (\(why)): \(status) \(summary); \(next)\(streak)"
        case .retired(let reason) where !reason.startsReplacement:
            // Stopped or scaled away, and wanted again before it had gone.
            return "\(who) stopped (\(reason)): \(status) \(summary); its slot is wanted again, \(next)"
        case .retired:
            return "\(who) exited on reaching its job limit: \(status) \(summary); \(next)"
        case .killedForMemory(let bytes):
            return "\(who) was killed for memory (\(Values.formatSize(bytes))): \(status) \(summary); \(next)\(streak)"
        case .died:
            var cause = "\(status)"
            if case .signaled(SIGKILL) = status { cause += " (not sent by solo: out of memory?)" }
            return "\(who) died: \(cause) \(summary); \(next)\(streak)"
        }
    }

    /// The exit reason as a metrics label.
    public var label: String {
        switch cause {
        case .retired(let reason): return reason.label
        case .killedForMemory: return "memory_kill"
        case .died: return "died"
        }
    }

    private static func words(for reason: RetireReason) -> String {
        switch reason {
        case .jobs: return "recycled: jobs"
        case .memory: return "recycled: memory"
        case .lifetime: return "recycled: lifetime"
        case .restart: return "restarted"
        case .jobTimedOut: return "killed: job_timeout"
        case .scaledDown: return "stopped: scaled down"
        case .poolStopped: return "stopped: pool stopped"
        case .protocolError(let why): return "stopped: broke the fd 3 protocol: \(why)"
        case .standby: return "stopped: standby"
        case .shutdown: return "stopped: shutdown"
        }
    }
}

extension Worker {
    /// How it ended; meaningful once it has exited.
    public var ending: WorkerEnding {
        let cause: WorkerEnding.Cause
        if jobTimedOut {
            cause = .retired(.jobTimedOut)
        } else if let bytes = killedForMemory {
            cause = .killedForMemory(bytes)
        } else if let reason = retireReason {
            cause = .retired(reason)
        } else if let jobLimit, jobsDone >= jobLimit {
            // It exited by itself at its limit ($SOLO_MAX_JOBS), as a worker may: planned too.
            cause = .retired(.jobs(done: jobsDone, limit: jobLimit))
        } else {
            cause = .died
        }
        return WorkerEnding(cause: cause, status: exitStatus ?? .exited(-1), heldJob: job != nil,
                            heldNewJob: (job?.attempts ?? 0) == 1, jobsDone: jobsDone)
    }
}
