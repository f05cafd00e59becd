/// The client side of FastCGI (version 1, as PHP-FPM speaks it), for one request per
/// connection: the request's records out, the response's records in, and the CGI response
/// they carry. Pure: the sockets are the executor's (see FastCGIExecutor).
public enum FastCGI {
    static let version: UInt8 = 1
    /// Every request is alone on its connection (no multiplexing), so it always has this id.
    static let requestID: UInt16 = 1
    /// The most content one record carries (its length is 16 bits).
    static let maximumContent = 65535

    enum RecordType: UInt8 {
        case beginRequest = 1, abortRequest = 2, endRequest = 3, params = 4, stdin = 5, stdout = 6, stderr = 7
    }

    /// A response that breaks the protocol; the request is abandoned and its job retried.
    public struct ProtocolError: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: - the request

    /// One whole request: BEGIN_REQUEST (the responder role, the connection closed after it),
    /// the parameters, and `body` as its standard input, each stream ended by an empty record.
    public static func request(params: [(String, String)], body: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.count + 1024)
        // Role 1 is the responder; flags 0: FPM closes the connection once it has answered.
        append(.beginRequest, [0, 1, 0, 0, 0, 0, 0, 0], to: &bytes)
        var pairs: [UInt8] = []
        for (name, value) in params { appendPair(name, value, to: &pairs) }
        appendStream(.params, pairs, to: &bytes)
        appendStream(.stdin, body, to: &bytes)
        return bytes
    }

    /// A stream's content in records of at most `maximumContent` bytes, then its empty record.
    static func appendStream(_ type: RecordType, _ content: [UInt8], to bytes: inout [UInt8]) {
        var start = 0
        while start < content.count {
            let end = min(start + maximumContent, content.count)
            append(type, content[start..<end], to: &bytes)
            start = end
        }
        append(type, [], to: &bytes)
    }

    /// One record: its header, its content, and padding to a multiple of 8 bytes.
    static func append(_ type: RecordType, _ content: ArraySlice<UInt8>, to bytes: inout [UInt8]) {
        let padding = (8 - content.count % 8) % 8
        bytes += [version, type.rawValue, UInt8(requestID >> 8), UInt8(requestID & 0xFF),
                  UInt8(content.count >> 8), UInt8(content.count & 0xFF), UInt8(padding), 0]
        bytes += content
        bytes += repeatElement(0, count: padding)
    }

    /// A name-value pair: each length in one byte below 128, else in four with the top bit set.
    static func appendPair(_ name: String, _ value: String, to bytes: inout [UInt8]) {
        let name = Array(name.utf8), value = Array(value.utf8)
        for length in [name.count, value.count] {
            if length < 128 {
                bytes.append(UInt8(length))
            } else {
                bytes += [UInt8(length >> 24 & 0x7F) | 0x80, UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
            }
        }
        bytes += name
        bytes += value
    }

    // MARK: - the response

    /// Reads the response's records as they arrive, split anywhere: STDOUT and STDERR are
    /// gathered, END_REQUEST ends it; records of other types are skipped.
    public struct Decoder {
        /// The most STDOUT (headers and body) kept; more is a protocol error.
        public let limit: Int
        public private(set) var stdout: [UInt8] = []
        public private(set) var stderr: [UInt8] = []
        /// Set by END_REQUEST: the application's exit status, and whether FPM completed the request.
        public private(set) var ended: (appStatus: UInt32, completed: Bool)?
        private var pending: [UInt8] = []

        public init(limit: Int) { self.limit = limit }

        /// Takes the bytes read; throws on a record that breaks the protocol. Bytes after
        /// END_REQUEST are ignored.
        public mutating func feed(_ bytes: some Collection<UInt8>) throws(ProtocolError) {
            guard ended == nil else { return }
            pending += bytes
            var start = 0
            defer { pending.removeFirst(start) }
            while ended == nil, pending.count - start >= 8 {
                let version = pending[start], type = pending[start + 1]
                let id = UInt16(pending[start + 2]) << 8 | UInt16(pending[start + 3])
                let length = Int(pending[start + 4]) << 8 | Int(pending[start + 5])
                let padding = Int(pending[start + 6])
                guard version == FastCGI.version else { throw ProtocolError("a record of FastCGI version \(version), not 1") }
                guard pending.count - start >= 8 + length + padding else { return }
                let content = pending[start + 8..<start + 8 + length]
                start += 8 + length + padding
                guard let known = RecordType(rawValue: type), id != 0 else { continue }  // management and unknown records
                guard id == requestID else { throw ProtocolError("a record for request \(id), not \(requestID)") }
                switch known {
                case .stdout:
                    guard stdout.count + length <= limit else { throw ProtocolError("a response over \(limit) bytes") }
                    stdout += content
                case .stderr:
                    // Its log lines, kept to the most recent few kilobytes.
                    stderr += content
                    if stderr.count > 8192 { stderr.removeFirst(stderr.count - 8192) }
                case .endRequest:
                    guard length >= 8 else { throw ProtocolError("an END_REQUEST of \(length) bytes, not 8") }
                    let c = content.startIndex
                    let status = UInt32(content[c]) << 24 | UInt32(content[c + 1]) << 16 | UInt32(content[c + 2]) << 8 | UInt32(content[c + 3])
                    ended = (status, content[c + 4] == 0)
                case .beginRequest, .abortRequest, .params, .stdin:
                    throw ProtocolError("a \(known) record, which only a client sends")
                }
            }
        }
    }

    /// A CGI response: its status (200 unless a Status header says otherwise), its headers
    /// (names in lower case) and its body.
    public struct Response: Equatable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }

        public static func == (a: Response, b: Response) -> Bool {
            a.status == b.status && a.body == b.body && a.headers.elementsEqual(b.headers) { $0 == $1 }
        }

        /// Splits STDOUT at the blank line after the headers (CRLF or LF line ends).
        public static func parse(_ stdout: [UInt8]) throws(ProtocolError) -> Response {
            var lines: [ArraySlice<UInt8>] = []
            var start = 0
            var bodyStart: Int?
            for i in stdout.indices where stdout[i] == UInt8(ascii: "\n") {
                var line = stdout[start..<i]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                start = i + 1
                if line.isEmpty { bodyStart = start; break }
                lines.append(line)
            }
            guard let bodyStart else { throw ProtocolError("a response without the blank line that ends its headers") }
            var response = Response(status: 200, headers: [], body: Array(stdout[bodyStart...]))
            for line in lines {
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                    throw ProtocolError("a header line without a colon: \(quoted(String(decoding: line.prefix(80), as: UTF8.self)))")
                }
                let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
                let value = String(decoding: line[(colon + 1)...], as: UTF8.self)[...].trimmingSpaces()
                response.headers.append((name, String(value)))
            }
            if let status = response.header("status") {
                guard let code = Int(status.prefix { $0 != " " }), (100...599).contains(code) else {
                    throw ProtocolError("a Status header that is not a code: \(quoted(status))")
                }
                response.status = code
            }
            return response
        }
    }
}
