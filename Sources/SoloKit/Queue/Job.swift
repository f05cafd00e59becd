/// The values a job is seen as on its way through a queue, whichever store holds it.

/// A job to enqueue.
public struct NewJob: Equatable, Sendable {
    public var payload: [UInt8]
    public var priority: Int = 0
    /// Unix milliseconds before which the job is delayed (0: ready now).
    public var runAt: Int64 = 0
    public var maxAttempts: Int?
    public var group: String?
    /// With a unique key (given to `JobWriting.add`), how long after it is queued the key stays
    /// held even once the job has ended (`solo push --unique-for`); zero: only while it waits
    /// or runs.
    public var uniqueFor: Duration = .zero
    /// The key its queue's keyed limits count it under (`solo push --key customer:42`).
    public var limitKey: String?

    public init(payload: [UInt8], priority: Int = 0, runAt: Int64 = 0, maxAttempts: Int? = nil, group: String? = nil,
                uniqueFor: Duration = .zero, limitKey: String? = nil) {
        self.payload = payload
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.group = group
        self.uniqueFor = uniqueFor
        self.limitKey = limitKey
    }
}

/// What a push did: how many jobs it queued, and which it refused because another job of the
/// queue held their unique key (solo-queue(5), "UNIQUE JOBS").
public struct Pushed: Equatable, Sendable {
    /// A job refused: its place in the push (0 for the first `add`) and the job holding its key.
    public struct Duplicate: Equatable, Sendable {
        public var index: Int
        public var existing: Int64

        public init(index: Int, existing: Int64) {
            self.index = index
            self.existing = existing
        }
    }

    public var queued = 0
    public var duplicates: [Duplicate] = []

    public init(queued: Int = 0, duplicates: [Duplicate] = []) {
        self.queued = queued
        self.duplicates = duplicates
    }
}

/// A job taken from the queue by a supervisor, leased until it finishes.
public struct ReservedJob: Equatable, Sendable {
    public var id: Int64
    public var payload: String
    public var priority: Int
    /// Attempts so far, this one included.
    public var attempts: Int
    public var maxAttempts: Int?
    public var group: String?
    /// Set when the stored payload would break the line protocol (another program inserted it).
    public var payloadProblem: PayloadProblem? = nil
    /// How long it waited to be handed out: from when it became ready (pushed, due, or back
    /// for a retry; time held back by a limit counts) to this reserve, and then to a worker.
    public var waited: Duration? = nil
    /// When the reserve's answer came (the wait goes on while it is taken ahead).
    public var arrived: Moment? = nil
}

/// What became of a job: one type from the worker's line (see `Pool`) to the store, which
/// applies it (JobStore.finish, the Redis `finish` script) only while its owner holds the job.
public enum JobOutcome: Equatable, Sendable {
    /// Given to a worker: the attempt its reserve counted is spent, even if its supervisor dies
    /// (see `reclaim`).
    case started(id: Int64)
    case done(id: Int64, result: String?)
    /// Dead at once, with its error (a `fail`, or no attempts left).
    case dead(id: Int64, error: String)
    /// Back to the queue `delay` after the store applies it, unless its attempts are used up
    /// (`maxAttempts` is the pool's default, for jobs that name none); then dead with `error`.
    case retry(id: Int64, error: String, delay: Duration, maxAttempts: Int)

    /// The job it is about.
    public var id: Int64 {
        switch self {
        case .started(let id), .done(let id, _), .dead(let id, _), .retry(let id, _, _, _): id
        }
    }
}

public struct QueueCounts: Equatable, Sendable {
    public var queue: String
    public var ready = 0, delayed = 0, reserved = 0, done = 0, dead = 0
    /// Of the delayed jobs, those held back by their key's limit (counted in `delayed` too).
    public var heldByKeyConcurrency = 0, heldByKeyRate = 0
    /// How long the oldest of the jobs next in line (the first `QueueCounts.oldestLookedAt`)
    /// has waited, in ms (nil: none is ready).
    public var oldestWaitingMs: Int64?

    /// Ready jobs looked at for the oldest: the next in line, and a bounded cost whatever the
    /// queue's length.
    public static let oldestLookedAt = 1000

    public init(queue: String) { self.queue = queue }

    /// Adds another's counts (a group spread over several files).
    public mutating func add(_ other: QueueCounts) {
        ready += other.ready; delayed += other.delayed; reserved += other.reserved; done += other.done; dead += other.dead
        heldByKeyConcurrency += other.heldByKeyConcurrency; heldByKeyRate += other.heldByKeyRate
        if let age = other.oldestWaitingMs { oldestWaitingMs = max(oldestWaitingMs ?? age, age) }
    }

    public var pending: Int { ready + delayed + reserved }
    public var total: Int { pending + done + dead }
}

/// A job as `solo queue list` and `solo queue dead` show it.
public struct JobRecord: Equatable, Sendable {
    /// Every state a job can be in.
    public static let states = ["ready", "delayed", "reserved", "done", "dead"]

    public var id: Int64
    public var queue: String
    public var state: String
    public var payload: String
    public var priority: Int
    public var attempts: Int
    public var maxAttempts: Int?
    public var group: String?
    public var runAt: Int64
    public var createdAt: Int64
    public var finishedAt: Int64?
    public var result: String?
    public var error: String?
    /// The unique key it was pushed with (held or not any more).
    public var uniqueKey: String? = nil
}

extension JobRecord {
    /// How `solo queue list --json` and the dashboard show a job.
    public var json: JSON {
        .object([("id", .number(id)), ("queue", .string(queue)), ("state", .string(state)),
                 ("payload", .string(payload)), ("priority", .number(Int64(priority))),
                 ("attempts", .number(Int64(attempts))), ("max_attempts", .optional(maxAttempts)),
                 ("group", .optional(group)), ("run_at", .number(runAt)), ("created_at", .number(createdAt)),
                 ("finished_at", .optional(finishedAt)), ("result", .optional(result)), ("error", .optional(error)),
                 ("unique_key", .optional(uniqueKey))])
    }

    /// The job with its payload, result and error cut to `bytes` each (at a character's
    /// boundary, marked with "…"): a list of many jobs stays small whatever they hold.
    public func cut(to bytes: Int) -> JobRecord {
        func cut(_ text: String) -> String {
            guard text.utf8.count > bytes else { return text }
            var end = text.utf8.index(text.utf8.startIndex, offsetBy: bytes)
            while end > text.startIndex && end.samePosition(in: text.unicodeScalars) == nil { end = text.utf8.index(before: end) }
            return String(text[..<end]) + "…"
        }
        var copy = self
        copy.payload = cut(payload)
        copy.result = result.map(cut)
        copy.error = error.map(cut)
        return copy
    }
}
