extension Pool {
    /// One place for a worker in a pool: who fills it, and its history (back-off, restarts,
    /// last exit) that outlives each worker.
    public struct Slot: Sendable {
        /// The worker that fills the slot; a worker being recycled has already left it.
        public var current: UInt64?
        public var backoff: Backoff
        /// While set, the slot waits (back-off) before its next start.
        public var restartAt: Moment?
        public var restarts = 0
        public var lastExit: String?
        /// A warm replacement booting beside `current`, which it replaces when that one leaves.
        public var spare: UInt64?
        /// The worker whose warm replacement could not start or died: it is recycled as before.
        public var spareRefusedFor: UInt64?
        /// Its workers' deaths with a new job in hand in a row, with no job finished in the pool
        /// since (`WorkerEnding.blamesWorker(jobDeaths:)`).
        public var jobDeaths = 0
    }
}
