import CSoloSpawn
import Glibc
@testable import SoloKit
import Testing

/// A JSON-lines socket served by a real epoll loop, as the supervisor's: quiet connections go.
@Suite struct ControlServerTests {
    /// A connection quiet past the idle timeout is closed, one that left a request unfinished
    /// past the line timeout is told so and closed; one that waits for an answer stays.
    @Test func quietConnectionsAreClosed() throws {
        let scratch = ScratchFile()
        let path = scratch.directory + "/client.sock"
        let epoll = try Epoll()
        let server = try ControlServer(path: path, name: "test socket", listener: try UnixSocket.listen(at: path), tokens: EpollToken.clients, epoll: epoll,
                                       gate: .owner, maximumRequest: 1 << 20, idleTimeout: .milliseconds(500), lineTimeout: .milliseconds(500),
                                       handle: { json, _ in json["command"]?.stringValue == "later" ? nil : .object([("ok", .bool(true))]) }, say: { _ in })
        defer { server.close() }
        let idle = try UnixSocket.connect(to: path)
        let partial = try UnixSocket.connect(to: path)
        let waiting = try UnixSocket.connect(to: path)
        defer { [idle, partial, waiting].forEach { $0.close() } }
        try partial.writeAll("{\"command\":")
        try waiting.writeAll("{\"command\":\"later\"}\n")
        func received(_ socket: FileDescriptor) -> (text: String, closed: Bool) {
            var bytes = [UInt8](repeating: 0, count: 4096)
            let n = recv(socket.rawValue, &bytes, bytes.count, Int32(MSG_DONTWAIT))
            return (n > 0 ? String(decoding: bytes[0..<n], as: UTF8.self) : "", n == 0)
        }
        var buffer = [solo_event](repeating: solo_event(), count: 64)
        let deadline = Moment.now() + .seconds(10)
        var idleClosed = false
        var partialAnswer = ""
        while Moment.now() < deadline && !(idleClosed && partialAnswer.hasSuffix("\n")) {
            for event in try epoll.wait(timeoutMilliseconds: 50, into: &buffer) { server.event(event) }
            server.expire(now: .now())
            if !idleClosed { idleClosed = received(idle).closed }
            partialAnswer += received(partial).text
        }
        #expect(idleClosed, "the idle connection was not closed")
        #expect(partialAnswer == #"{"ok":false,"error":"request unfinished after 500ms (a request is one line, ended by a newline)"}"# + "\n")
        #expect(server.isOpen(EpollToken.clients.token(3)), "the connection waiting for its answer was closed")
        #expect(received(waiting) == ("", false))
    }
}
