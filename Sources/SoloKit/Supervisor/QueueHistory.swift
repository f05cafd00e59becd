/// A pool's throughput and queue-wait over the last hour, for the dashboard's charts: one
/// sample every `interval`, the oldest overwritten past `capacity` (bounded memory whatever
/// runs). Pure: the supervisor hands it the pool's counters, which only grow, and the time.
public struct QueueHistory: Sendable {
    public static let interval: Duration = .seconds(10)
    /// An hour of samples.
    public static let capacity = 360

    /// What the counters said at a sample: jobs answered and the queue-wait histogram's sum and count.
    public struct Totals: Equatable, Sendable {
        public var jobs: Int
        public var waitSeconds: Double
        public var waits: Int
    }

    public struct Sample: Equatable, Sendable {
        /// Milliseconds since the epoch (the page draws wall-clock times).
        public let atMs: Int64
        /// Jobs answered per second since the sample before.
        public let jobsPerSecond: Double
        /// The mean wait of the jobs handed out since the sample before; nil: none was.
        public let meanWaitMs: Int64?
        /// The oldest ready job's age at the sample; nil: none waits (or the queue was not read).
        public let oldestWaitingMs: Int64?
    }

    public let capacity: Int
    private var ring: [Sample] = []
    /// Where the next sample goes once the ring is full.
    private var next = 0
    private var last: (atMs: Int64, totals: Totals)?

    public init(capacity: Int = Self.capacity) { self.capacity = max(1, capacity) }

    /// Takes a sample; the first only sets where the differences start from. Counters that went
    /// back (a pool replaced) start over in the same way.
    public mutating func record(atMs: Int64, totals: Totals, oldestWaitingMs: Int64?) {
        defer { last = (atMs, totals) }
        guard let last, atMs > last.atMs, totals.jobs >= last.totals.jobs, totals.waits >= last.totals.waits else { return }
        let waits = totals.waits - last.totals.waits
        let sample = Sample(atMs: atMs, jobsPerSecond: Double(totals.jobs - last.totals.jobs) * 1000 / Double(atMs - last.atMs),
                            meanWaitMs: waits == 0 ? nil : Int64(((totals.waitSeconds - last.totals.waitSeconds) / Double(waits) * 1000).rounded()),
                            oldestWaitingMs: oldestWaitingMs)
        if ring.count < capacity {
            ring.append(sample)
        } else {
            ring[next] = sample
        }
        next = (next + 1) % capacity
    }

    /// The samples, oldest first.
    public var samples: [Sample] { ring.count < capacity ? ring : Array(ring[next...] + ring[..<next]) }

    /// `[[at_ms, jobs_per_second, mean_wait_ms, oldest_waiting_ms], ...]`: compact, as a page fetches it.
    public var json: JSON {
        .array(samples.map { sample in
            .array([.number(sample.atMs), .double((sample.jobsPerSecond * 100).rounded() / 100),
                    sample.meanWaitMs.map { .number($0) } ?? .null, sample.oldestWaitingMs.map { .number($0) } ?? .null])
        })
    }
}

extension QueueHistory.Totals {
    init(_ counters: PoolCounters) {
        self.init(jobs: counters.jobs.values.reduce(0, +), waitSeconds: counters.queueWaitSeconds.sum, waits: counters.queueWaitSeconds.count)
    }
}
