import SoloKit

/// `solo run [FILE] [--log-file PATH] [--notify-fd N]`: the supervisor in the foreground.
/// (Untyped `throws` in this file: typed throws here crash the Swift 6.3 optimizer in release
/// builds, "swifterror value can only be loaded and stored from".)
func runCommand(_ rest: [String]) throws -> Int32 {
    // Before anything else, and before any thread exists: these signals reach only the
    // supervisor's signalfd, and every thread inherits the mask.
    try? Signals.block(Supervisor.handledSignals)
    let arguments = try Arguments.parse(rest, command: "run", valued: ["config", "notify-fd", "log-file"], flags: [])
    if let path = arguments.values["log-file"] {
        // solo's own output (and the output of pools without a log file) goes there, and is
        // reopened there on SIGUSR1, after logrotate has moved the old file away.
        do {
            let file = try LogSink.open(path, directoryMode: 0o750)
            defer { file.close() }
            try Files.redirectOutput(to: file)
        } catch {
            printError("solo: cannot open --log-file \(path): \(error)")
            return 1
        }
    }
    var notify: FileDescriptor? = nil
    if let text = arguments.values["notify-fd"] {
        guard let fd = Int32(text), fd > 2 else { throw UsageError("solo run: --notify-fd needs a descriptor number above 2") }
        notify = FileDescriptor(rawValue: fd)
        try? notify?.setCloseOnExec(true)
    }
    func fail(_ status: Int32, _ message: String, notice: String? = nil) -> Int32 {
        printError(message)
        try? notify?.writeAll((notice ?? "error: \(message.hasPrefix("solo: ") ? String(message.dropFirst(6)) : message)") + "\n")
        return status
    }

    let path = try arguments.configPath(command: "run")
    guard let loaded = loadConfig(path) else {
        return fail(CronCheck.exitConfig, "solo: the configuration \(path) has errors (run solo config check \(path))")
    }
    let config = loaded.config
    let address: UInt32
    if let given = config.global.lockAddress {
        address = given
    } else {
        do { address = try LockAddress.forUser(Accounts.ownUID) } catch { return fail(2, "solo: \(error)") }
    }
    let place = "\(LockAddress.format(address)):\(config.global.lockPort)"
    let lock: PortLock
    do {
        lock = try PortLock.acquire(address: address, port: config.global.lockPort, inheritable: false)
    } catch Errno.addressInUse {
        if case .foreign(let message) = CronCheck.whoHolds(address: address, config: config) { return fail(1, "solo: " + message) }
        return fail(CronCheck.exitAlreadyRunning, "solo: already running (port \(config.global.lockPort) on \(LockAddress.format(address)) is held; config \(config.file))", notice: "busy")
    } catch {
        return fail(1, "solo: cannot take the lock \(place): \(error)")
    }
    do {
        try Files.makeDirectories(config.global.stateDirectory, mode: 0o750)
        if let logDirectory = config.global.logDirectory { try Files.makeDirectories(logDirectory) }
    } catch {
        return fail(1, "solo: cannot create state_dir \(config.global.stateDirectory) or log_dir: \(error)")
    }
    let supervisor: Supervisor
    let options = Supervisor.Options(ownLogFile: arguments.values["log-file"], notify: notify)
    do { supervisor = try Supervisor(config: config, lock: lock, options: options) } catch {
        return fail(1, "solo: \(error)")
    }
    return supervisor.run()
}

/// `solo check [FILE]`: for cron. Silent when the supervisor runs; starts it otherwise.
func checkCommand(_ rest: [String]) throws -> Int32 {
    let arguments = try Arguments.parse(rest, command: "check", valued: ["config", "timeout"], flags: [])
    let path = try arguments.configPath(command: "check")
    var timeout = Duration.seconds(30)
    if let text = arguments.values["timeout"] {
        do { timeout = try Values.duration(text) } catch { throw UsageError("solo check: --timeout \(error.message)") }
    }
    // Warnings wait until a supervisor is started: while one runs, check stays silent, or cron
    // would mail the same warning every minute.
    guard let loaded = loadConfig(path, showWarnings: false) else { return CronCheck.exitConfig }
    guard let executable = Files.executablePath() else {
        printError("solo: cannot find its own executable (/proc/self/exe)")
        return 1
    }
    let outcome = CronCheck.run(config: loaded.config, executable: executable, timeout: timeout)
    if outcome.startedSupervisor { for warning in loaded.warnings { printError(warning.description) } }
    for message in outcome.messages { printError(message) }
    return outcome.status
}

/// `solo config check [FILE]`: validate, then print the effective configuration.
func configCommand(_ rest: [String]) throws -> Int32 {
    guard rest.first == "check" else {
        throw UsageError("solo config: the subcommand is check (solo config check [FILE])")
    }
    let arguments = try Arguments.parse(Array(rest.dropFirst()), command: "config check", valued: ["config"], flags: [])
    guard let loaded = loadConfig(try arguments.configPath(command: "config check")) else { return CronCheck.exitConfig }
    print(ConfigRender.render(loaded.config))
    return 0
}
