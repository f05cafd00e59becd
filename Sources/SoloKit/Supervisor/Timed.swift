/// A part of the supervisor with something to do at a moment of its own (a timeout, a retry,
/// a ping). The loop waits until the earliest `nextDeadline` of them all, then lets each one
/// `expire` what is due: one pass over one list, so that a new part cannot be forgotten in one
/// place and not the other.
protocol Timed {
    /// When it next has something to do; nil: nothing until an event.
    var nextDeadline: Moment? { get }
    /// Does what is due at `now` (called on every pass: nothing when nothing is due).
    func expire(now: Moment)
}

/// A deadline the supervisor keeps itself, such as a pool's (which decides, while the
/// supervisor acts), asked in the same pass as the parts'.
struct TimedCall: Timed {
    let deadline: () -> Moment?
    let action: (Moment) -> Void

    var nextDeadline: Moment? { deadline() }
    func expire(now: Moment) { action(now) }
}

/// The earlier of two optional moments.
func earlier(_ a: Moment?, _ b: Moment?) -> Moment? {
    guard let a else { return b }
    guard let b else { return a }
    return min(a, b)
}
