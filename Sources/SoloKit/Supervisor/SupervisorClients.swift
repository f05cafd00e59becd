/// What applications may ask (solo-client(7)): push, call, wait for a group and read queue
/// counts, over the client socket and over the control socket (`solo call`). Pushes go into the
/// pools' stores through the feeder's, with the checks `solo push` makes; a file answers in the
/// call, a Redis server on a later turn: the loop never waits for either.
extension Supervisor {
    /// Past this many connections the client socket refuses new ones.
    static let clientConnections = 2048
    /// A client that lets this much of its answers pile up unread is dropped.
    static let clientBacklog = 1 << 20
    /// A client connection owed nothing that sends nothing for this long is closed (the
    /// clients of etc/clients connect again).
    static let clientIdleTimeout: Duration = .seconds(600)
    /// The most bytes of unfinished requests the client socket holds over its connections (2048
    /// of a megabyte each would be two gigabytes): 64 MiB, or room for 4 of the largest.
    static func clientBuffered(maxPayload: Int) -> Int { max(64 << 20, 4 * ControlServer.maximumRequest(floor: 1 << 20, maxPayload: maxPayload)) }

    func openClientSocket() {
        guard let path = config.global.clientSocket else { return }
        var gid: UInt32? = nil
        if let name = config.global.clientGroup {
            guard let group = Accounts.group(name) else {
                return say("cannot open the client socket \(path): no group \(name) on this machine (create it, or change client_group)")
            }
            gid = group.gid
        }
        do throws(Errno) {
            try Files.makeDirectories(Path.directory(of: path), mode: 0o755)
            // Made 0600, then given to the group: no moment in which others could connect.
            let listener = try UnixSocket.listen(at: path)
            do {
                if let gid { try Files.setGroup(path, gid) }
                try Files.setMode(path, gid == nil ? 0o600 : 0o660)
            } catch {
                listener.close()
                throw error
            }
            clients = try ControlServer(path: path, name: "client socket", listener: listener, tokens: EpollToken.clients, epoll: epoll,
                                        gate: Self.clientGate(gid: gid), maximumRequest: ControlServer.maximumRequest(floor: 1 << 20, maxPayload: config.global.maxPayload),
                                        maximumConnections: Self.clientConnections, maximumBacklog: Self.clientBacklog,
                                        idleTimeout: Self.clientIdleTimeout, maximumBuffered: Self.clientBuffered(maxPayload: config.global.maxPayload),
                                        handle: { [unowned self] (json, token) throws(ControlRequest.Invalid) in
                                            guard let clients else { return nil }
                                            return answer(try ClientRequest(json: json), from: token, on: clients)
                                        }, say: { [unowned self] in self.say($0) })
        } catch {
            say("cannot open the client socket \(path): \(UnixSocket.why(error)); applications cannot push through it")
        }
    }

    /// Root, solo's own user, and members of client_group (by primary or supplementary group).
    static func clientGate(gid: UInt32?) -> ControlServer.Gate {
        ControlServer.Gate(admits: { uid, peerGID, pid in
            if uid == 0 || uid == Accounts.ownUID { return true }
            guard let gid else { return false }
            return peerGID == gid || ProcFS.supplementaryGroups(of: pid)?.contains(gid) == true
        }, refusal: { who in
            "permission denied: \(who) may not use this client socket (root, uid \(Accounts.ownUID)\(gid.map { " or members of group \($0)" } ?? "") may)"
        }, logged: { who in
            "refused \(who) (only root, uid \(Accounts.ownUID)\(gid.map { " and members of group \($0)" } ?? "") may push; said once per user)"
        }, logOnce: true)
    }

    func makeWaiters() -> ClientWaiters {
        ClientWaiters { [unowned self] key in feeder.stores.store(at: key.address, listener: feeder) }
    }

    /// The answer to an application's request; nil when it comes later, through `server`.
    func answer(_ request: ClientRequest, from token: UInt64, on server: ControlServer) -> JSON? {
        guard phase == .running else { return ControlRequest.failure("solo is stopping; nothing was queued") }
        let reply = server.replier(token)
        let waiter = { (timeout: Duration) in
            ClientWaiters.Waiter(deadline: .now() + timeout, answer: reply, gone: { !server.isOpen(token) })
        }
        switch request {
        case .call, .wait:
            if waiters.isFull { return ControlRequest.failure("\(ClientWaiters.maximum) callers wait already; nothing was queued (try again shortly)") }
        case .push, .counts: break
        }
        switch request {
        case .counts(let queue):
            return queueCounts(queue)
        case .wait(let group, let queue, let timeout):
            switch clientQueue(queue) {
            case .failure(let message): return ControlRequest.failure(message.text)
            case .success(let target): waiters.awaitGroup(group, in: target, waiter(timeout))
            }
            return nil
        case .push(let push):
            return pushForClient(push) { result in
                switch result {
                case .failure(let message): reply(ControlRequest.failure(message.text))
                case .success(let (queue, jobs)): reply(Self.pushed(queue.name, jobs))
                }
            }
        case .call(let push, let timeout):
            return pushForClient(push) { [unowned self] result in
                switch result {
                case .failure(let message): reply(ControlRequest.failure(message.text))
                case .success(let (queue, jobs)): waiters.awaitJob(jobs[0].id, in: queue, waiter(timeout))
                }
            }
        }
    }

