/// A config that loaded, and what is worth a warning in it.
public struct LoadedConfig {
    public var config: SoloConfig
    public var warnings: [ConfigIssue]
}

/// Reads the main config file and its includes into a validated `SoloConfig`, collecting
/// every problem with its `file:line` rather than stopping at the first.
public struct ConfigLoader {
    /// How files are found; replaced in tests by an in-memory set of files.
    public var readFile: (String) throws(ReadError) -> String = { (path) throws(ReadError) in try Files.readText(path, limit: 1 << 20) }
    public var glob: (String) throws(UnreadableDirectory) -> [String] = Files.glob
    public var uid: UInt32 = Accounts.ownUID
    public var home: String? = Host.variable("HOME")
    public var currentDirectory: String = Files.currentDirectory()
    /// Checks that need the machine (directories, programs, accounts); off in pure tests.
    public var checkMachine = true
    /// How schedules find their time zones.
    public var loadZone: (String) throws(ValueError) -> TimeZoneRules = { (name) throws(ValueError) in try ZoneFiles.load(name) }
    public var hostZone: () -> TimeZoneRules = { ZoneFiles.host() }

    public init() {}

    static let poolNameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

    /// Only the [global] section of the main file: enough to find a running supervisor's control
    /// socket even when a pool section has errors (so that `solo reload` can be told about them
    /// by the supervisor, which keeps its running config).
    public func loadGlobal(_ path: String) throws(ConfigErrors) -> (file: String, global: GlobalConfig) {
        let file = Path.resolve(path, against: currentDirectory)
        let text: String
        do { text = try readFile(file) } catch {
            throw ConfigErrors(issues: [ConfigIssue(file: file, line: 0, message: "cannot read the config file: \(error)")])
        }
        var issues: [ConfigIssue] = []
        var global = GlobalConfig()
        var set: Set<String> = []
        for section in INI.parse(text, file: file).sections where section.name == "global" {
            set = apply(section.entries, to: &global, keys: Keys.global, others: Keys.pool.map(\.name),
                        othersAre: "a pool key: put it in a [pool] section", file: file, issues: &issues)
            break
        }
        if issues.contains(where: { $0.severity == .error }) { throw ConfigErrors(issues: issues) }
        fillGlobalDefaults(&global, set: set)
        return (file, global)
    }

    public func load(_ path: String) throws(ConfigErrors) -> LoadedConfig {
        let file = Path.resolve(path, against: currentDirectory)
        var issues: [ConfigIssue] = []
        var global = GlobalConfig()
        var globalKeysSet: Set<String> = []
        var pools: [PoolConfig] = []
        var poolEntries: [String: [INIEntry]] = [:]

        let text: String
        do { text = try readFile(file) } catch {
            throw ConfigErrors(issues: [ConfigIssue(file: file, line: 0, message: "cannot read the config file: \(error)")])
        }
        let (sections, syntaxIssues) = INI.parse(text, file: file)
        issues += syntaxIssues

        var globalLine: Int? = nil
        for section in sections where section.name == "global" {
            if let first = globalLine {
                issues.append(ConfigIssue(file: file, line: section.line, message: "a second [global] section (the first is at line \(first); merge them)"))
                continue
            }
            globalLine = section.line
            globalKeysSet = apply(section.entries, to: &global, keys: Keys.global, others: Keys.pool.map(\.name),
                                  othersAre: "a pool key: put it in a [pool] section", file: file, issues: &issues)
            issues += validate(global, file: file, entries: section.entries)
        }
        fillGlobalDefaults(&global, set: globalKeysSet)

        var files: [(String, [INISection])] = [(file, sections.filter { $0.name != "global" })]
        let includeLine = sections.first { $0.name == "global" }?.entries.first { $0.key == "include" }?.line ?? 0
        for pattern in global.includes {
            let matches: [String]
            do { matches = try glob(pattern) } catch {
                issues.append(ConfigIssue(file: file, line: includeLine, key: "include",
                                          message: "\(quoted(pattern)) cannot be searched: \(error.path): \(error.error) (make the directory readable by the user solo runs as)"))
                continue
            }
            if matches.isEmpty {
                issues.append(ConfigIssue(file: file, line: includeLine, key: "include",
                                          message: "\(quoted(pattern)) matches no file", severity: .warning))
            }
            for included in matches where included != file {
                do {
                    let (includedSections, includedIssues) = INI.parse(try readFile(included), file: included)
                    issues += includedIssues
                    for section in includedSections where section.name == "global" {
                        issues.append(ConfigIssue(file: included, line: section.line, message: "[global] belongs in the main file \(file), not in an included one"))
                    }
                    files.append((included, includedSections.filter { $0.name != "global" }))
                } catch {
                    let advice = if case .system = error { "" } else { " (make the include pattern match config files only)" }
                    issues.append(ConfigIssue(file: included, line: 0, message: "cannot read the included file: \(error)\(advice)"))
                }
            }
        }

        for (path, poolSections) in files {
            for section in poolSections where !section.name.hasPrefix(Self.schedulePrefix) {
                if let problem = Self.poolNameProblem(section.name) {
                    issues.append(ConfigIssue(file: path, line: section.line, message: problem))
                    continue
                }
                if let earlier = pools.first(where: { $0.name == section.name }) {
                    issues.append(ConfigIssue(file: path, line: section.line, message: "pool [\(section.name)] is defined twice (first at \(earlier.file):\(earlier.line)); rename one"))
                    continue
                }
                var pool = PoolConfig(name: section.name, file: path, line: section.line)
                let set = apply(section.entries, to: &pool, keys: Keys.pool, others: Keys.global.map(\.name),
                                othersAre: "a [global] key: put it in [global] of \(file)", file: path, issues: &issues)
                fillPoolDefaults(&pool, set: set, global: global)
                issues += validate(pool, set: set, entries: section.entries)
                poolEntries[pool.name] = section.entries
                pools.append(pool)
            }
        }
        if pools.isEmpty && !issues.contains(where: { $0.severity == .error }) {
            issues.append(ConfigIssue(file: file, line: 0, message: "no pool is defined (add a section such as [mailer] with command = ...)"))
        }

        issues += validateClientSocket(global, pools: pools, file: file, entries: sections.first { $0.name == "global" }?.entries ?? [])
        issues += validateCluster(&global, pools: pools, file: file, entries: sections.first { $0.name == "global" }?.entries ?? [])
        var config = SoloConfig(file: file, global: global, pools: pools)
        config.schedules = loadSchedules(files, config: config, issues: &issues)

        let errors = issues.filter { $0.severity == .error }
        if !errors.isEmpty { throw ConfigErrors(issues: issues) }
        return LoadedConfig(config: config, warnings: issues.filter { $0.severity == .warning })
    }

