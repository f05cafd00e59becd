import CSoloSpawn
import Glibc

/// sd_notify, the client side: when systemd starts solo with `Type=notify`, it passes a socket
/// in NOTIFY_SOCKET and, with `WatchdogSec=`, an interval in WATCHDOG_USEC. Without them,
/// every call here does nothing.
public struct ServiceManager {
    public let socket: String?
    /// How often to say WATCHDOG=1 (half the interval systemd waits), if it asks.
    public let watchdogInterval: Duration?

    public init(environment: [String]) {
        func value(_ name: String) -> String? {
            environment.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        socket = value("NOTIFY_SOCKET")
        let pidMatches = value("WATCHDOG_PID").map { Int32($0) == getpid() } ?? true
        if socket != nil, pidMatches, let text = value("WATCHDOG_USEC"), let micros = Int64(text), micros > 0 {
            watchdogInterval = .microseconds(micros / 2)
        } else {
            watchdogInterval = nil
        }
    }

    public var isActive: Bool { socket != nil }

    /// Sends `KEY=value` lines; errors are returned, not thrown: systemd's absence is not a failure.
    @discardableResult
    public func notify(_ lines: [String]) -> Errno? {
        guard let socket else { return nil }
        let message = lines.joined(separator: "\n")
        let result = message.withCString { solo_unix_datagram(socket, $0, Int32(message.utf8.count)) }
        return result == 0 ? nil : Errno(result)
    }
}
