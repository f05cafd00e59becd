import CSoloSpawn
import Glibc

/// The supervisor: one thread, one epoll loop over the signalfd, the workers' pipes and the
/// sockets, so there are no locks and nothing to race. Pools decide (pure); this class conducts:
/// it performs what they decide through its parts (the workers' pipes, the leftovers, the
/// guardian keeper, the systemd notifier, the feeder, the Redis hub), each of which keeps its
/// own state, and feeds back what happened.
public final class Supervisor {
    enum Phase { case running, stopping, killing, done }

    public struct Options {
        /// `solo check` passes the file its output goes to, so that SIGUSR1 can reopen it.
        public var ownLogFile: String?
        /// `solo check` learns "ready" (or what went wrong) here.
        public var notify: FileDescriptor?

        public init(ownLogFile: String? = nil, notify: FileDescriptor? = nil) {
            self.ownLogFile = ownLogFile
            self.notify = notify
        }
    }

    var config: SoloConfig
    let lock: PortLock
    var pools: [Pool] { didSet { timedParts = nil } }
    var plans: [String: LaunchPlan]
    var sinks: [String: LogSink]
    /// The open-file limit solo was started with, which workers get back.
    let inheritedOpenFiles: (soft: UInt64, hard: UInt64)
    let log = LogSink()
    let formatter = LogFormatter()
    let epoll: Epoll
    let signals: SignalDescriptor
    /// The guardian, which stops the workers' descendants if solo dies (see guardian.c).
    let guardian: GuardianKeeper
    /// Every running worker's process and pipes.
    let pipes: WorkerPipes
    /// What dead workers left behind, and solo's other children.
    let leftovers: Leftovers
    let inherited: [String]
    let ownLogFile: String?
    let feeder: Feeder
    /// The Redis connections (queues, the fleet lock, heartbeats), all in this loop.
    let redis: RedisHub
    /// `cluster_lock`: only while it holds this lock do the pools run.
    var fleetLock: FleetLock? { didSet { timedParts = nil } }
    let heartbeat: ClusterHeartbeat
    var control: ControlServer? { didSet { timedParts = nil } }
    /// The client socket (client_socket), and the callers waiting through it or the control socket.
    var clients: ControlServer? { didSet { timedParts = nil } }
    lazy var waiters = makeWaiters()
    var metrics: MetricsServer? { didSet { timedParts = nil } }
    var dashboard: DashboardServer? { didSet { timedParts = nil } }
    /// The dashboard's charts, per pool with a queue, sampled while a dashboard is served.
    var queueHistories: [String: QueueHistory] = [:]
    var nextHistorySample: Moment?
    let started = Moment.now()
    /// The same moment by the wall clock, in seconds since the epoch (for the metrics).
    let startedWallClock = Moment.wallSeconds()
    /// systemd, when it started solo with Type=notify, and what keeps it told how solo is.
    let serviceManager: ServiceManager
    let notifier: ServiceManagerNotifier
    /// Pushes the schedules' runs when they fall due.
    lazy var scheduler = makeScheduler()
    /// Runs the `on_event` hooks, and watches `alert_queue_age`.
    lazy var hooks = makeHookRunner()
    lazy var alerts = makeQueueAlerts()
    /// The fastcgi pools' requests to PHP-FPM.
    lazy var fastcgi = makeFastCGIExecutor()
    /// When queue-depth scaling looks at its pools next (while any pool scales).
    private var nextScaleCheck: Moment?
    /// Each pool's recent output (its workers' lines and solo's lines about it), for `solo logs`.
    var recentOutput: [String: LogRing] = [:]

    var nextID: UInt64 = 1
    var random = SystemRandomNumberGenerator()
    var phase = Phase.running
    var notify: FileDescriptor?
    var startupProblems: [String] = []
    var eventBuffer = [solo_event](repeating: solo_event(), count: 64)

