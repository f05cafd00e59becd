/// The config keys: one table per section. Each key parses its value into the model and
/// renders it back, so `solo config check` prints exactly what runs, and an unknown key can
/// be matched against the known ones.
struct KeySpec<Model>: Sendable {
    let name: String
    let apply: @Sendable (inout Model, String, KeyContext) throws(ValueError) -> Void
    let render: @Sendable (Model) -> String
}

/// What a value may refer to: relative paths are relative to the file that holds them.
struct KeyContext {
    let baseDirectory: String

    func path(_ value: String) -> String {
        Path.resolve(Values.unquote(value), against: baseDirectory)
    }
}

enum Keys {
    // MARK: - [global]

    static let global: [KeySpec<GlobalConfig>] = [
        KeySpec(name: "lock_port", apply: { model, value, _ throws(ValueError) in
            model.lockPort = UInt16(try Values.integer(value, in: 1...65535, example: "3800"))
        }, render: { "\($0.lockPort)" }),
        KeySpec(name: "lock_addr", apply: { model, value, _ throws(ValueError) in
            if value == "auto" || value == "per-user" { model.lockAddress = nil; return }
            guard let address = LockAddress.parse(value), address >> 24 == 127 else {
                throw ValueError("\(quoted(value)) is not a loopback address (try 127.0.0.1, or auto for one per user)")
            }
            model.lockAddress = address
        }, render: { $0.lockAddress.map(LockAddress.format) ?? "auto" }),
        KeySpec(name: "state_dir", apply: { model, value, context in
            model.stateDirectory = context.path(value)
        }, render: { $0.stateDirectory }),
        KeySpec(name: "log_dir", apply: { model, value, context in
            model.logDirectory = value.isEmpty ? nil : context.path(value)
        }, render: { $0.logDirectory ?? "" }),
        KeySpec(name: "log_file", apply: { model, value, context in
            model.logFile = context.path(value)
        }, render: { $0.logFile }),
        KeySpec(name: "include", apply: { model, value, context in
            model.includes += value.split(whereSeparator: { $0 == " " || $0 == "," }).map { context.path(String($0)) }
        }, render: { $0.includes.joined(separator: " ") }),
        KeySpec(name: "max_payload", apply: { model, value, _ throws(ValueError) in
            let size = try Values.size(value)
            guard size >= 16, size <= 64 << 20 else { throw ValueError("\(quoted(value)) is out of range (16 bytes to 64M; 1M is usual)") }
            model.maxPayload = Int(size)
        }, render: { Values.formatSize(UInt64($0.maxPayload)) }),
        KeySpec(name: "metrics_listen", apply: { model, value, _ throws(ValueError) in
            model.metricsListen = try Values.listenAddress(value)
        }, render: { $0.metricsListen?.description ?? "none" }),
        KeySpec(name: "dashboard_listen", apply: { model, value, _ throws(ValueError) in
            model.dashboardListen = try Values.listenAddress(value)
        }, render: { $0.dashboardListen?.description ?? "none" }),
        KeySpec(name: "dashboard_readonly", apply: { model, value, _ throws(ValueError) in
            model.dashboardReadonly = try Values.bool(value)
        }, render: { $0.dashboardReadonly ? "yes" : "no" }),
        KeySpec(name: "client_socket", apply: { model, value, context throws(ValueError) in
            guard !isNone(value) else { model.clientSocket = nil; return }
            guard Values.unquote(value).hasPrefix("/") else {
                throw ValueError("\(quoted(value)) is not an absolute path (write one, like /run/solo/client.sock)")
            }
            model.clientSocket = context.path(value)
        }, render: { $0.clientSocket ?? "none" }),
        KeySpec(name: "client_group", apply: { model, value, _ throws(ValueError) in
            model.clientGroup = isNone(value) ? nil : try accountName(value)
        }, render: { $0.clientGroup ?? "none" }),
        KeySpec(name: "lease", apply: { model, value, _ throws(ValueError) in
            model.lease = try Values.duration(value, in: .seconds(3)...(.seconds(3600)), usual: "30s")
        }, render: { Values.formatDuration($0.lease) }),
        KeySpec(name: "cluster_lock", apply: { model, value, _ throws(ValueError) in
            if isNone(value) { model.clusterLock = nil; return }
            guard value.count <= 128, value.allSatisfy({ $0.isLetter || $0.isNumber || "._-:".contains($0) }) else {
                throw ValueError("\(quoted(value)) is not a lock name (letters, digits, ., _, - and :, like reports)")
            }
            model.clusterLock = value
        }, render: { $0.clusterLock ?? "none" }),
        KeySpec(name: "cluster_redis", apply: { model, value, _ throws(ValueError) in
            model.clusterRedis = isNone(value) ? nil : try RedisURL.parse(value)
        }, render: { $0.clusterRedis?.description ?? "none" }),
        KeySpec(name: "cluster_lock_ttl", apply: { model, value, _ throws(ValueError) in
            model.clusterLockTTL = try Values.duration(value, in: .seconds(3)...(.seconds(600)), usual: "30s")
        }, render: { Values.formatDuration($0.clusterLockTTL) }),
        KeySpec(name: "on_event", apply: { model, value, context throws(ValueError) in
            model.onEvent = isNone(value) ? nil : try hookCommand(value, context)
        }, render: { $0.onEvent.map(CommandWords.join) ?? "none" }),
        KeySpec(name: "hook_timeout", apply: { model, value, _ throws(ValueError) in
            model.hookTimeout = try Values.duration(value, in: .milliseconds(100)...(.seconds(3600)), usual: "10s")
        }, render: { Values.formatDuration($0.hookTimeout) }),
        KeySpec(name: "hook_concurrency", apply: { model, value, _ throws(ValueError) in
            model.hookConcurrency = try Values.integer(value, in: 1...64, example: "4")
        }, render: { "\($0.hookConcurrency)" }),
    ]

