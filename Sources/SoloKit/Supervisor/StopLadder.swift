import Glibc

/// How a worker is stopped: each step does something and then waits; when the wait runs out
/// the next step follows. The ladder is data, so a recycle, a shutdown and a memory kill are
/// the same mechanism with different steps.
public struct StopStep: Equatable, Sendable {
    public enum Action: Equatable, Sendable {
        case closeInput
        case signal(Int32)
    }

    public var action: Action
    public var state: WorkerState
    /// nil: wait for as long as it takes.
    public var wait: Duration?
}

/// A stop ladder being climbed: each step acts, then waits; when the wait runs out the next
/// step follows. Workers and the leftovers of dead workers climb the same ladders.
public struct StopLadder: Equatable, Sendable {
    private var steps: [StopStep]
    /// When the current step's wait runs out (nil: wait for as long as it takes).
    public private(set) var deadline: Moment?
    public private(set) var killSent = false

    public init(_ steps: [StopStep]) { self.steps = steps }

    public var isExhausted: Bool { steps.isEmpty }

    /// Takes the next step, if any is left, and starts its wait.
    public mutating func climb(now: Moment) -> StopStep? {
        guard !steps.isEmpty else {
            deadline = nil
            return nil
        }
        let step = steps.removeFirst()
        if case .signal(SIGKILL) = step.action { killSent = true }
        deadline = step.wait.map { now + $0 }
        return step
    }
}
