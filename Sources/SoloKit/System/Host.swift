import Glibc

/// What this process learns from the machine and from whoever started it: the host name and
/// the environment.
public enum Host {
    /// The machine's host name (gethostname), as other supervisors and lock holders see it.
    public static func name() -> String {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The whole environment this process was started with, as `NAME=value` entries.
    public static func environment() -> [String] {
        var result: [String] = []
        var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = environ
        while let entry = pointer.pointee {
            result.append(String(cString: entry))
            pointer = pointer.advanced(by: 1)
        }
        return result
    }

    /// One variable of the environment; nil when it is not set.
    public static func variable(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