    // MARK: - pools

    static let pool: [KeySpec<PoolConfig>] = [
        KeySpec(name: "command", apply: { model, value, _ throws(ValueError) in
            let split = try CommandWords.split(value)
            guard !split.words.isEmpty else { throw ValueError("is empty (write the worker's command line)") }
            model.command = split.words
        }, render: { CommandWords.join($0.command) }),
        KeySpec(name: "directory", apply: { model, value, context in
            model.directory = context.path(value)
        }, render: { $0.directory }),
        KeySpec(name: "workers", apply: { model, value, _ throws(ValueError) in
            let range = try Values.range(value, expected: "a number of workers (write a count from 0 to 4096, like 4, or a range MIN-MAX, like 2-16)") {
                (text) throws(ValueError) in try Values.integer(text, in: 0...4096, example: "4, or 2-16")
            }
            guard range.upperBound >= 1 || !value.contains("-") else {
                throw ValueError("\(quoted(value)) never runs a worker (a range needs a maximum of 1 or more, like 0-4)")
            }
            model.workers = range.lowerBound
            model.maxWorkers = range.count > 1 ? range.upperBound : nil
        }, render: { pool in pool.maxWorkers.map { "\(pool.workers)-\($0)" } ?? "\(pool.workers)" }),
        KeySpec(name: "scale_cooldown", apply: { model, value, _ throws(ValueError) in
            let cooldown = try Values.duration(value)
            guard cooldown >= .seconds(1) else { throw ValueError("\(quoted(value)) is too short (1s at least; 30s is usual)") }
            model.scaleCooldown = cooldown
        }, render: { Values.formatDuration($0.scaleCooldown) }),
        KeySpec(name: "user", apply: { model, value, _ throws(ValueError) in
            model.user = try accountName(value)
        }, render: { $0.user ?? "" }),
        KeySpec(name: "group", apply: { model, value, _ throws(ValueError) in
            model.group = try accountName(value)
        }, render: { $0.group ?? "" }),
        KeySpec(name: "umask", apply: { model, value, _ throws(ValueError) in
            model.umask = value == "inherit" ? nil : try Values.octalMode(value)
        }, render: { $0.umask.map { "0" + String($0, radix: 8) } ?? "inherit" }),
        KeySpec(name: "environment", apply: { model, value, _ throws(ValueError) in
            model.environment = try Values.environment(value).map { EnvironmentVariable(name: $0.0, value: $0.1) }
        }, render: { pool in
            pool.environment.map { "\($0.name)=\"\(escapeQuoted($0.value))\"" }.joined(separator: ", ")
        }),
        KeySpec(name: "clear_env", apply: { model, value, _ throws(ValueError) in
            model.clearEnvironment = try Values.bool(value)
        }, render: { $0.clearEnvironment ? "yes" : "no" }),
        KeySpec(name: "pass_env", apply: { model, value, _ throws(ValueError) in
            let names = value.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
            if let bad = names.first(where: { !Values.isEnvironmentName($0) }) {
                throw ValueError("\(quoted(bad)) is not a variable name (write NAME, OTHER)")
            }
            model.passEnvironment = names
        }, render: { $0.passEnvironment.joined(separator: ", ") }),
        KeySpec(name: "stop_signal", apply: { model, value, _ throws(ValueError) in
            model.stopSignal = try Values.signal(value)
        }, render: { Signals.name(of: $0.stopSignal) }),
        KeySpec(name: "stop_timeout", apply: { model, value, _ throws(ValueError) in
            model.stopTimeout = try Values.duration(value)
        }, render: { Values.formatDuration($0.stopTimeout) }),
        KeySpec(name: "max_jobs", apply: { model, value, _ throws(ValueError) in
            if isNone(value) { model.maxJobs = nil; return }
            let range = try Values.range(value) { (text) throws(ValueError) in
                try Values.integer(text, in: 0...1_000_000_000, example: "1000-2000")
            }
            model.maxJobs = range == 0...0 ? nil : spreadBelow(range, written: value, by: { $0 / 10 })
            if let jobs = model.maxJobs, jobs.lowerBound < 1 {
                throw ValueError("\(quoted(value)) would let a worker recycle before its first job (start the range at 1 or more)")
            }
        }, render: { $0.maxJobs.map { Values.formatRange($0) { "\($0)" } } ?? "none" }),
        KeySpec(name: "memory_limit", apply: { model, value, _ throws(ValueError) in
            model.memoryLimit = isNone(value) ? nil : try nonZero(Values.size(value), value)
        }, render: { $0.memoryLimit.map(Values.formatSize) ?? "none" }),
        KeySpec(name: "memory_kill", apply: { model, value, _ throws(ValueError) in
            model.memoryKill = isNone(value) ? nil : try nonZero(Values.size(value), value)
        }, render: { $0.memoryKill.map(Values.formatSize) ?? "none" }),
        KeySpec(name: "memory_interval", apply: { model, value, _ throws(ValueError) in
            let interval = try Values.duration(value)
            guard interval >= .milliseconds(10) else { throw ValueError("\(quoted(value)) is too short (10ms at least; 1s is usual)") }
            model.memoryInterval = interval
        }, render: { Values.formatDuration($0.memoryInterval) }),
        KeySpec(name: "start_grace", apply: { model, value, _ throws(ValueError) in
            model.startGrace = try Values.duration(value)
        }, render: { Values.formatDuration($0.startGrace) }),
        KeySpec(name: "spare", apply: { model, value, _ throws(ValueError) in
            model.spare = try Values.integer(value, in: 0...1, example: "1, or 0 for none")
        }, render: { "\($0.spare)" }),
        KeySpec(name: "prefetch", apply: { model, value, _ throws(ValueError) in
            model.prefetch = try Values.integer(value, in: 0...1, example: "1, or 0 for none")
        }, render: { "\($0.prefetch)" }),
        KeySpec(name: "max_lifetime", apply: { model, value, _ throws(ValueError) in
            if isNone(value) { model.maxLifetime = nil; return }
            let range = try Values.range(value, expected: "a range (write LOW-HIGH, like 50m-1h)", Values.duration)
            guard range.lowerBound >= .seconds(1) else { throw ValueError("\(quoted(value)) is too short (1s at least; try 1h)") }
            model.maxLifetime = spreadBelow(range, written: value, by: { $0 / 10 })
        }, render: { $0.maxLifetime.map { Values.formatRange($0, Values.formatDuration) } ?? "none" }),
        KeySpec(name: "backoff_min", apply: { model, value, _ throws(ValueError) in
            model.backoffMin = try Values.duration(value)
        }, render: { Values.formatDuration($0.backoffMin) }),
        KeySpec(name: "backoff_max", apply: { model, value, _ throws(ValueError) in
            model.backoffMax = try Values.duration(value)
        }, render: { Values.formatDuration($0.backoffMax) }),
        KeySpec(name: "backoff_reset", apply: { model, value, _ throws(ValueError) in
            model.backoffReset = try Values.duration(value)
        }, render: { Values.formatDuration($0.backoffReset) }),
        KeySpec(name: "queue", apply: { model, value, context throws(ValueError) in
            if isNone(value) { model.queue = .none; return }
            model.queue = try queuePlace(value, context, orElse: ", or none when the workers poll their own")
        }, render: { renderQueuePlace($0.queue) }),
        KeySpec(name: "fastcgi", apply: { model, value, _ throws(ValueError) in
            model.fastcgi = isNone(value) ? nil : try FastCGIAddress.parse(value)
        }, render: { $0.fastcgi?.description ?? "none" }),
        KeySpec(name: "script", apply: { model, value, _ throws(ValueError) in
            let path = Values.unquote(value)
            if isNone(path) { model.script = nil; return }
            guard path.hasPrefix("/") else { throw ValueError("\(quoted(value)) is not an absolute path (PHP-FPM runs it as SCRIPT_FILENAME; write /srv/app/bin/job.php)") }
            model.script = path
        }, render: { $0.script ?? "none" }),
        KeySpec(name: "queue_name", apply: { model, value, _ throws(ValueError) in
            model.queueName = try queueName(value)
        }, render: { $0.queueName }),
        KeySpec(name: "job_timeout", apply: { model, value, _ throws(ValueError) in
            model.jobTimeout = isNone(value) ? nil : try Values.duration(value)
            if let timeout = model.jobTimeout, timeout < .milliseconds(10) {
                throw ValueError("\(quoted(value)) is too short (10ms at least; none for no limit)")
            }
        }, render: { $0.jobTimeout.map(Values.formatDuration) ?? "none" }),
        KeySpec(name: "max_attempts", apply: { model, value, _ throws(ValueError) in
            model.maxAttempts = try Values.integer(value, in: 1...1_000_000, example: "5")
        }, render: { "\($0.maxAttempts)" }),
        KeySpec(name: "retry_delay", apply: { model, value, _ throws(ValueError) in
            model.retryDelay = try Values.range(value, expected: "a range (write LOW-HIGH, like 1s-10m)", Values.duration)
        }, render: { Values.formatRange($0.retryDelay, Values.formatDuration) }),
        KeySpec(name: "keep_done", apply: { model, value, _ throws(ValueError) in
            model.keepDone = try Values.duration(value)
        }, render: { Values.formatDuration($0.keepDone) }),
        KeySpec(name: "concurrency", apply: { model, value, _ throws(ValueError) in
            model.jobLimits.concurrency = isNone(value) ? nil : try Values.integer(value, in: 1...1_000_000, example: "10, or none")
        }, render: { $0.jobLimits.concurrency.map(String.init) ?? "none" }),
        KeySpec(name: "rate_limit", apply: { model, value, _ throws(ValueError) in
            model.jobLimits.rate = isNone(value) ? nil : try RateLimit(value)
        }, render: { $0.jobLimits.rate?.description ?? "none" }),
        KeySpec(name: "key_concurrency", apply: { model, value, _ throws(ValueError) in
            model.jobLimits.keyConcurrency = isNone(value) ? nil : try Values.integer(value, in: 1...1_000_000, example: "2, or none")
        }, render: { $0.jobLimits.keyConcurrency.map(String.init) ?? "none" }),
        KeySpec(name: "key_rate_limit", apply: { model, value, _ throws(ValueError) in
            model.jobLimits.keyRate = isNone(value) ? nil : try RateLimit(value)
        }, render: { $0.jobLimits.keyRate?.description ?? "none" }),
        KeySpec(name: "log_file", apply: { model, value, context in
            model.logFile = value.isEmpty || value == "stderr" ? nil : context.path(value)
        }, render: { $0.logFile ?? "stderr" }),
        KeySpec(name: "on_event", apply: { model, value, context throws(ValueError) in
            model.onEvent = value == "inherit" ? nil : isNone(value) ? [] : try hookCommand(value, context)
        }, render: { pool in pool.onEvent.map { $0.isEmpty ? "none" : CommandWords.join($0) } ?? "inherit" }),
        KeySpec(name: "alert_queue_age", apply: { model, value, _ throws(ValueError) in
            model.alertQueueAge = isNone(value) ? nil : try Values.duration(value)
            if let age = model.alertQueueAge, age < .seconds(1) { throw ValueError("\(quoted(value)) is too short (1s at least; none for no alert)") }
        }, render: { $0.alertQueueAge.map(Values.formatDuration) ?? "none" }),
    ] + Resources.byName.map { resource, _ in limitKey(resource) }