    public static let handledSignals = [SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGALRM]

    /// Sets up everything that can fail before a worker starts. The caller has acquired the lock.
    public init(config: SoloConfig, lock: PortLock, options: Options = Options()) throws(StartupError) {
        self.config = config
        self.lock = lock
        notify = options.notify
        ownLogFile = options.ownLogFile
        inherited = Host.environment()
        serviceManager = ServiceManager(environment: inherited)
        do {
            signals = try SignalDescriptor(signals: Self.handledSignals)
            try Signals.ignore(SIGPIPE)
            epoll = try Epoll()
            try epoll.add(signals.descriptor, token: EpollToken.signals)
            try Processes.becomeSubreaper()
        } catch {
            throw StartupError("cannot set up the event loop: \(error)")
        }
        let openFiles = Resources.raiseOpenFileLimit()
        inheritedOpenFiles = openFiles

        var plans: [String: LaunchPlan] = [:]
        var sinks: [String: LogSink] = [:]
        for pool in config.pools {
            plans[pool.name] = try LaunchPlan(pool: pool, inheritedOpenFiles: openFiles)
            if let path = pool.logFile, sinks[path] == nil {
                do { sinks[path] = try LogSink(path: path) } catch {
                    throw StartupError("pool \(pool.name): cannot open log_file \(path): \(error)")
                }
            }
        }
        self.plans = plans
        self.sinks = sinks
        pools = config.pools.map { Pool(config: $0) }
        let owner = "\(Self.nodeName(stateDirectory: config.global.stateDirectory))/\(LockAddress.format(lock.address)):\(lock.port)"
        let logger = LogSink()
        let formatter = self.formatter
        let say: (String) -> Void = { message in logger.write(formatter.line(message, prefix: "solo: ")) }
        guardian = GuardianKeeper(epoll: epoll, say: say)
        pipes = WorkerPipes(epoll: epoll)
        leftovers = Leftovers(pipes: pipes, guardian: guardian, say: say)
        notifier = ServiceManagerNotifier(serviceManager, say: say)
        redis = RedisHub(epoll: epoll, clientName: "solo:\(owner)",
                         requestTimeout: RedisHub.requestTimeout(lease: config.global.lease,
                                                                 lockTTL: config.global.clusterLock == nil ? nil : config.global.clusterLockTTL),
                         say: say)
        feeder = Feeder(pools: pools, owner: owner, lease: config.global.lease, hub: redis, say: say)
        heartbeat = ClusterHeartbeat(owner: owner)
        if let watch = feeder.descriptor { try? epoll.add(watch, token: EpollToken.queueFiles) }
        do { try guardian.start() } catch { throw StartupError("cannot start the guardian process: \(error)") }
        if let name = config.global.clusterLock, let url = config.global.clusterRedis {
            fleetLock = FleetLock(name: name, ttl: config.global.clusterLockTTL, server: redis.server(url), owner: owner, say: say)
        }
        feeder.committed = { [unowned self] in self.waiters.committed($0, $1) }
        feeder.storeChanged = { [unowned self] store in
            if let address = self.feeder.stores.address(of: store) { self.waiters.changed(address) }
        }
        guardian.sessions = { [unowned self] in self.pipes.pids + self.leftovers.sessions + self.hooks.pids }
        notifier.status = { [unowned self] in self.serviceStatus(now: $0) }
        setUpCluster()
        configureSchedules()
    }

