// Warm replacements: which worker is a spare, and when a slot's replacement boots ahead of its
// recycle. Only decisions that read the pool live here; Pool itself moves a spare into its slot.
extension Pool {
    func isSpare(_ worker: Worker) -> Bool {
        worker.slot < slots.count && slots[worker.slot].spare == worker.id
    }

    /// The workers serving the pool's slots: alive, not leaving, and no warm replacement still
    /// waiting for its slot (status says "2/2 workers", not "3/2", while a spare boots).
    public var servingWorkers: [Worker] {
        workers.values.filter { $0.isAlive && !$0.isLeaving && !isSpare($0) }
    }

    /// A worker's state as status and metrics show it: a warm replacement not yet in its slot is `spare`.
    public func stateName(of worker: Worker) -> String {
        isSpare(worker) && !worker.isLeaving ? "spare" : worker.state.rawValue
    }

    /// Whether a spare may boot now: in feed mode (a poll worker would start working at once),
    /// at most one per pool, none while the pool stops or a slot backs off.
    var mayBootSpare: Bool {
        config.spare > 0 && config.queue.feedsJobs && !stopping && !paused && !standingBy && !removed
            && !slots.contains(where: { $0.spare != nil || $0.restartAt != nil })
    }

    /// The slot whose worker is near enough its recycle (within three times its own boot time) to
    /// boot its replacement now, unless its spare already failed.
    func slotWantingSpare(now: Moment) -> Int? {
        guard mayBootSpare else { return nil }
        for index in 0..<min(desiredWorkers, slots.count) {
            guard let id = slots[index].current, slots[index].spareRefusedFor != id, let worker = workers[id], !worker.isLeaving,
                  let lead = Self.spareLead(worker), let left = worker.timeToRecycle(now: now, memoryLimit: config.memoryLimit),
                  left <= lead else { continue }
            return index
        }
        return nil
    }

    /// How long before its recycle a worker's replacement starts: three times its own boot
    /// time (boots vary, most on a busy machine), and 20ms.
    static func spareLead(_ worker: Worker) -> Duration? {
        worker.bootDuration.map { $0 * 3 + .milliseconds(20) }
    }
}
