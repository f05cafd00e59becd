import Glibc

/// The `on_event` events of a pool's workers, read from the pool once it has taken in what
/// happened: what the pool decides stays as it was, and the events say what it decided.
extension Pool {
    /// What a worker's exit makes: a crash or a recycle (`HookEvent.ending`), and a back-off
    /// when its slot now waits before starting the next one. A warm replacement's end makes
    /// none (`wasSpare`: it was one; the pool has forgotten it by now).
    public func hookEvents(afterExitOf worker: Worker, wasSpare: Bool, now: Moment) -> [HookEvent] {
        guard !wasSpare else { return [] }
        let ending = HookEvent.ending(worker.ending, pool: name, slot: worker.slot, pid: worker.pid)
        return [ending, backoffEvent(slot: worker.slot, pid: worker.pid, now: now)].compactMap { $0 }
    }

    /// A back-off event while the slot waits to start its next worker (after a death that
    /// blames the worker, or a start that failed); nil when it starts at once.
    public func backoffEvent(slot: Int, pid: pid_t?, now: Moment) -> HookEvent? {
        guard slot < slots.count, slots[slot].current == nil, let restartAt = slots[slot].restartAt, restartAt > now else { return nil }
        let failures = slots[slot].backoff.failures
        let streak = failures > 1 ? "\(failures) failures in a row; " : ""
        return HookEvent(.backoff, pool: name, pid: pid, slot: slot, reason: "\(streak)restarting in \(Values.formatElapsed(restartAt - now))",
                         exit: slots[slot].lastExit)
    }
}