    /// This machine as other supervisors see it: its host name and an id of its own, so that
    /// two hosts that share a name (cloned VMs, containers with a fixed host name) never share
    /// leases in a Redis queue. The id is the start of the machine-id (systemd's or D-Bus's),
    /// else a random one kept in state_dir/node-id (containers often have no machine-id, and
    /// the same lock address and port): the same at every start, so that a restarted
    /// supervisor knows its predecessor's jobs.
    static func nodeName(stateDirectory: String) -> String {
        for path in ["/etc/machine-id", "/var/lib/dbus/machine-id", stateDirectory + "/node-id"] {
            let id = ((try? Files.readText(path, limit: 64)) ?? "").prefix { $0.isHexDigit }
            if id.count >= 8 { return Host.name() + "/" + id.prefix(8) }
        }
        var random = SystemRandomNumberGenerator()
        let id = String(String(random.next() | 1 << 63, radix: 16).suffix(8))
        try? Files.writeAtomically(stateDirectory + "/node-id", id + "\n")
        return Host.name() + "/" + id
    }

    /// Runs until a stop completes; returns the exit status.
    public func run() -> Int32 {
        let address = LockAddress.format(lock.address)
        say("started (pid \(Processes.ownPID), lock \(address):\(lock.port), \(pools.count) pool\(pools.count == 1 ? "" : "s"), config \(config.file))")
        openControlSocket()
        openClientSocket()
        openMetrics()
        openDashboard()
        reconcile()
        feed()
        reportReady()
        notifier.tell(["READY=1"], now: Moment.now())
        while phase != .done {
            let now = Moment.now()
            let timeout = nextDeadline(now: now).map { $0.millisecondsFrom(now) } ?? -1
            let events: [Epoll.Event]
            do { events = try epoll.wait(timeoutMilliseconds: timeout, into: &eventBuffer) } catch {
                say("epoll_wait failed: \(error); stopping")
                return 1
            }
            for event in events { dispatch(event) }
            expire(Moment.now())
            dropRemovedPools()
            reconcile()
            feed()
            redis.flush()
            guardian.watchPipe()
            control?.settle()
            finishStopIfDone()
        }
        control?.close()
        clients?.close()
        metrics?.close()
        dashboard?.close()
        feeder.shutdown()
        fleetLock?.release()
        heartbeat.leave()
        drainRedis(within: .seconds(5))
        feeder.abandon()
        redis.closeAll()
        guardian.stop()
        sinks.values.forEach { $0.close() }
        say("stopped")
        return 0
    }

    // MARK: - events

    private func dispatch(_ event: Epoll.Event) {
        switch EpollToken.source(of: event.token) {
        case .signals: handleSignals()
        case .guardian: guardian.flush()
        case .queueFiles: feeder.filesChanged()
        case .redis: redis.event(event)
        case .control: control?.event(event)
        case .clients: clients?.event(event)
        case .metrics: metrics?.event(event)
        case .hooks: hooks.event(event)
        case .dashboard: dashboard?.event(event)
        case .fastcgi: fastcgi.event(event)
        case .workerPipe(let worker, let pipe):
            guard let process = pipes[worker] else { return }
            switch pipe {
            case .output: readOutput(of: process, untilDrained: false)
            case .control: readControl(of: process, untilDrained: false)
            case .input: writeInput(of: process)
            }
        case .unknown: break
        }
    }

    /// After the loop, while the last Redis replies are awaited: other events are consumed
    /// without acting on them (signals read, queue file events drained).
    func discard(_ event: Epoll.Event) {
        switch EpollToken.source(of: event.token) {
        case .signals: _ = signals.drain()
        case .queueFiles: feeder.filesChanged()
        case .guardian: guardian.flushOnly()
        default: break
        }
    }

    // MARK: - acting on what pools decide