    struct ClientRefusal: Error { let text: String }

    /// The queue a request means: as `solo push --queue` finds it, and only one that a pool takes
    /// jobs from (a typo would wait for ever).
    private func clientQueue(_ name: String?) -> Result<FeedQueue.Key, ClientRefusal> {
        let target: QueueTarget
        do { target = try QueueTarget.resolve(config, queue: name) } catch { return .failure(ClientRefusal(text: error.message)) }
        guard !target.pools.isEmpty, let address = FeedStores.Address(target.place) else {
            let names = Array(Set(config.pools.filter { $0.queue.feedsJobs }.map(\.queueName))).sorted()
            let hint = Values.suggestion(for: target.queue, among: names).map { " (did you mean \($0)?)" } ?? ""
            return .failure(ClientRefusal(text: "no pool takes jobs from queue \(target.queue)\(hint); queues: \(names.joined(separator: ", "))"))
        }
        return .success(FeedQueue.Key(address: address, name: target.queue))
    }

    /// Checks and queues a client's jobs; `done` hears of it (within this call for a file). Returns
    /// the refusal of a request that queues nothing, or nil (the answer comes through `done`).
    private func pushForClient(_ push: ClientRequest.Push, _ done: @escaping (Result<(FeedQueue.Key, [PushedJob]), ClientRefusal>) -> Void) -> JSON? {
        let queue: FeedQueue.Key
        switch clientQueue(push.queue) {
        case .failure(let refusal): return ControlRequest.failure(refusal.text + "; nothing was queued")
        case .success(let key): queue = key
        }
        var jobs: [(payload: [UInt8], uniqueKey: String?)] = []
        for (index, payload) in push.payloads.enumerated() {
            let bytes = Array(payload.utf8)
            if let problem = Payloads.problem(in: bytes, maximum: config.global.maxPayload) {
                let which = push.payloads.count == 1 ? "the payload" : "payload \(index + 1)"
                return ControlRequest.failure("\(which) \(problem); nothing was queued")
            }
            let key: String? = switch push.unique {
            case .key(let key): key
            case .payload: bytes.withUnsafeBytes { UniqueKey.of(payload: $0) }
            case nil: nil
            }
            jobs.append((bytes, key))
        }
        let template = NewJob(payload: [], priority: push.priority, runAt: push.delay.map { JobStore.now() + $0.milliseconds } ?? 0,
                              maxAttempts: push.maxAttempts, group: push.group, uniqueFor: push.uniqueFor, limitKey: push.limitKey)
        let store = feeder.stores.store(at: queue.address, listener: feeder)
        store.push(queue: queue.name, template: template, jobs) { [unowned self] reply in
            switch reply {
            case .answer(let pushed):
                feeder.jobsMayHaveCome(in: store, queue: queue.name)
                done(.success((queue, pushed)))
            case .refused(let message):
                done(.failure(ClientRefusal(text: "\(store.location) refused the push: \(message); nothing was queued")))
            case .unavailable:
                let why = store.problem.map { ": \($0)" } ?? " (busy)"
                done(.failure(ClientRefusal(text: "\(store.location) cannot be written now\(why); nothing was queued (try again)")))
            }
        }
        return nil
    }

    static func pushed(_ queue: String, _ jobs: [PushedJob]) -> JSON {
        let duplicates: [JSON] = jobs.enumerated().filter(\.element.duplicate).map { index, job in
            .object([("index", .number(Int64(index))), ("job", .number(job.id))])
        }
        return .object([("ok", .bool(true)), ("queue", .string(queue)), ("jobs", .array(jobs.map { .number($0.id) })),
                        ("queued", .number(Int64(jobs.count - duplicates.count))), ("duplicates", .array(duplicates))])
    }

    /// The counts of a queue, or of every queue the pools take jobs from.
    private func queueCounts(_ name: String?) -> JSON {
        var keys: [FeedQueue.Key] = []
        if let name {
            switch clientQueue(name) {
            case .failure(let refusal): return ControlRequest.failure(refusal.text)
            case .success(let key): keys = [key]
            }
        } else {
            for pool in config.pools {
                guard let address = FeedStores.Address(pool.queue) else { continue }
                let key = FeedQueue.Key(address: address, name: pool.queueName)
                if !keys.contains(key) { keys.append(key) }
            }
        }
        let queues: [JSON] = keys.map { key in
            let store = feeder.stores.store(at: key.address, listener: feeder)
            var fields: [(String, JSON)] = [("queue", .string(key.name)), ("store", .string(store.location))]
            if let counts = store.counts(queue: key.name) {
                fields += [("ready", .number(Int64(counts.ready))), ("delayed", .number(Int64(counts.delayed))),
                           ("reserved", .number(Int64(counts.reserved))), ("dead", .number(Int64(counts.dead)))]
            } else {
                fields.append(("problem", .string(store.problem ?? "not known yet (ask again in a moment)")))
            }
            return .object(fields)
        }
        return .object([("ok", .bool(true)), ("queues", .array(queues))])
    }
}
