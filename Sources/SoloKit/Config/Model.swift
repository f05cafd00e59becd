import Glibc

/// The whole configuration: the [global] section and every pool, from the main file and
/// its includes.
public struct SoloConfig: Equatable, Sendable {
    /// Absolute path of the main file.
    public var file: String
    public var global: GlobalConfig
    public var pools: [PoolConfig]
    /// The `[schedule:NAME]` sections.
    public var schedules: [ScheduleConfig] = []

    public func pool(named name: String) -> PoolConfig? { pools.first { $0.name == name } }
}

public struct GlobalConfig: Equatable, Sendable {
    public var lockPort: UInt16 = 3800
    /// nil: the per-user loopback address (127.0.0.1 for root).
    public var lockAddress: UInt32? = nil
    public var stateDirectory: String = ""
    public var logDirectory: String? = nil
    /// Where `solo check` sends the background supervisor's own output.
    public var logFile: String = ""
    public var includes: [String] = []
    /// The longest job payload accepted, in bytes.
    public var maxPayload: Int = 1 << 20
    /// Where Prometheus metrics are served over HTTP; nil: nowhere.
    public var metricsListen: ListenAddress? = nil
    /// Where the web dashboard is served; nil: nowhere.
    public var dashboardListen: ListenAddress? = nil
    /// The dashboard shows, and refuses every action.
    public var dashboardReadonly = false
    /// The client socket (solo-client(7)): applications push, call and wait through it; nil: none.
    public var clientSocket: String? = nil
    /// The group whose members may use the client socket (beside root and solo's own user).
    public var clientGroup: String? = nil
    /// How long a job stays reserved to a supervisor that stopped renewing its lease (it died,
    /// or lost its queue): then other supervisors take it back. Renewed at a third of it.
    public var lease: Duration = .seconds(30)
    /// The fleet-wide singleton: only the supervisor holding this lock (in Redis) runs workers;
    /// the others stand by. nil: every supervisor runs its pools.
    public var clusterLock: String? = nil
    /// Where the fleet lock lives; the loader fills it from the pools when they use one server.
    public var clusterRedis: RedisURL? = nil
    /// The fleet lock's time to live: a holder that dies is replaced this long after its last
    /// renewal; it renews at a third of it, and stops its workers before it runs out.
    public var clusterLockTTL: Duration = .seconds(30)
    /// `on_event`: the command run (without a shell) for every pool's events and the fleet
    /// lock's; nil: none. A pool's own replaces it.
    public var onEvent: [String]? = nil
    /// A hook still running after this is killed.
    public var hookTimeout: Duration = .seconds(10)
    /// How many hooks run at once; the others wait (see `HookQueue`).
    public var hookConcurrency = 4

    /// Where the supervisor's control socket is: in a 0700 directory under state_dir.
    public var controlSocket: String { stateDirectory + "/run/solo.sock" }

    /// Every Redis server the config uses (the pools' queues and the fleet lock), once each.
    public func redisServers(_ pools: [PoolConfig]) -> [RedisURL] {
        var servers: [RedisURL] = []
        for case .redis(let url) in pools.map(\.queue) where !servers.contains(url.server) { servers.append(url.server) }
        if let lock = clusterRedis, !servers.contains(lock.server) { servers.append(lock.server) }
        return servers
    }
}

/// An IPv4 address and TCP port to listen on.
public struct ListenAddress: Equatable, Sendable, CustomStringConvertible {
    /// Host order; 0 is every interface.
    public var address: UInt32
    public var port: UInt16

    public init(address: UInt32, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var isLoopback: Bool { address >> 24 == 127 }
    public var description: String { "\(LockAddress.format(address)):\(port)" }
}

public struct EnvironmentVariable: Equatable, Sendable {
    public var name: String
    public var value: String
}

public struct LimitSetting: Equatable, Sendable {
    public var name: String        // nofile, core, ...
    public var soft: UInt64        // ResourceLimit.unlimited for none
    public var hard: UInt64
}

/// Where a pool's jobs come from.
public enum QueueSetting: Equatable, Sendable {
    /// Workers poll their own queue; solo only counts their `ok` / `fail` / `retry` lines.
    case none
    /// The embedded queue in an SQLite file: solo feeds the jobs to the workers (feed mode).
    case sqlite(path: String)
    /// A queue on a Redis server, shared by supervisors on many hosts (feed mode).
    case redis(RedisURL)

    public var feedsJobs: Bool { self != .none }