    func perform(_ commands: [PoolCommand], for pool: Pool) {
        for command in commands {
            switch command {
            case .spawn(let order):
                spawnWorker(pool, order)
            case .signal(let worker, let pid, let signal):
                // Only while the worker is unreaped: then its pid is still its process group.
                if pipes[worker] != nil { Processes.signalGroup(pid, signal) }
            case .closeInput(let worker):
                guard let process = pipes[worker] else { continue }
                // A job written ahead that the worker has not begun to read does not hold it up.
                takeBackAhead(of: process)
                // A line held for its group's note goes out first, then the end of file.
                if process.lineHeld { process.closeInputWhenWritten = true } else { pipes.closeInput(of: process) }
            case .probeInput(let worker, let pid):
                // Only while the worker is unreaped, so that its pid still names it.
                if let process = pipes[worker], !process.reaped, ProcFS.isReadingStandardInput(pid) {
                    perform(pool.handle(worker, .waitingForInput, now: Moment.now(), using: &random), for: pool)
                }
            case .began(let job, let worker):
                // No `started` mark: until its outcome the store keeps it `ahead`, so that a
                // worker that exits without reading its line gives it back with its attempt.
                if job.group != nil { feeder.assign(job, of: pool, to: workerName(pool, worker)) }
            case .giveBack(let job):
                feeder.giveBack(job, of: pool)
            case .finish(let job, let outcome):
                feeder.record(job, outcome, of: pool, now: Moment.now()) { waiters.awaits(job.id, in: $0) }
                if let dead = HookEvent.jobDead(job, outcome, pool: pool.name, queue: pool.config.queueName) { fire(dead) }
            case .log(let message):
                say("pool \(pool.name): \(message)", alsoTo: pool)
            }
        }
    }

    // MARK: - time

    /// Everything with deadlines, in the order a pass asks them: the pools first, so that what
    /// they decide is done before the others look.
    private var timed: [any Timed] {
        var parts: [any Timed] = pools.map { pool in TimedCall(deadline: { pool.nextDeadline }) { [unowned self] now in self.expire(pool, now: now) } }
        parts += [guardian, notifier, feeder, scheduler, redis, hooks, alerts, fastcgi]
        parts += [fleetLock as (any Timed)?, heartbeat, control, clients, metrics, dashboard].compactMap { $0 }
        parts.append(waiters)
        parts += [TimedCall(deadline: { [unowned self] in self.nextScaleCheck }) { [unowned self] now in self.checkScaling(now: now) }, leftovers]
        parts.append(TimedCall(deadline: { [unowned self] in self.dashboard == nil ? nil : self.nextHistorySample }) { [unowned self] now in self.sampleHistory(now: now) })
        return parts
    }

    /// `timed`, kept until a part comes or goes (the didSets above): built anew twice a loop
    /// turn, a turn a job when feeding, it took a fifth of the supervisor's CPU.
    private var timedParts: [any Timed]?
    private var currentTimed: [any Timed] {
        if let timedParts { return timedParts }
        let parts = timed
        timedParts = parts
        return parts
    }

    private func expire(_ now: Moment) {
        for part in currentTimed { part.expire(now: now) }
    }

    /// A pool's timeouts, ended back-offs and memory samples, when one is due.
    private func expire(_ pool: Pool, now: Moment) {
        guard let due = pool.nextDeadline, due <= now else { return }
        let commands = pool.expire(now: now, using: &random) { worker in
            leftovers.residentBytes(of: worker, orphans: leftovers.orphansBySession(at: now))
        }
        perform(commands, for: pool)
    }

    /// Queue-depth scaling looks at its pools every `Autoscaler.growthInterval` while any scales.
    private func checkScaling(now: Moment) {
        if phase == .running && pools.contains(where: { $0.autoscaler != nil }) {
            if nextScaleCheck.map({ $0 <= now }) ?? true {
                autoscale(now: now)
                nextScaleCheck = now + Autoscaler.growthInterval
            }
        } else {
            nextScaleCheck = nil
        }
    }

    /// Queue-depth scaling: each scaling pool weighs its busy workers and waiting jobs.
    private func autoscale(now: Moment) {
        for pool in pools where pool.autoscaler != nil {
            guard let waiting = feeder.waiting(of: pool, atMost: pool.autoscaler?.range.upperBound ?? 0),
                  let verdict = pool.autoscale(waiting: waiting, now: now) else { continue }
            scale(pool, to: verdict.workers, why: verdict.why)
        }
    }

