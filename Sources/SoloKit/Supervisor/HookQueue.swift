/// Which hooks run now and which wait: at most `concurrency` at once (`hook_concurrency`), then
/// up to `capacity` waiting in order, and beyond that dropped and counted, so that a burst of
/// crashes can neither fork a process each nor grow the supervisor's memory without bound.
public struct HookQueue<Item> {
    public var concurrency: Int
    public let capacity: Int
    public private(set) var running = 0
    public private(set) var waiting: [Item] = []
    /// Dropped since `takeDropped` was asked last.
    public private(set) var dropped = 0

    public init(concurrency: Int, capacity: Int = 100) {
        self.concurrency = concurrency
        self.capacity = capacity
    }

    /// Takes an item: given back when it may run now (it counts as running), nil when it waits
    /// or is dropped.
    public mutating func submit(_ item: Item) -> Item? {
        if running < concurrency {
            running += 1
            return item
        }
        if waiting.count < capacity { waiting.append(item) } else { dropped += 1 }
        return nil
    }

    /// One that ran has ended: the next to run now (it counts as running), if one waits.
    public mutating func finished() -> Item? {
        running = max(0, running - 1)
        return next()
    }

    /// The next waiting one, when there is room (after `concurrency` was raised, say).
    public mutating func next() -> Item? {
        guard running < concurrency, !waiting.isEmpty else { return nil }
        running += 1
        return waiting.removeFirst()
    }

    /// How many were dropped since the last call; the count starts again at zero.
    public mutating func takeDropped() -> Int {
        defer { dropped = 0 }
        return dropped
    }
}
