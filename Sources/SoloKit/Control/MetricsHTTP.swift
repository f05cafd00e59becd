/// What a Prometheus scraper needs: a GET (or HEAD) of /metrics, answered whole and closed.
/// Anything else gets the status a client can act on, never a hang.
public enum MetricsHTTP {
    public static let maximumHead = HTTP.maximumHead

    /// The answer to the request whose first bytes are `received`; nil while its head is incomplete.
    /// `metrics` is called only when the metrics are asked for.
    public static func response(to received: [UInt8], metrics: () -> String) -> [UInt8]? {
        let request: HTTPRequest
        switch HTTP.parse(received, maximumBody: 0) {
        case .incomplete: return nil
        case .refused(let answer): return answer
        case .request(let parsed, _): request = parsed
        }
        let head = request.method == "HEAD"
        guard request.method == "GET" || head else {
            return HTTP.reply(405, "only GET and HEAD are served\n", extra: [("Allow", "GET, HEAD")], head: head)
        }
        switch request.path {
        case "/metrics": return HTTP.reply(200, metrics(), contentType: MetricsText.contentType, head: head)
        case "/": return HTTP.reply(200, "solo: the metrics are at /metrics\n", head: head)
        default: return HTTP.reply(404, "no such page: the metrics are at /metrics\n", head: head)
        }
    }
}