    /// `rlimit_nofile = 4096`, `rlimit_core = unlimited`, `rlimit_as = 1G`, `rlimit_nofile = 1024:4096`.
    static func limitKey(_ resource: String) -> KeySpec<PoolConfig> {
        KeySpec(name: "rlimit_" + resource, apply: { model, value, _ throws(ValueError) in
            model.limits.removeAll { $0.name == resource }
            if value == "inherit" { return }
            let parts = value.split(separator: ":", maxSplits: 1).map { String($0.trimmingSpaces()) }
            guard !parts.isEmpty else { throw ValueError("is empty (write a number, SOFT:HARD, unlimited or inherit)") }
            let soft = try limitValue(resource, parts[0])
            let hard = parts.count > 1 ? try limitValue(resource, parts[1]) : soft
            guard soft <= hard else { throw ValueError("the soft limit \(parts[0]) is above the hard limit \(parts[1])") }
            model.limits.append(LimitSetting(name: resource, soft: soft, hard: hard))
        }, render: { pool in
            guard let limit = pool.limits.first(where: { $0.name == resource }) else { return "inherit" }
            let soft = renderLimit(resource, limit.soft), hard = renderLimit(resource, limit.hard)
            return soft == hard ? soft : soft + ":" + hard
        })
    }

    static let countedLimits: Set<String> = ["nofile", "nproc"]

