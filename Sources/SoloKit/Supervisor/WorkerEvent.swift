// What happens to a worker (`WorkerEvent`) and what its state machine asks for in return
// (`WorkerAction`); see `Worker`.

public enum WorkerEvent: Equatable, Sendable {
    case message(WorkerMessage)
    /// A full sample: the resident memory of the worker's whole process tree, and of the
    /// worker's own process in it.
    case memory(UInt64, own: UInt64)
    /// After a job outcome: the worker's own resident memory (one read of its statm); the
    /// tree's other members count as the last full sample found them.
    case ownMemory(UInt64)
    /// The moment a deadline of this worker has passed.
    case timeout
    /// Leave on purpose; a recycle or restart gets a replacement at once.
    case retire(RetireReason)
    /// Leave now: SIGKILL.
    case kill
    /// A line read from fd 3 after the worker was reaped: counted, but it starts nothing.
    case finalMessage(WorkerMessage)
    /// It printed a line that is exactly an outcome word on stdout or stderr, not on fd 3.
    case printedOutcome(String)
    /// Its fd 3 broke the protocol beyond repair (a line over the limit): it is stopped and
    /// its slot backs off, as after a crash.
    case brokeProtocol(String)
    /// Its fd 3 reached end of file while it runs. In feed mode it can report no job, so it is
    /// stopped, unless it exits within the start grace (a dying worker closes fd 3 first).
    case controlClosed
    /// Feed mode: a job was written to the worker's stdin.
    case assigned(ReservedJob)
    /// Feed mode, prefetch: a job was written to its stdin behind the one it runs.
    case assignedAhead(ReservedJob)
    /// The job written ahead is the one it runs now: its predecessor was answered, and it was
    /// not taken back (or the worker answered it already).
    case aheadBegun
    /// The job written ahead was taken back out of its stdin, unread.
    case aheadTakenBack
    /// The same, to be handed to an idle worker: it is no longer this worker's.
    case aheadHandedOver
    /// It exited without reading the job in hand (its line was still in the pipe): the job
    /// never began.
    case jobTakenBack
    /// Feed mode: the worker was seen blocked reading its stdin, so it has booted and waits
    /// for a job.
    case waitingForInput
    case exited(ExitStatus)
}

public enum WorkerAction: Equatable, Sendable {
    /// Send a signal to the worker's process group.
    case signal(Int32)
    case closeInput
    /// The worker is leaving on purpose: its slot should start a replacement now, so that
    /// capacity does not dip while it drains.
    case replace
    /// Feed mode: the worker reported the outcome of the job it held.
    case finished(ReservedJob, WorkerMessage)
    /// Feed mode, prefetch: the job written ahead is the one it runs now (its group is noted
    /// for the worker; its attempt is spent by its outcome).
    case began(ReservedJob)
    /// Feed mode: a job written to the worker never began (written ahead of a job it never
    /// answered, or its line taken back out of the stdin unread); it goes back with its attempt.
    case givenBack(ReservedJob)
    /// Feed mode: look whether the starting worker waits on its stdin (`.waitingForInput` if so).
    case probeInput
    case log(String)
}
