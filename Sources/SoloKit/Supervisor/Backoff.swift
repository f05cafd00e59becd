/// Restart back-off for one worker slot: the first death that blames the worker (see
/// `WorkerEnding.blamesWorker`) restarts at once, each further quick one doubles the wait from
/// `minimum` up to `maximum` (with up to 10% jitter, so a pool whose workers all die of the same
/// cause does not restart in lock-step). A worker that stayed up for `reset`, or left in any
/// other way, starts the count afresh. It never gives up.
public struct Backoff: Equatable, Sendable {
    public let minimum: Duration
    public let maximum: Duration
    public let reset: Duration
    /// Deaths that blame the worker in a row, each before `reset` had passed.
    public private(set) var failures = 0

    public init(minimum: Duration, maximum: Duration, reset: Duration) {
        self.minimum = minimum
        self.maximum = maximum
        self.reset = reset
    }

    /// Records an exit and returns how long to wait before the next start.
    public mutating func delay(afterExitWith uptime: Duration, workerAtFault: Bool, using random: inout some RandomNumberGenerator) -> Duration {
        if !workerAtFault {
            failures = 0
            return .zero
        }
        failures = uptime >= reset ? 1 : failures + 1
        guard failures > 1 else { return .zero }
        var wait = Doubling(from: minimum, to: maximum)
        for _ in 0..<min(failures - 2, 40) { _ = wait.next() }
        let ns = wait.current.nanoseconds
        let jitter = Int64.random(in: 0...max(0, ns / 10), using: &random)
        return .nanoseconds(min(ns + jitter, maximum.nanoseconds))
    }

    /// Starts the count afresh: `solo start` and `solo restart` mean "try now".
    public mutating func forget() { failures = 0 }
}
