/// The environment a worker starts with. With `clear_env = yes` (the default, as in PHP-FPM)
/// a worker gets only a few basics from the supervisor's environment (PATH, locale, TZ, and
/// what `pass_env` names), so no secret of the supervisor's leaks into workers by accident.
public enum WorkerEnvironment {
    static let basics: Set<String> = ["PATH", "LANG", "LANGUAGE", "TZ", "HOME", "USER", "LOGNAME"]
    /// Meant for solo itself, never for its workers.
    static let neverPassed: Set<String> = ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID"]

    public static func build(pool: PoolConfig, slot: Int, jobLimit: Int?, inherited: [String], account: UserAccount?,
                             extra: [(String, String)] = []) -> [String] {
        var names: [String] = []
        var values: [String: String] = [:]
        func set(_ name: String, _ value: String) {
            if values[name] == nil { names.append(name) }
            values[name] = value
        }
        for entry in inherited {
            guard let equals = entry.firstIndex(of: "=") else { continue }
            let name = String(entry[..<equals])
            if neverPassed.contains(name) || name.hasPrefix("SOLO_") { continue }
            let keep = !pool.clearEnvironment || basics.contains(name) || name.hasPrefix("LC_") || pool.passEnvironment.contains(name)
            if keep { set(name, String(entry[entry.index(after: equals)...])) }
        }
        if values["PATH"] == nil { set("PATH", ProgramPath.defaultSearchPath) }
        if let account {
            set("HOME", account.home)
            set("USER", account.name)
            set("LOGNAME", account.name)
        }
        for variable in pool.environment { set(variable.name, variable.value) }
        set("SOLO_POOL", pool.name)
        set("SOLO_WORKER", String(slot))
        set("SOLO_FD", "3")
        set("SOLO_MAX_JOBS", String(jobLimit ?? 0))
        for (name, value) in extra { set(name, value) }
        return names.map { $0 + "=" + values[$0]! }
    }
}
