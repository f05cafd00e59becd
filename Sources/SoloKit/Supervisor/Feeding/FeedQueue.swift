/// One queue in one store, as the feeder keeps it: the outcomes waiting and in flight, and the
/// upkeep it is owed (its own stale leases taken back, leases renewed, delayed jobs brought
/// due, old done jobs deleted).
final class FeedQueue {
    struct Key: Hashable {
        let address: FeedStores.Address
        let name: String
    }

    let key: Key
    let store: any FeedStore
    var name: String { key.name }
    /// Counts the times the store was found to be another one (a queue file replaced on disk):
    /// a job taken from an earlier one has no row in this one (or, worse, another job's id).
    var generation = 0
    /// Whether the queue may have jobs we have not looked for.
    var maybeNewJobs = true
    var reserving = false
    /// Whether its pool sets limits (JobLimits), and which of the queue's own bound at the
    /// last reserve (`solo status` shows it).
    var limited = false
    var limitedBy: LimitName?
    /// When to look again for jobs no event told of, while a worker waits (see
    /// FeedStore.lookInterval), or ask again a store that refused.
    var nextLook: Moment?
    /// The last refusal of a reserve that was logged (logged once, not every second).
    var refusal: String?
    var outcomes: [JobOutcome] = []
    var firstOutcome: Moment?
    /// Batches sent and not answered yet, by number.
    var inFlight: [Int: [JobOutcome]] = [:]
    var nextBatch = 0
    var outcomeRetry = Refusals()
    /// Whether the jobs leased under our own name that we do not know of were taken back since
    /// the store came up: until then the queue gives no job (they would be taken back from
    /// under our workers).
    var reclaimed = false
    var reclaiming = false
    var reclaimRetry = Refusals()
    /// Leases to renew (set every maintenance, cleared once it has worked).
    var renewDue = false
    var renewing = false
    var renewRetry = Refusals()
    /// When the next delayed job is due.
    var nextDelayed: Moment?
    var promoting = false
    /// Old done jobs are deleted a step at a time until none is left.
    var purging = false
    var purgeInFlight = false
    /// Done jobs spared in this purge round (a running group's): the next step starts after them.
    var purgeOffset = 0

    init(key: Key, store: any FeedStore) {
        self.key = key
        self.store = store
    }

    /// The jobs whose outcome is waiting or in flight.
    var owed: [Int64] { outcomes.map(\.id) + inFlight.values.flatMap { $0.map(\.id) } }

    /// A batch that was not written goes back before the outcomes recorded since.
    func putBack(_ batch: [JobOutcome], now: Moment) {
        outcomes.insert(contentsOf: batch, at: 0)
        if firstOutcome == nil { firstOutcome = now }
    }
}

/// A request a store refused is tried again later, doubling from 1 s to 30 s, and the refusal
/// is logged once per message.
struct Refusals {
    var at: Moment?
    private var wait = Doubling(from: .seconds(1), to: .seconds(30))
    private var last: String?

    /// Returns whether to log it.
    mutating func refused(_ message: String, now: Moment) -> Bool {
        at = now + wait.next()
        defer { last = message }
        return last != message
    }

    mutating func accepted() {
        at = nil
        wait.reset()
        last = nil
    }

    func due(_ now: Moment) -> Bool { at.map { now >= $0 } ?? true }
}
