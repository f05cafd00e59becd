import Glibc

/// A request from a pool to start a worker in a slot, with the limits drawn for it.
public struct SpawnOrder: Equatable, Sendable {
    public var slot: Int
    public var jobLimit: Int?
    public var lifetime: Duration?
    /// A warm replacement: it boots beside the slot's worker and takes its place when it leaves.
    public var spare = false
}

/// What a pool asks the supervisor to do; the pool itself makes no system call.
public enum PoolCommand: Equatable, Sendable {
    case spawn(SpawnOrder)
    case signal(worker: UInt64, pid: pid_t, signal: Int32)
    case closeInput(worker: UInt64)
    /// Look whether the worker is blocked reading its stdin; if so, tell it `.waitingForInput`.
    case probeInput(worker: UInt64, pid: pid_t)
    case finish(ReservedJob, JobOutcome)
    /// Prefetch: a job written ahead is the one the worker runs now (its group is noted for it).
    case began(ReservedJob, worker: UInt64)
    /// A job written to a worker never began (it was taken back out of the pipe unread, or was
    /// ahead of no answered job): back to its queue with its attempt.
    case giveBack(ReservedJob)
    case log(String)
}
