import Glibc

/// Runs the `on_event` hooks beside the loop, never in its way: each is spawned without a
/// shell in a session of its own, its output (stdout and stderr) read through the epoll set
/// into the log, its exit reaped with the workers' (SIGCHLD), and its process group killed at
/// `hook_timeout`. How many run at once, and what waits or is dropped, `HookQueue` decides.
final class HookRunner: Timed {
    /// A hook to run: the event, the command and the directory it runs in.
    struct Order {
        let event: HookEvent
        let command: [String]
        let directory: String
    }

    /// What the runner needs from the config at the moment it starts a hook.
    struct Settings {
        var timeout: Duration
        var concurrency: Int
        /// The supervisor's environment, which hooks inherit.
        var environment: [String]
    }

    private final class Running {
        let id: UInt64
        let pid: pid_t
        let event: HookEvent
        let deadline: Moment
        var output: FileDescriptor?
        var lines = LineBuffer(maximumLine: 4096, overflow: .split)
        var killed = false
        /// Bytes of its output read so far (see `outputCap`).
        var outputRead = 0

        init(id: UInt64, pid: pid_t, event: HookEvent, deadline: Moment, output: FileDescriptor) {
            self.id = id
            self.pid = pid
            self.event = event
            self.deadline = deadline
            self.output = output
        }

        var name: String { "hook \(event.kind.rawValue) (pid \(pid))" }
    }

    private var queue = HookQueue<Order>(concurrency: 4)
    private var running: [UInt64: Running] = [:]
    private var byPid: [pid_t: UInt64] = [:]
    private var nextID: UInt64 = 0
    private var buffer = [UInt8](repeating: 0, count: 16384)
    /// A hook's output beyond this is not read: its pipe is closed (its next write fails), so
    /// that a hook that prints without end can neither flood the log nor hold up the loop.
    static let outputCap = 65536
    private let epoll: Epoll
    private let guardian: GuardianKeeper
    private let settings: () -> Settings
    /// A line for the log, and the pool it is about (nil: none).
    private let say: (String, String?) -> Void

    init(epoll: Epoll, guardian: GuardianKeeper, settings: @escaping () -> Settings, say: @escaping (String, String?) -> Void) {
        self.epoll = epoll
        self.guardian = guardian
        self.settings = settings
        self.say = say
    }

    /// The running hooks' sessions, which the guardian must know of.
    var pids: [pid_t] { Array(byPid.keys) }

    /// Runs the hook now if fewer than `hook_concurrency` run, else queues it (or drops it when
    /// the queue is full: counted, and said once the queue moves again).
    func fire(_ order: Order) {
        queue.concurrency = settings().concurrency
        run(queue.submit(order) ?? queue.next())
    }

    /// Output from a hook's pipe.
    func event(_ event: Epoll.Event) {
        guard let hook = running[EpollToken.hooks.offset(of: event.token)] else { return }
        read(hook, untilEnd: false)
    }

    /// Whether the reaped child was a hook; its last output is read and its end logged.
    func reaped(_ pid: pid_t, status: ExitStatus) -> Bool {
        guard let id = byPid.removeValue(forKey: pid), let hook = running.removeValue(forKey: id) else { return false }
        guardian.unregister(pid)
        read(hook, untilEnd: true)
        // A child the hook left behind may hold the pipe open: what it writes later is lost.
        close(hook)
        // What it left running in its session (`curl ... &`) ends with it, as a worker's does.
        Processes.signalGroup(pid, SIGKILL)
        if !hook.killed { say("\(hook.name) ended: \(status)", hook.event.pool) }
        run(queue.finished())
        let dropped = queue.takeDropped()
        if dropped > 0 {
            say("\(dropped) hook run(s) were dropped: \(queue.capacity) were waiting already behind the \(queue.concurrency) that may run at once (hook_concurrency); make the hook quicker, or raise hook_concurrency", nil)
        }
        return true
    }

    var nextDeadline: Moment? {
        running.values.filter { !$0.killed }.map(\.deadline).min()
    }

    /// A hook over `hook_timeout` is killed with its process group; its reaping ends it.
    func expire(now: Moment) {
        for hook in running.values where !hook.killed && hook.deadline <= now {
            hook.killed = true
            Processes.signalGroup(hook.pid, SIGKILL)
            say("\(hook.name) ran over hook_timeout (\(Values.formatDuration(settings().timeout))): killed with its process group", hook.event.pool)
        }
    }

