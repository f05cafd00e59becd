import Glibc

/// Resource limits of the running process, and their names as config keys use them.
public enum Resources {
    /// `rlimit_nofile` → RLIMIT_NOFILE, and so on.
    public static let byName: [(String, Int32)] = [
        ("cpu", Int32(RLIMIT_CPU.rawValue)), ("fsize", Int32(RLIMIT_FSIZE.rawValue)),
        ("data", Int32(RLIMIT_DATA.rawValue)), ("stack", Int32(RLIMIT_STACK.rawValue)),
        ("core", Int32(RLIMIT_CORE.rawValue)), ("nproc", Int32(__RLIMIT_NPROC.rawValue)),
        ("nofile", Int32(RLIMIT_NOFILE.rawValue)), ("memlock", Int32(__RLIMIT_MEMLOCK.rawValue)),
        ("as", Int32(RLIMIT_AS.rawValue)),
    ]

    public static func current(_ resource: Int32) -> (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(UInt32(resource)), &limit)
        return (convert(limit.rlim_cur), convert(limit.rlim_max))
    }

    /// Raises the soft limit on open files to the hard limit (the supervisor holds several
    /// descriptors per worker); returns the previous soft limit, which workers get back.
    @discardableResult
    public static func raiseOpenFileLimit() -> (soft: UInt64, hard: UInt64) {
        let resource = __rlimit_resource_t(UInt32(RLIMIT_NOFILE.rawValue))
        var limit = rlimit()
        getrlimit(resource, &limit)
        let previous = (convert(limit.rlim_cur), convert(limit.rlim_max))
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(resource, &limit)
        }
        return previous
    }

    private static func convert(_ value: rlim_t) -> UInt64 {
        value == rlim_t.max ? ResourceLimit.unlimited : UInt64(value)  // RLIM_INFINITY
    }
}