    /// Applies a section's entries through the key table; returns the keys that were set.
    func apply<Model>(_ entries: [INIEntry], to model: inout Model, keys: [KeySpec<Model>], others: [String],
                              othersAre: String, file: String, issues: inout [ConfigIssue]) -> Set<String> {
        var seen: [String: Int] = [:]
        let context = KeyContext(baseDirectory: Path.directory(of: file))
        for entry in entries {
            if let first = seen[entry.key] {
                issues.append(ConfigIssue(file: file, line: entry.line, key: entry.key, message: "is set twice (first at line \(first)); keep one"))
                continue
            }
            seen[entry.key] = entry.line
            guard let spec = keys.first(where: { $0.name == entry.key }) else {
                var message = "unknown key"
                if others.contains(entry.key) {
                    message += ": it is \(othersAre)"
                } else if let guess = Values.suggestion(for: entry.key, among: keys.map(\.name)) {
                    message += " (did you mean \(guess)?)"
                }
                issues.append(ConfigIssue(file: file, line: entry.line, key: entry.key, message: message))
                continue
            }
            do {
                try spec.apply(&model, entry.value, context)
            } catch {
                issues.append(ConfigIssue(file: file, line: entry.line, key: entry.key, message: error.message))
            }
        }
        return Set(seen.keys)
    }

    private func fillGlobalDefaults(_ global: inout GlobalConfig, set: Set<String>) {
        if !set.contains("state_dir") {
            if uid == 0 {
                global.stateDirectory = "/var/lib/solo"
            } else {
                global.stateDirectory = Path.normalize((home ?? "/tmp") + "/.local/state/solo")
            }
        }
        if !set.contains("log_file") {
            global.logFile = (global.logDirectory ?? global.stateDirectory) + "/solo.log"
        }
    }

    private func fillPoolDefaults(_ pool: inout PoolConfig, set: Set<String>, global: GlobalConfig) {
        if !set.contains("directory") { pool.directory = Path.directory(of: pool.file) }
        if !set.contains("queue") { pool.queue = .sqlite(path: global.stateDirectory + "/queue.db") }
        if !set.contains("queue_name") { pool.queueName = pool.name }
        if !set.contains("log_file"), let logDirectory = global.logDirectory {
            pool.logFile = logDirectory + "/" + pool.name + ".log"
        }
    }