    /// Starts `order` and, when it cannot start, the next waiting ones in its place.
    private func run(_ order: Order?) {
        var order = order
        while let next = order {
            if start(next) { return }
            order = queue.finished()
        }
    }

    private func start(_ order: Order) -> Bool {
        let settings = settings()
        let label = "hook \(order.event.kind.rawValue)"
        let search = settings.environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? ProgramPath.defaultSearchPath
        guard let path = ProgramPath.resolve(order.command[0], searchPath: search, directory: order.directory) else {
            say("\(label): cannot run \(order.command[0]): no executable file of that name (fix on_event)", order.event.pool)
            return false
        }
        let input: FileDescriptor, output: (read: FileDescriptor, write: FileDescriptor)
        do {
            input = try FileDescriptor.open("/dev/null", O_RDONLY)
            do { output = try FileDescriptor.pipe() } catch {
                input.close()
                throw error
            }
        } catch {
            say("\(label): cannot run \(path): \(error)", order.event.pool)
            return false
        }
        var request = SpawnRequest(path: path, arguments: order.command, environment: environment(for: order.event, settings),
                                   directory: order.directory, descriptors: [input, output.write, output.write])
        request.newSession = true
        request.deathSignal = SIGKILL
        request.guardian = guardian.pipeForChildren
        let pid: pid_t
        do { pid = try spawn(request) } catch {
            [input, output.read, output.write].forEach { $0.close() }
            say("\(label): \(error)", order.event.pool)
            return false
        }
        input.close()
        output.write.close()
        guardian.register(pid)
        nextID += 1
        let hook = Running(id: nextID, pid: pid, event: order.event, deadline: .now() + settings.timeout, output: output.read)
        running[hook.id] = hook
        byPid[pid] = hook.id
        do {
            try output.read.setNonBlocking()
            try epoll.add(output.read, token: EpollToken.hooks.token(hook.id))
        } catch {
            // Unwatched, its output is read when it is reaped (a full pipe would stall it until then).
            say("\(hook.name): cannot watch its output: \(error); reading it at its exit", order.event.pool)
        }
        return true
    }

    /// The supervisor's environment with the event's facts in place of any SOLO_* of the same name.
    private func environment(for event: HookEvent, _ settings: Settings) -> [String] {
        let names = Set(HookEvent.variableNames)
        let inherited = settings.environment.filter { entry in !names.contains(String(entry.prefix { $0 != "=" })) }
        return inherited + event.variables(host: Host.name(), time: Int64(Moment.wallSeconds())).map { "\($0)=\($1)" }
    }

    /// Logs what the hook wrote, a line at a time, prefixed with its name: one read an event
    /// (the loop's other work comes between two, however fast the hook writes), and at its end
    /// what is left in the pipe, up to `outputCap` in all.
    private func read(_ hook: Running, untilEnd: Bool) {
        while let output = hook.output {
            guard hook.outputRead < Self.outputCap else {
                log(hook.lines.finish(), of: hook)
                say("\(hook.name): its output beyond \(Self.outputCap / 1024) KiB is not read; its pipe is closed", hook.event.pool)
                close(hook)
                return
            }
            let result = Result { () throws(Errno) in try output.read(into: &buffer) }
            var pieces: [LineBuffer.Piece]
            switch result {
            case .success(.bytes(let n)):
                hook.outputRead += n
                pieces = buffer.withUnsafeBytes { hook.lines.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                log(pieces, of: hook)
                if !untilEnd { return }
            case .success(.wouldBlock):
                if untilEnd { log(hook.lines.finish(), of: hook) }
                return
            case .success(.endOfFile), .failure:
                log(hook.lines.finish(), of: hook)
                close(hook)
            }
        }
    }

    private func close(_ hook: Running) {
        guard let output = hook.output else { return }
        epoll.remove(output)
        output.close()
        hook.output = nil
    }

    private func log(_ pieces: [LineBuffer.Piece], of hook: Running) {
        for piece in pieces {
            switch piece {
            case .line(let bytes), .partial(let bytes), .truncated(let bytes):
                say("\(hook.name): \(String(decoding: bytes, as: UTF8.self))", hook.event.pool)
            }
        }
    }
}
