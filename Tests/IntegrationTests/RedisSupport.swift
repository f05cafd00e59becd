import Foundation
import Glibc
import SoloKit
import Testing

/// A redis-server of the test's own, on a free loopback port, its files in the scratch
/// directory; killed when the test ends, however it ends. Tests never touch another Redis.
final class RedisServer {
    static let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].first { FileManager.default.isExecutableFile(atPath: $0) }

    let scratch: Scratch
    let port: UInt16
    let name: String
    let extra: [String]
    private(set) var child: Child?

    /// `persistent`: an append-only file synced at every write, so a restart loses nothing.
    init(_ scratch: Scratch, name: String = "redis", persistent: Bool = false, extra: [String] = []) throws {
        guard RedisServer.binary != nil else {
            throw Timeout(what: "redis-server, which is not installed (apt-get install -y redis-server; .ci/run does it)")
        }
        self.scratch = scratch
        self.name = name
        port = try freePort()
        self.extra = (persistent ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]) + extra
        try FileManager.default.createDirectory(atPath: scratch.file(name), withIntermediateDirectories: true)
        try start()
    }

    deinit { child?.signal(SIGKILL) }

    var url: String { "redis://127.0.0.1:\(port)" }
    var pid: pid_t { child?.pid ?? 0 }

    func start() throws {
        child = try Child(["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--dir", scratch.file(name),
                           "--daemonize", "no", "--protected-mode", "yes"] + extra,
                          in: scratch, name: "\(name)-server", executable: RedisServer.binary!)
        // Listening is enough: a server with a password would refuse a client's handshake.
        try waitFor("redis-server on port \(port) to listen", seconds: 10) {
            let attempt = connectLoopback(port)
            if let socket = attempt.socket { close(socket) }
            return attempt.socket != nil
        }
    }

    /// SIGKILL: the server is gone at once, as in a crash.
    func kill() throws {
        child?.signal(SIGKILL)
        try child?.wait()
        child = nil
    }

    func client(database: Int = 0) throws -> RedisClient {
        try RedisClient(url: RedisURL(host: "127.0.0.1", port: port, database: database), timeout: .seconds(5))
    }

    /// One command on a fresh connection: what a test reads or changes behind solo's back.
    @discardableResult
    func command(_ words: String..., database: Int = 0) throws -> RESPValue {
        try client(database: database).call(RedisCommand(words))
    }
}
