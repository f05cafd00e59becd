/// The groups of the jobs the supervisor handed to workers lately, newest first, for the
/// dashboard's groups panel: a Redis server cannot list its groups without a scan of every key,
/// so the supervisor lists those it has seen. Bounded: past `capacity` the least recent go.
public struct RecentGroups: Sendable {
    public static let capacity = 20

    public struct Seen: Equatable, Sendable {
        public let pool: String
        public let group: String
    }

    public let capacity: Int
    public private(set) var newestFirst: [Seen] = []

    public init(capacity: Int = Self.capacity) { self.capacity = max(1, capacity) }

    public mutating func note(_ group: String, pool: String) {
        let seen = Seen(pool: pool, group: group)
        if newestFirst.first == seen { return }
        newestFirst.removeAll { $0 == seen }
        newestFirst.insert(seen, at: 0)
        if newestFirst.count > capacity { newestFirst.removeLast(newestFirst.count - capacity) }
    }
}
