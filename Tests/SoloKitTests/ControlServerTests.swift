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

    /// A peer that half-closes while owed an answer is kept until it has it; one that closes
    /// altogether is let go at once (its caller waits for nothing).
    @Test func aHalfClosedPeerIsKeptAndAClosedOneLetGo() throws {
        let scratch = ScratchFile()
        let path = scratch.directory + "/client.sock"
        let epoll = try Epoll()
        let server = try ControlServer(path: path, name: "test socket", listener: try UnixSocket.listen(at: path), tokens: EpollToken.clients, epoll: epoll,
                                       gate: .owner, maximumRequest: 1 << 20, handle: { _, _ in nil }, say: { _ in })
        defer { server.close() }
        let peer = try UnixSocket.connect(to: path)
        var closed = false
        defer { if !closed { peer.close() } }
        var buffer = [solo_event](repeating: solo_event(), count: 64)
        func turns(_ count: Int) throws {
            for _ in 0..<count {
                for event in try epoll.wait(timeoutMilliseconds: 20, into: &buffer) { server.event(event) }
                server.expire(now: .now())
            }
        }
        let token = EpollToken.clients.token(1)
        try peer.writeAll("{\"command\":\"call\"}\n")
        shutdown(peer.rawValue, Int32(SHUT_WR))
        try turns(10)
        #expect(server.isOpen(token), "a half-closed peer owed an answer was let go")
        peer.close()
        closed = true
        try turns(10)
        #expect(!server.isOpen(token), "a peer that closed is still held")
    }

    /// Two requests answered later on one connection (pipelined `--wait`s) each get their own
    /// answer, and a half-closed peer is closed once it has both.
    @Test func everyAnswerOwedLaterIsSent() throws {
        let scratch = ScratchFile()
        let path = scratch.directory + "/client.sock"
        let epoll = try Epoll()
        final class Later { var server: ControlServer?; var ready = false }
        let later = Later()
        let server = try ControlServer(path: path, name: "test socket", listener: try UnixSocket.listen(at: path), tokens: EpollToken.clients, epoll: epoll,
                                       gate: .owner, maximumRequest: 1 << 20,
                                       handle: { json, token in
                                           let name = json["name"]?.stringValue ?? "?"
                                           later.server?.answerLater(token) { later.ready ? .object([("done", .string(name))]) : nil }
                                           return nil
                                       }, say: { _ in })
        later.server = server
        defer { server.close() }
        let peer = try UnixSocket.connect(to: path)
        defer { peer.close() }
        try peer.writeAll("{\"command\":\"later\",\"name\":\"a\",\"id\":1}\n{\"command\":\"later\",\"name\":\"b\",\"id\":2}\n")
        shutdown(peer.rawValue, Int32(SHUT_WR))
        var buffer = [solo_event](repeating: solo_event(), count: 64)
        var text = ""
        var closed = false
        let deadline = Moment.now() + .seconds(10)
        while Moment.now() < deadline && !closed {
            for event in try epoll.wait(timeoutMilliseconds: 20, into: &buffer) { server.event(event) }
            server.expire(now: .now())
            later.ready = true
            server.settle()
            var bytes = [UInt8](repeating: 0, count: 4096)
            let n = recv(peer.rawValue, &bytes, bytes.count, Int32(MSG_DONTWAIT))
            if n > 0 { text += String(decoding: bytes[0..<n], as: UTF8.self) } else if n == 0 { closed = true }
        }
        #expect(text == #"{"done":"a","id":1}"# + "\n" + #"{"done":"b","id":2}"# + "\n", "\(text)")
        #expect(closed, "the half-closed peer was not closed once it had both answers")
    }

    /// Past the bytes of unfinished requests a socket holds over its connections, a large one
    /// is refused; small requests are still served.
    @Test func unfinishedRequestsHaveABudget() throws {
        let scratch = ScratchFile()
        let path = scratch.directory + "/client.sock"
        let epoll = try Epoll()
        let server = try ControlServer(path: path, name: "test socket", listener: try UnixSocket.listen(at: path), tokens: EpollToken.clients, epoll: epoll,
                                       gate: .owner, maximumRequest: 1 << 20, maximumBuffered: 300_000,
                                       handle: { _, _ in .object([("ok", .bool(true))]) }, say: { _ in })
        defer { server.close() }
        let first = try UnixSocket.connect(to: path)
        let second = try UnixSocket.connect(to: path)
        let small = try UnixSocket.connect(to: path)
        defer { [first, second, small].forEach { $0.close() } }
        let large = "{\"command\":\"counts\",\"pad\":\"" + String(repeating: "x", count: 200_000)
        var buffer = [solo_event](repeating: solo_event(), count: 64)
        func turn() throws {
            for event in try epoll.wait(timeoutMilliseconds: 50, into: &buffer) { server.event(event) }
            server.expire(now: .now())
        }
        func answer(_ socket: FileDescriptor) throws -> String {
            var text = ""
            var bytes = [UInt8](repeating: 0, count: 4096)
            let deadline = Moment.now() + .seconds(10)
            while !text.hasSuffix("\n") && Moment.now() < deadline {
                try turn()
                let n = recv(socket.rawValue, &bytes, bytes.count, Int32(MSG_DONTWAIT))
                if n > 0 { text += String(decoding: bytes[0..<n], as: UTF8.self) }
            }
            return text
        }
        try first.writeAll(large)
        for _ in 0..<20 { try turn() }
        try second.writeAll(large)
        let refused = try answer(second)
        #expect(refused == #"{"ok":false,"error":"solo holds 293.0K of unfinished requests already; send this one again shortly"}"# + "\n")
        try small.writeAll("{\"command\":\"counts\"}\n")
        #expect(try answer(small) == #"{"ok":true}"# + "\n")
        try first.writeAll("\"}\n")
        #expect(try answer(first) == #"{"ok":true}"# + "\n")
    }
}
