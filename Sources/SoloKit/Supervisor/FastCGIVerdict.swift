/// What PHP-FPM's answer to a job's request makes of the job, in a worker's words where it has
/// them (pure). The `X-Solo-Outcome` header decides when present (`ok`, `fail [REASON]`,
/// `retry [SECONDS]`, as on a worker's fd 3); else a 2xx is `ok` with the body as the result,
/// and any other status is a retry that says what PHP-FPM answered.
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
            case .ok: return .answer(.ok(body))
            case .fail(let reason): return .answer(.fail(reason))
            case .retry(let delay): return .answer(.retry(delay))
            case .ready, .status, .invalid:
                return .lost("its X-Solo-Outcome header \(quoted(word)) is none of ok, fail [REASON], retry [SECONDS]")
            }
        }
        if (200...299).contains(response.status) { return .answer(.ok(body)) }
        var why = "php-fpm answered \(response.status)"
        if let body { why += ": " + excerpt(body) }
        let log = String(decoding: stderr, as: UTF8.self)
        if !log.isEmpty { why += " (its log: \(excerpt(log)))" }
        return .lost(why)
    }

    /// A page or a log as one short line for a job's error.
    static func excerpt(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).map { $0.trimmingSpaces() }.filter { !$0.isEmpty }.joined(separator: " / ")
        return line.count > 200 ? line.prefix(200) + "..." : line
    }
}
