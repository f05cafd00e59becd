/// What the queue commands (`solo push`, `solo queue`, `solo wait`) need of a queue, whether
/// it lives in an SQLite file (`JobStore`) or on a Redis server (`RedisQueue`).
public protocol JobQueue: AnyObject {
    /// Where the queue lives, for messages and the `file` column of `solo queue stats`.
    var location: String { get }
    /// Counts per queue and state, for every queue it holds.
    func counts() throws(QueueError) -> [QueueCounts]
    /// Jobs by state (and group), at most `limit`; a group's by id, after `after`.
    func jobs(queue: String?, states: [String], group: String?, after: Int64, limit: Int) throws(QueueError) -> [JobRecord]
    /// Dead jobs back to ready with their attempts reset (all of them, or those in `ids`).
    func retryDead(queue: String?, ids: [Int64]) throws(QueueError) -> Int
    /// Deletes the jobs in `states`.
    func purge(queue: String?, states: [String]) throws(QueueError) -> Int
    /// A group's counts over every queue it holds.
    func groupCounts(_ group: String) throws(QueueError) -> QueueCounts
    /// The group of the job that worker `worker` (SOLO_WORKER_ID) of queue `queue` holds.
    func groupOfJob(heldBy worker: String, queue: String) throws(QueueError) -> String?
    /// A batch of jobs to add: nothing is visible before `commit`.
    func makeWriter(queue: String, template: NewJob) throws(QueueError) -> any JobWriting
}

/// Jobs added one by one and made visible together (see `JobQueue.writer`).
public protocol JobWriting: AnyObject {
    func add(_ payload: UnsafeRawBufferPointer) throws(QueueError)
    /// Makes every job added visible; returns how many.
    @discardableResult func commit() throws(QueueError) -> Int
    func rollback()
    /// Jobs already visible when `add` or `commit` failed (0 for an SQLite file: all or none).
    var committedBeforeFailure: Int { get }
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