    static func limitValue(_ resource: String, _ text: String) throws(ValueError) -> UInt64 {
        if text == "unlimited" || text == "infinity" { return ResourceLimit.unlimited }
        if countedLimits.contains(resource) {
            return UInt64(try Values.integer(text, in: 0...Int(Int32.max), example: "4096"))
        }
        if resource == "cpu" { return UInt64(try Values.duration(text).nanoseconds / 1_000_000_000) }
        return try Values.size(text)
    }

    static func renderLimit(_ resource: String, _ value: UInt64) -> String {
        if value == ResourceLimit.unlimited { return "unlimited" }
        if countedLimits.contains(resource) { return "\(value)" }
        if resource == "cpu" { return Values.formatDuration(.seconds(Int64(value))) }
        return Values.formatSize(value)
    }

    // MARK: - helpers

    /// `sqlite:/var/lib/solo/queue.db` or `redis://127.0.0.1:6379/0`: where a queue lives.
    static func queuePlace(_ value: String, _ context: KeyContext, orElse other: String = "") throws(ValueError) -> QueueSetting {
        if value.hasPrefix("redis") { return .redis(try RedisURL.parse(value)) }
        guard value.hasPrefix("sqlite:"), value.count > 7 else {
            throw ValueError("\(quoted(value)) is not a queue (write sqlite:/var/lib/solo/queue.db, redis://127.0.0.1:6379/0\(other))")
        }
        return .sqlite(path: context.path(String(value.dropFirst(7))))
    }