    private func nextDeadline(now: Moment) -> Moment? {
        var earliest = currentTimed.reduce(nil) { earlier($0, $1.nextDeadline) }
        if feeder.purging { earliest = now }
        // Stopping, with no worker left but leftovers that are not solo's children yet (they
        // are re-parented to solo only when their parent dies, which no signal reports): look again.
        if phase != .running && leftovers.hasLingering && pools.allSatisfy(\.isIdle) {
            earliest = earlier(earliest, now + .milliseconds(200))
        }
        return earliest
    }

    private func reconcile() {
        guard phase == .running else { return }
        let now = Moment.now()
        // Belt and braces: the pools stand by while the fleet lock is not this supervisor's.
        if let fleetLock, !fleetLock.mayAct(now: now) { return }
        for pool in pools { perform(pool.reconcile(now: now, using: &random), for: pool) }
    }

    // MARK: - stopping

    func beginStop() {
        phase = .stopping
        notifier.tell(["STOPPING=1"], now: Moment.now())
        let now = Moment.now()
        for pool in pools { perform(pool.stop(now: now, using: &random), for: pool) }
    }

    func beginKill() {
        phase = .killing
        let now = Moment.now()
        for pool in pools { perform(pool.kill(now: now, using: &random), for: pool) }
        fastcgi.abortAll(now: now)
        leftovers.killAll()
    }

    /// Done once no worker, no leftover and no other child remains.
    private func finishStopIfDone() {
        guard phase == .stopping || phase == .killing else { return }
        guard pools.allSatisfy(\.isIdle), !leftovers.hasLingering else { return }
        if leftovers.stopStrays(killing: phase == .killing, now: Moment.now()) { phase = .done }
    }

    // MARK: - reporting

    /// The one line systemd shows as the service's STATUS.
    private func serviceStatus(now: Moment) -> String {
        let running = pools.reduce(0) { $0 + $1.servingWorkers.count }
        // A fastcgi pool runs no workers (its requests show in solo status).
        let wanted = pools.reduce(0) { $0 + ($1.paused || $1.config.fastcgi != nil ? 0 : $1.desiredWorkers) }
        var rate = 0.0
        for pool in pools { rate += pool.jobRate.perSecond(now: now) }
        return phase == .running
            ? "\(running)/\(wanted) workers in \(pools.count) pool\(pools.count == 1 ? "" : "s"), \(Progress.formatRate(rate)) jobs/s"
            : "stopping: \(pools.reduce(0) { $0 + $1.workers.count }) workers left"
    }

    /// A line in solo's own log, and in the pool's log file when it has one of its own, so
    /// that whoever reads a pool's log sees its recycles and restarts among its output.
    func say(_ message: String, alsoTo pool: Pool? = nil) {
        let line = formatter.line(message, prefix: "solo: ")
        log.write(line)
        if let pool, let path = pool.config.logFile, let sink = sinks[path] { sink.write(line) }
        if let pool { remember(line, pool: pool) }
    }

    /// Keeps formatted log lines for `solo logs` and sends them to its followers.
    func remember(_ text: [UInt8], pool: Pool) {
        var ring = recentOutput[pool.name] ?? LogRing(capacity: 256 * 1024)
        let following = control?.hasFollowers == true
        for line in text.split(separator: UInt8(ascii: "\n")) {
            let string = String(decoding: line, as: UTF8.self)
            ring.append(string)
            if following { control?.publish(string, pool: pool.name) }
        }
        recentOutput[pool.name] = ring
    }

    /// Tells `solo check` that the supervisor is up, with any worker that could not start.
    private func reportReady() {
        guard let notify else { return }
        var text = ""
        for problem in startupProblems { text += "problem: \(problem)\n" }
        text += "ready\n"
        try? notify.writeAll(text)
        notify.close()
        self.notify = nil
        startupProblems = []
    }
}
