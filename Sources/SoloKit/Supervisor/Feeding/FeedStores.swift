/// The stores of the feeder's queues, one per queue file and per Redis server (and database),
/// made on first use and let go when nothing uses them: the one place that knows which kinds of
/// store there are.
final class FeedStores {
    /// Where a pool's queue lives.
    enum Address: Hashable {
        case file(String)
        case server(RedisURL)

        init?(_ setting: QueueSetting) {
            switch setting {
            case .none: return nil
            case .sqlite(let path): self = .file(path)
            case .redis(let url): self = .server(url.server)
            }
        }
    }

    private var stores: [Address: any FeedStore] = [:]
    private let hub: RedisHub
    /// inotify over the queue files' directories: commits by other processes, files replaced.
    private let watch: DirectoryWatch?
    /// The fleet lock's key and token when it lives on a server (see RedisFeedStore.fence).
    var fence: (RedisURL) -> (key: String, token: String)? = { _ in nil }
    /// Stores kept whatever the pools use: those the schedules push to.
    var pinned: Set<Address> = []
    private let say: (String) -> Void

    init(hub: RedisHub, say: @escaping (String) -> Void) {
        self.hub = hub
        self.say = say
        watch = try? DirectoryWatch()
    }

    /// The descriptor that tells of changes in the queue files' directories.
    var descriptor: FileDescriptor? { watch?.descriptor }

    // The dictionary's own view: asked twice every loop turn, it copies nothing.
    var all: Dictionary<Address, any FeedStore>.Values { stores.values }

    /// The store at `address`, made (and started: its listener hears `storeIsUp` when it can be
    /// used) on first use.
    func store(at address: Address, listener: any FeedStoreListener) -> any FeedStore {
        if let known = stores[address] { return known }
        let store: any FeedStore
        switch address {
        case .file(let path):
            // Made first: it makes the file's directory, which is then watched.
            store = SQLiteFeedStore(path: path, say: say)
            try? watch?.watch(Path.directory(of: path))
        case .server(let url):
            let server = RedisFeedStore(server: hub.server(url))
            server.fence = { [unowned self] in self.fence(url) }
            store = server
        }
        stores[address] = store
        store.listener = listener
        store.start()
        return store
    }

    /// Where a store in use lives.
    func address(of store: any FeedStore) -> Address? { stores.first { $0.value === store }?.key }

    /// Lets go of the stores not in `used` (a file is closed; a server's connections are closed
    /// by the hub once nothing else needs them).
    func keep(only used: [any FeedStore]) {
        let kept = Set(used.map(ObjectIdentifier.init))
        stores = stores.filter { kept.contains(ObjectIdentifier($0.value)) || pinned.contains($0.key) }
    }

    /// The Redis servers in use.
    var servers: Set<RedisURL> {
        Set(stores.keys.compactMap { if case .server(let url) = $0 { url } else { nil } })
    }

    /// Something changed in a watched directory: the files hear of it.
    func filesChanged() {
        let names = Set(watch?.drain() ?? [])
        // An empty name: the kernel's event queue overflowed, and anything may have changed.
        let overflowed = names.contains("")
        for case let file as SQLiteFeedStore in stores.values { file.heard(names, overflowed: overflowed) }
    }
}
