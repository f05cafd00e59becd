/// What the queue commands (`solo push`, `solo queue`, `solo wait`) need of a queue, whether
/// it lives in an SQLite file (`JobStore`) or on a Redis server (`RedisQueue`).
public protocol JobQueue: AnyObject {
    /// Where the queue lives, for messages and the `file` column of `solo queue stats`.
    var location: String { get }
    /// Counts per queue and state, for every queue it holds.
    func counts() throws(QueueError) -> [QueueCounts]
    /// Jobs by state (and group), at most `limit`; a group's by id, after `after`.
    func jobs(queue: String?, states: [String], group: String?, after: Int64, limit: Int) throws(QueueError) -> [JobRecord]
    /// One job by id (of `queue`, when given), whatever its state; nil when there is none.
    func job(_ id: Int64, queue: String?) throws(QueueError) -> JobRecord?
    /// The id of the job of `queue` that holds unique key `key` now; nil when none does.
    func uniqueKeyHolder(_ key: String, queue: String) throws(QueueError) -> Int64?
    /// Every dead job (of `queue`) back to ready with its attempts reset.
    func retryDead(queue: String?) throws(QueueError) -> Int
    /// Applies `change` to each job of `ids` (of `queue`, when given) that is in a state the
    /// change takes; returns the state each found job was in before (an id missing from the
    /// answer has no job), so that the caller can name those left alone.
    func change(_ change: JobChange, ids: [Int64], queue: String?) throws(QueueError) -> [Int64: String]
    /// Deletes the jobs in `states`.
    func purge(queue: String?, states: [String]) throws(QueueError) -> Int
    /// A group's counts over every queue it holds.
    func groupCounts(_ group: String) throws(QueueError) -> QueueCounts
    /// When the group's first job was queued and its last finished (Unix ms), from the done
    /// and dead jobs still kept; nil when none is.
    func groupSpan(_ group: String) throws(QueueError) -> GroupSpan?
    /// The group of the job that worker `worker` (SOLO_WORKER_ID) of queue `queue` holds.
    func groupOfJob(heldBy worker: String, queue: String) throws(QueueError) -> String?
    /// A batch of jobs to add: nothing is visible before `commit`.
    func makeWriter(queue: String, template: NewJob) throws(QueueError) -> any JobWriting
}

/// An operator's change to chosen jobs (`solo queue retry|bury|purge --id`).
public enum JobChange: Equatable, Sendable {
    /// Dead back to ready, attempts reset.
    case retry
    /// Ready or delayed to dead, with this error, and never run.
    case bury(reason: String)
    /// Deleted.
    case delete

    /// The states a job may be in for the change to apply. A reserved job is never changed:
    /// a worker may be running it, and its outcome would land on a job that is gone.
    public var from: [String] {
        switch self {
        case .retry: return ["dead"]
        case .bury: return ["ready", "delayed"]
        case .delete: return ["ready", "delayed", "done", "dead"]
        }
    }

    /// How the scripts and messages name it.
    public var name: String {
        switch self {
        case .retry: return "retry"
        case .bury: return "bury"
        case .delete: return "delete"
        }
    }
}

/// From a group's first job queued to its last finished, in Unix milliseconds.
public struct GroupSpan: Equatable, Sendable {
    public var first: Int64
    public var last: Int64

    public init(first: Int64, last: Int64) {
        self.first = first
        self.last = last
    }

    /// The two spans as one (a group spread over several files or servers).
    public func merged(_ other: GroupSpan?) -> GroupSpan {
        guard let other else { return self }
        return GroupSpan(first: min(first, other.first), last: max(last, other.last))
    }
}

extension JobQueue {
    /// Read from the group's finished jobs, page by page (a store with no cheaper way).
    public func groupSpan(_ group: String) throws(QueueError) -> GroupSpan? {
        var span: GroupSpan? = nil
        var after: Int64 = 0
        while true {
            let page = try jobs(queue: nil, states: ["done", "dead"], group: group, after: after, limit: 1000)
            for job in page { span = GroupSpan(first: job.createdAt, last: job.finishedAt ?? job.createdAt).merged(span) }
            guard let last = page.last, page.count == 1000 else { return span }
            after = last.id
        }
    }
}

/// Jobs added one by one and made visible together (see `JobQueue.writer`).
/// A job with a `uniqueKey` is refused, not an error, while another job of the queue holds the
/// key (it waits or runs, or its `uniqueFor` has not passed): `commit` names it in `Pushed`.
public protocol JobWriting: AnyObject {
    func add(_ payload: UnsafeRawBufferPointer, uniqueKey: String?) throws(QueueError)
    /// Makes every job added visible; says how many were queued and which were duplicates.
    @discardableResult func commit() throws(QueueError) -> Pushed
    func rollback()
    /// Jobs already visible when `add` or `commit` failed (0 for an SQLite file: all or none).
    var committedBeforeFailure: Int { get }
}

extension JobWriting {
    public func add(_ payload: UnsafeRawBufferPointer) throws(QueueError) { try add(payload, uniqueKey: nil) }
}

extension JobStore: JobQueue {
    public var location: String { path }

    public func groupOfJob(heldBy worker: String, queue: String) throws(QueueError) -> String? {
        try groupOfJob(heldBy: worker)
    }

    public func makeWriter(queue: String, template: NewJob) throws(QueueError) -> any JobWriting {
        try writer(queue: queue, template: template)
    }
}

extension JobWriter: JobWriting {
    public var committedBeforeFailure: Int { 0 }
}
