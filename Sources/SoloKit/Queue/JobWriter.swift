/// One transaction of inserted jobs, fed a payload at a time (see `JobStore.writer`). Nothing is
/// visible to anyone until `commit`; `rollback`, or dropping the writer, inserts nothing.
public final class JobWriter {
    let store: JobStore
    let queue: String
    let insert: Statement
    /// Finds the job holding a unique key, for a refused insert.
    let holder: Statement
    private var pushed = Pushed()
    /// The ids of the jobs inserted, in order (the duplicates left out).
    private(set) var ids: [Int64] = []
    private var added = 0
    private var open = true

    init(store: JobStore, queue: String, insert: Statement, holder: Statement, uniqueUntil: Int64?) throws(DatabaseError) {
        self.store = store
        self.queue = queue
        self.insert = insert
        self.holder = holder
        try insert.bind(8, .optional(uniqueUntil.map { Int($0) }))
    }

    deinit { rollback() }

    public var count: Int { pushed.queued }

    /// Inserts one job with the writer's queue and attributes; with a unique key that another
    /// job of the queue holds, inserts nothing and notes that job.
    public func add(_ payload: UnsafeRawBufferPointer, uniqueKey: String?) throws(QueueError) {
        try store.run { () throws(DatabaseError) in
            insert.bindText(2, payload, copy: false)
            try insert.bind(7, .optional(uniqueKey))
            try insert.execute()
            if let uniqueKey, store.database.changes == 0 {
                try holder.bind([.text(queue), .text(uniqueKey)])
                defer { holder.reset() }
                guard try holder.step() else {
                    throw DatabaseError(code: -1, message: "\(store.path): unique key \(uniqueKey) refused with no job holding it")
                }
                pushed.duplicates.append(Pushed.Duplicate(index: added, existing: holder.int64(0)))
            } else {
                pushed.queued += 1
                ids.append(store.database.lastInsertRowID)
            }
            added += 1
        }
    }

    @discardableResult
    public func commit() throws(QueueError) -> Pushed {
        guard open else { return pushed }
        do { try store.database.execute("COMMIT") } catch { throw QueueError(error, path: store.path) }
        open = false
        return pushed
    }

    public func rollback() {
        guard open else { return }
        try? store.database.execute("ROLLBACK")
        open = false
        pushed = Pushed()
        ids = []
    }
}
