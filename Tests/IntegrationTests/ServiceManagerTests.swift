import Foundation
import Glibc
import SoloKit
import Testing

/// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
final class FakeSystemd {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0, "bind \(path): \(errno)")
    }

    deinit { close(fd) }

    /// The next notification, or nil after `seconds`.
    func receive(seconds: Double = 10) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    /// Notifications until one holds `line`.
    func waitFor(_ line: String, seconds: Double = 10) -> [String] {
        var seen: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, let message = receive(seconds: deadline.timeIntervalSinceNow) {
            seen.append(message)
            if message.split(separator: "\n").contains(Substring(line)) { return seen }
        }
        return seen
    }
}

@Suite struct ServiceManagerTests {
    @Test func speaksSdNotifyWhenSystemdListens() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[sleepers]\ncommand = sleep 600\nqueue = none\nworkers = 2\n")
        let systemd = try FakeSystemd(path: scratch.file("notify.sock"))
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = systemd.path
        environment["WATCHDOG_USEC"] = "200000"
        let supervisor = try RunningSupervisor(scratch, environment: environment)

        let ready = systemd.waitFor("READY=1")
        let first = try #require(ready.last)
        #expect(supervisor.lines(containing: "started worker").count == 2, "READY=1 once the workers have started")
        #expect(first.contains("STATUS="))
        let pings = systemd.waitFor("WATCHDOG=1", seconds: 2)
        #expect(pings.last?.contains("WATCHDOG=1") == true, "a watchdog ping within half of WATCHDOG_USEC: \(pings)")
        let statusLine = (ready + pings).joined(separator: "\n").split(separator: "\n").last { $0.hasPrefix("STATUS=") }
        #expect(statusLine?.contains("2/2 workers in 1 pool") == true, "\(String(describing: statusLine))")

        supervisor.child.signal(SIGHUP)
        let reload = systemd.waitFor("READY=1").joined(separator: "\n")
        #expect(reload.contains("RELOADING=1\nMONOTONIC_USEC="), "SIGHUP says RELOADING=1, for Type=notify-reload: \(reload)")
        #expect(reload.hasSuffix("READY=1"), "and READY=1 once the reload is done: \(reload)")

        supervisor.child.signal(SIGTERM)
        #expect(systemd.waitFor("STOPPING=1").last?.contains("STOPPING=1") == true)
        #expect(try supervisor.child.wait() == 0)
        #expect(!supervisor.log.contains("cannot notify"), "every notification was delivered")
    }
}
