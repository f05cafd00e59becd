/// Every live supervisor's report from the heartbeats they keep on the Redis servers
/// (`RedisScripts.heartbeat`): what `solo status --cluster` prints and the dashboard's cluster
/// panel shows. A supervisor that uses several servers is listed once.
public enum ClusterReports {
    public static func read(_ servers: [RedisURL], clientName: String, timeout: Duration = .seconds(10)) throws(RedisError) -> [JSON] {
        var reports: [JSON] = []
        var owners: Set<String> = []
        for server in servers {
            let client = try RedisClient(url: server, name: clientName, timeout: timeout)
            let names = (try client.call(RedisCommand("ZRANGE", RedisScripts.nodesKey, "0", "-1")).elements ?? []).compactMap(\.string)
            guard !names.isEmpty else { continue }
            let values = try client.call(RedisCommand(["MGET"] + names.map(RedisScripts.nodeKey))).elements ?? []
            for value in values {
                guard let text = value.string, let report = try? JSON.parse(text),
                      let owner = report["owner"]?.stringValue, owners.insert(owner).inserted else { continue }
                reports.append(report)
            }
        }
        return reports.sorted { ($0["owner"]?.stringValue ?? "") < ($1["owner"]?.stringValue ?? "") }
    }
}