    /// The kind of store, as `solo status --json` names it.
    public var backend: String {
        switch self {
        case .none: "none"
        case .sqlite: "sqlite"
        case .redis: "redis"
        }
    }

    /// The place as messages and `solo status` name it (a Redis URL without its password).
    public var location: String {
        switch self {
        case .none: return "none"
        case .sqlite(let path): return path
        case .redis(let url): return url.description
        }
    }
}

public struct PoolConfig: Equatable, Sendable {
    public var name: String
    public var file: String
    public var line: Int

    public var command: [String] = []
    public var directory: String = ""
    /// The workers to run; with `workers = MIN-MAX`, the fewest.
    public var workers: Int = 1
    /// With `workers = MIN-MAX`: the most that queue-depth scaling may run; nil for a fixed count.
    public var maxWorkers: Int? = nil
    /// How long a scaling pool must have had more workers than it needed before it shrinks.
    public var scaleCooldown: Duration = .seconds(30)
    public var user: String? = nil
    public var group: String? = nil
    public var umask: UInt32? = 0o022
    public var environment: [EnvironmentVariable] = []
    public var clearEnvironment = true
    public var passEnvironment: [String] = []
    public var limits: [LimitSetting] = []

    public var stopSignal: Int32 = SIGTERM
    public var stopTimeout: Duration = .seconds(30)
    /// How long a worker that neither says `ready` nor is seen waiting on its stdin stays `starting`.
    public var startGrace: Duration = .seconds(1)
    /// Warm replacements: how many may boot at a time beside the workers they will replace (0 or 1).
    public var spare = 1
    /// Feed mode: jobs written ahead to a busy worker, so that it finds its next job in its stdin
    /// as it answers (0 or 1).
    public var prefetch = 0

    /// Each worker draws its job limit from this range; nil: no limit.
    public var maxJobs: ClosedRange<Int>? = 1000...2000
    public var memoryLimit: UInt64? = nil
    public var memoryKill: UInt64? = nil
    public var memoryInterval: Duration = .seconds(1)
    /// Each worker draws its lifetime from this range; nil: no limit.
    public var maxLifetime: ClosedRange<Duration>? = nil

    public var backoffMin: Duration = .milliseconds(100)
    public var backoffMax: Duration = .seconds(60)
    public var backoffReset: Duration = .seconds(10)

    /// Filled in by the loader: `sqlite:` a file under state_dir unless the pool says otherwise.
    public var queue: QueueSetting = .none
    /// The queue's name in the file (several pools may share a file); default: the pool's name.
    public var queueName: String = ""
    /// A worker that holds a job longer is killed and the job retried; nil: no limit.
    public var jobTimeout: Duration? = .seconds(60)
    /// Attempts of a job before it is dead (a job may name its own).
    public var maxAttempts = 5
    /// The wait before a retry: the first one, doubling up to the last, with jitter.
    public var retryDelay: ClosedRange<Duration> = .seconds(1)...(.seconds(600))
    /// How long done jobs (and their results) are kept.
    public var keepDone: Duration = .seconds(3600)
    /// How many of the queue's jobs run at once and how fast they are handed out, across every
    /// supervisor on the store; the keyed ones per job key (`concurrency`, `rate_limit`,
    /// `key_concurrency`, `key_rate_limit`).
    public var jobLimits = JobLimits()
    /// The pool's own `on_event`: nil takes [global]'s, an empty command runs none.
    public var onEvent: [String]? = nil
    /// `alert_queue_age`: an alert while the queue's oldest waiting job is older; nil: none.
    public var alertQueueAge: Duration? = nil

    /// The range queue-depth scaling keeps the pool in, when it scales.
    public var scalingRange: ClosedRange<Int>? { maxWorkers.map { workers...$0 } }
    /// The PATH the pool's workers get: the pool's own, else the supervisor's, else a default.
    public var searchPath: String {
        environment.last(where: { $0.name == "PATH" })?.value ?? Host.variable("PATH") ?? ProgramPath.defaultSearchPath
    }
    /// nil: the supervisor's own standard error.
    public var logFile: String? = nil
    /// `fastcgi` and `script`: the pool runs no workers, and hands each job to this PHP-FPM
    /// as a request for this script (see FastCGIExecutor); nil: a pool of workers.
    public var fastcgi: FastCGIAddress? = nil
    public var script: String? = nil

    public init(name: String, file: String, line: Int) {
        self.name = name
        self.file = file
        self.line = line
    }
}