    static func poolNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "a section without a name (write [mailer])" }
        if name.count > 64 { return "pool name [\(name.prefix(20))...] is longer than 64 characters" }
        if !name.allSatisfy({ poolNameCharacters.contains($0) }) || name.first == "." || name.first == "-" {
            return "pool name [\(name)] may hold only letters, digits, _, . and - (like [mail-worker])"
        }
        // `solo stop all` means every pool: a pool of that name could not be named alone.
        if name == "all" { return "pool name [all] is taken: solo stop|start|restart all means every pool (name it [all-jobs], say)" }
        return nil
    }

    /// Checks of [global] that involve several keys: each listening port is none of solo's
    /// others, and one that reaches beyond this machine is warned of.
    private func validate(_ global: GlobalConfig, file: String, entries: [INIEntry]) -> [ConfigIssue] {
        let listeners: [(key: String, address: ListenAddress?, what: String, example: UInt16)] = [
            ("metrics_listen", global.metricsListen, "the metrics beyond this machine, without authentication", 9464),
            ("dashboard_listen", global.dashboardListen, "the dashboard beyond this machine, over plain HTTP (its token can be read on the way)", 9465),
        ]
        var issues: [ConfigIssue] = []
        for (index, listener) in listeners.enumerated() {
            guard let address = listener.address, let entry = entries.first(where: { $0.key == listener.key }) else { continue }
            if address.port == global.lockPort && (address.address == 0 || global.lockAddress.map { $0 == address.address } ?? address.isLoopback) {
                issues.append(ConfigIssue(file: file, line: entry.line, key: entry.key,
                                          message: "port \(address.port) is the lock port (lock_port); choose another, like \(listener.example)"))
            } else if let earlier = listeners.prefix(index).first(where: { other in
                other.address.map { $0.port == address.port && ($0.address == 0 || address.address == 0 || $0.address == address.address) } ?? false
            }) {
                issues.append(ConfigIssue(file: file, line: entry.line, key: entry.key,
                                          message: "port \(address.port) is \(earlier.key)'s; choose another, like \(listener.example)"))
            } else if !address.isLoopback {
                issues.append(ConfigIssue(file: file, line: entry.line, key: entry.key,
                                          message: "\(address) serves \(listener.what) (firewall it, or use 127.0.0.1:\(address.port))",
                                          severity: .warning))
            }
        }
        return issues
    }

    /// The client socket is a socket of its own (not the control socket, nor a PHP-FPM's that
    /// solo would take over), for a group that exists.
    private func validateClientSocket(_ global: GlobalConfig, pools: [PoolConfig], file: String, entries: [INIEntry]) -> [ConfigIssue] {
        func issue(_ key: String, _ message: String, _ severity: ConfigIssue.Severity = .error) -> ConfigIssue {
            ConfigIssue(file: file, line: entries.first { $0.key == key }?.line ?? 0, key: key, message: message, severity: severity)
        }
        var issues: [ConfigIssue] = []
        if let path = global.clientSocket, path == global.controlSocket {
            issues.append(issue("client_socket", "\(path) is the control socket's path; choose another, like /run/solo/client.sock"))
        }
        if let path = global.clientSocket, let pool = pools.first(where: { $0.fastcgi == .unix(path: path) }) {
            issues.append(issue("client_socket", "\(path) is where pool \(pool.name)'s PHP-FPM listens (fastcgi = unix:\(path)); choose another, like /run/solo/client.sock"))
        }
        if let group = global.clientGroup {
            if global.clientSocket == nil {
                issues.append(issue("client_group", "has no effect without client_socket (add client_socket = /run/solo/client.sock)", .warning))
            } else if checkMachine && Accounts.group(group) == nil {
                issues.append(issue("client_group", "no group \(group) on this machine (create it with groupadd \(group), or name one that exists, like www-data)"))
            }
        }
        return issues
    }

    /// The fleet lock needs a Redis server: its own `cluster_redis`, or the one the pools use.
    private func validateCluster(_ global: inout GlobalConfig, pools: [PoolConfig], file: String, entries: [INIEntry]) -> [ConfigIssue] {
        func line(_ key: String) -> Int { entries.first { $0.key == key }?.line ?? 0 }
        guard global.clusterLock != nil else {
            if global.clusterRedis != nil {
                return [ConfigIssue(file: file, line: line("cluster_redis"), key: "cluster_redis",
                                    message: "has no effect without cluster_lock (add cluster_lock = NAME for one supervisor in the fleet)", severity: .warning)]
            }
            return []
        }
        guard global.clusterRedis == nil else { return [] }
        let servers = global.redisServers(pools)
        if servers.count == 1 {
            global.clusterRedis = servers[0]
            return []
        }
        let why = servers.isEmpty ? "no pool uses Redis" : "the pools use \(servers.count) Redis servers"
        return [ConfigIssue(file: file, line: line("cluster_lock"), key: "cluster_lock",
                            message: "needs a Redis server to hold it, and \(why) (add cluster_redis = \(RedisURL.example))")]
    }

    /// Checks that involve several keys, or the machine.
    private func validate(_ pool: PoolConfig, set: Set<String>, entries: [INIEntry]) -> [ConfigIssue] {
        var issues = SectionIssues(file: pool.file, line: pool.line, entries: entries)

        issues.checkFastCGI(pool, set: set)
        if !set.contains("command") && pool.fastcgi == nil && pool.script == nil {
            issues.add(nil, "pool [\(pool.name)] has no command (add command = /path/to/worker)")
        }
        if let limit = pool.memoryLimit, let kill = pool.memoryKill, kill < limit {
            issues.add("memory_kill", "\(Values.formatSize(kill)) is below memory_limit \(Values.formatSize(limit)) (the hard limit must be the higher one)")
        }
        if !pool.queue.feedsJobs {
            for key in ["queue_name", "job_timeout", "max_attempts", "retry_delay", "keep_done", "concurrency", "rate_limit",
                        "key_concurrency", "key_rate_limit", "prefetch"] where set.contains(key) {
                issues.add(key, "has no effect with queue = none (the workers poll their own queue)", .warning)
            }
        }
        if case .redis = pool.queue, pool.queueName.contains(where: { $0 == "{" || $0 == "}" }) {
            issues.add(set.contains("queue_name") ? "queue_name" : nil,
                    "queue name \(quoted(pool.queueName)) holds a brace, which Redis reads as part of a key's hash tag (name the queue without { and })")
        }
        if pool.maxWorkers != nil && !pool.queue.feedsJobs {
            issues.add("workers", "a range scales with the depth of solo's queue, and this pool has queue = none (write one number, like 4, or give the pool a queue)")
        }
        if pool.workers == 0 && pool.maxWorkers == nil && pool.queue.feedsJobs {
            issues.add("workers", "0 runs no worker, so the jobs queued for \(quoted(pool.queueName)) wait until it does (write workers = 1 or more, or a range like 0-4 to start workers when jobs arrive)", .warning)
        }
        if pool.alertQueueAge != nil && !pool.queue.feedsJobs {
            issues.add("alert_queue_age", "watches solo's queue, and this pool has queue = none (remove the key, or give the pool a queue)", .warning)
        }
        if pool.maxWorkers == nil && set.contains("scale_cooldown") {
            issues.add("scale_cooldown", "has no effect with a fixed number of workers (write workers = MIN-MAX to scale)", .warning)
        }
        if pool.backoffMin < .milliseconds(10) {
            issues.add("backoff_min", "\(Values.formatDuration(pool.backoffMin)) is too short: a crash loop would burn a CPU (10ms at least; 100ms is usual)")
        }
        if pool.backoffMax < pool.backoffMin {
            issues.add("backoff_max", "\(Values.formatDuration(pool.backoffMax)) is below backoff_min \(Values.formatDuration(pool.backoffMin))")
        }
        if pool.backoffReset < pool.backoffMin {
            issues.add("backoff_reset", "\(Values.formatDuration(pool.backoffReset)) is below backoff_min \(Values.formatDuration(pool.backoffMin)) (a worker must stay up longer than the shortest back-off to count as healthy)")
        }
        if let raw = entries.first(where: { $0.key == "command" }), let shell = try? CommandWords.split(raw.value).shellSyntax {
            issues.add("command", "\(quoted(String(shell))) is passed to the program as it is: no shell runs (write sh -c '...' for shell syntax)", .warning)
        }
        guard checkMachine else { return issues.all }

        if !Files.isDirectory(pool.directory) {
            issues.add(set.contains("directory") ? "directory" : nil, "directory \(pool.directory) does not exist (workers will fail to start until it does)", .warning)
        }
        if let program = pool.command.first, set.contains("command"),
           ProgramPath.resolve(program, searchPath: pool.searchPath, directory: pool.directory) == nil {
            issues.add("command", "\(program) is not an executable file here (workers will fail to start until it is)", .warning)
        }
        if let user = pool.user {
            if let account = Accounts.user(user) {
                if uid != 0 && account.uid != uid {
                    issues.add("user", "switching to \(user) needs solo to run as root (it runs as uid \(uid) here)", .warning)
                }
            } else {
                issues.add("user", "no user \(quoted(user)) on this machine (see /etc/passwd; a number works too)")
            }
        }
        if let group = pool.group, Accounts.group(group) == nil {
            issues.add("group", "no group \(quoted(group)) on this machine (see /etc/group; a number works too)")
        }
        return issues.all
    }
}
