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

/// A TCP relay to a Redis server that a test cuts, as a network split would cut one host
/// off: every relayed connection is closed, and new ones are refused, until it is restored.
final class SeverableRelay: @unchecked Sendable {
    let port: UInt16
    private let target: UInt16
    private let guardLock = NSLock()
    private var listener: Int32 = -1
    private var open: [Int32] = []
    private var severed = true

    init(to target: UInt16) throws {
        self.target = target
        port = try freePort()
        try restore()
    }

    deinit { sever() }

    /// Listens again on the same port.
    func restore() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard withLoopbackAddress(port, { bind(fd, $0, $1) }) == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw Timeout(what: "the relay's port \(port) (bind: \(Errno.current))")
        }
        guardLock.lock()
        listener = fd
        severed = false
        guardLock.unlock()
        Thread.detachNewThread { [self] in acceptLoop(fd) }
    }

    private func acceptLoop(_ listener: Int32) {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let (upstream, _) = connectLoopback(target)
            guard let upstream, track([client, upstream]) else {
                close(client)
                continue
            }
            Thread.detachNewThread { [self] in pump(from: client, to: upstream) }
            Thread.detachNewThread { [self] in pump(from: upstream, to: client) }
        }
    }

    private func track(_ sockets: [Int32]) -> Bool {
        guardLock.lock()
        defer { guardLock.unlock() }
        guard !severed else { sockets.forEach { close($0) }; return false }
        open += sockets
        return true
    }

    private func pump(from source: Int32, to sink: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(source, &buffer, buffer.count)
            guard n > 0, write(sink, buffer, n) == n else { break }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(sink, Int32(SHUT_RDWR))
    }

    /// Cuts every connection and refuses new ones.
    func sever() {
        guardLock.lock()
        defer { guardLock.unlock() }
        guard !severed else { return }
        severed = true
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for socket in open { shutdown(socket, Int32(SHUT_RDWR)) }
        open = []
    }
}
