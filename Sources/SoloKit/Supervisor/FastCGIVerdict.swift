/// What PHP-FPM's answer to a job's request makes of the job, in a worker's words where it has
/// them (pure). The `X-Solo-Outcome` header decides when present (`ok`, `fail [REASON]`,
/// `retry [SECONDS]`, as on a worker's fd 3); else a 2xx is `ok` with the body as the result,
/// and any other status is a retry that says what PHP-FPM answered. A result over a worker's
/// 64K is a retry too, as a worker's line over it is.
public enum FastCGIVerdict: Equatable, Sendable {
    /// An answer as a worker gives it.
    case answer(WorkerMessage)
    /// No answer about the job (an error page, a broken connection, a time-out): it is retried
    /// with this error, and the attempt counts.
    case lost(String)

    public static let outcomeHeader = "x-solo-outcome"

    public static func of(_ response: FastCGI.Response, stderr: [UInt8]) -> FastCGIVerdict {
        let body = response.body.isEmpty ? nil : String(decoding: response.body, as: UTF8.self)
        if let word = response.header(outcomeHeader) {
            switch WorkerMessage.parse(Array(word.utf8)) {
            case .ok: return ok(response.body)
            case .fail(let reason): return .answer(.fail(reason))
            case .retry(let delay): return .answer(.retry(delay))
            case .ready, .status, .invalid:
                return .lost("its X-Solo-Outcome header \(quoted(word)) is none of ok, fail [REASON], retry [SECONDS]")
            }
        }
        if (200...299).contains(response.status) { return ok(response.body) }
        var why = "php-fpm answered \(response.status)"
        if let body { why += ": " + excerpt(body) }
        let log = String(decoding: stderr, as: UTF8.self)
        if !log.isEmpty { why += " (its log: \(excerpt(log)))" }
        return .lost(why)
    }

    /// Done, with the body as the result, if it fits in one.
    static func ok(_ body: [UInt8]) -> FastCGIVerdict {
        guard body.count <= WorkerMessage.maximumLine else {
            return .lost("its result is \(body.count) bytes, over the \(WorkerMessage.maximumLine / 1024)K a result keeps (keep a big result elsewhere and return where)")
        }
        return .answer(.ok(body.isEmpty ? nil : String(decoding: body, as: UTF8.self)))
    }

    /// A page or a log as one short line for a job's error.
    static func excerpt(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).map { $0.trimmingSpaces() }.filter { !$0.isEmpty }.joined(separator: " / ")
        return line.count > 200 ? line.prefix(200) + "..." : line
    }
}