    /// `on_event`'s command, split as `command` is (no shell unless it says `sh -c '...'`); a
    /// program written with a / is taken relative to the file that names it.
    static func hookCommand(_ value: String, _ context: KeyContext) throws(ValueError) -> [String] {
        var words = try CommandWords.split(value).words
        guard !words.isEmpty else { throw ValueError("is empty (write the hook's command line, or none)") }
        if words[0].contains("/") { words[0] = Path.resolve(words[0], against: context.baseDirectory) }
        return words
    }

    static func queueName(_ value: String) throws(ValueError) -> String {
        guard !value.isEmpty, value.count <= 200, !value.contains(where: { $0 == " " || $0.isNewline }) else {
            throw ValueError("\(quoted(value)) is not a queue name (no spaces; like mailer)")
        }
        return value
    }

    static func renderQueuePlace(_ place: QueueSetting) -> String {
        switch place {
        case .none: return "none"
        case .sqlite(let path): return "sqlite:" + path
        case .redis(let url): return url.description
        }
    }

    static func isNone(_ value: String) -> Bool {
        ["none", "off", "no", "unlimited", ""].contains(value.lowercased())
    }

    /// A single value V is read as V minus a tenth up to V, so that a pool's workers spread out
    /// and never exceed what was written; `V-V` asks for exactly V.
    static func spreadBelow<T: Comparable>(_ range: ClosedRange<T>, written: String, by tenth: (T) -> T) -> ClosedRange<T> where T: AdditiveArithmetic {
        guard !written.contains("-") else { return range }
        return (range.upperBound - tenth(range.upperBound))...range.upperBound
    }

    static func nonZero(_ value: UInt64, _ text: String) throws(ValueError) -> UInt64 {
        guard value > 0 else { throw ValueError("\(quoted(text)) is zero (write none for no limit)") }
        return value
    }

    static func accountName(_ value: String) throws(ValueError) -> String? {
        if value.isEmpty { return nil }
        guard value.allSatisfy({ $0.isLetter || $0.isNumber || "_-.$".contains($0) }) else {
            throw ValueError("\(quoted(value)) is not a user or group name")
        }
        return value
    }

    static func escapeQuoted(_ value: String) -> String {
        var result = ""
        for c in value {
            if c == "\"" || c == "\\" { result.append("\\") }
            result.append(c)
        }
        return result
    }
}
