/// One transaction of inserted jobs, fed a payload at a time (see `JobStore.writer`). Nothing is
/// visible to anyone until `commit`; `rollback`, or dropping the writer, inserts nothing.
public final class JobWriter {
    let store: JobStore
    let insert: Statement
    public private(set) var count = 0
    private var open = true

    init(store: JobStore, insert: Statement) {
        self.store = store
        self.insert = insert
    }

    deinit { rollback() }

    /// Inserts one job with the writer's queue and attributes.
    public func add(_ payload: UnsafeRawBufferPointer) throws(QueueError) {
        do {
            insert.bindText(2, payload, copy: false)
            try insert.execute()
            count += 1
        } catch {
            throw QueueError(error, path: store.path)
        }
    }

    @discardableResult
    public func commit() throws(QueueError) -> Int {
        guard open else { return count }
        do { try store.database.execute("COMMIT") } catch { throw QueueError(error, path: store.path) }
        open = false
        return count
    }

    public func rollback() {
        guard open else { return }
        try? store.database.execute("ROLLBACK")
        open = false
        count = 0
    }
}
