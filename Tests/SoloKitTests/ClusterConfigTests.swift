import Testing
@testable import SoloKit

/// The fleet lock's clock, the Redis and cluster keys of the config, the classic -lock switch
/// and the cluster table: pure, without a server.
@Suite struct LeaseClockTests {
    @Test func aHolderRenewsStopsAndKillsBeforeTheServerLetsGo() {
        var clock = LeaseClock(ttl: .seconds(30))
        let sent = Moment(nanoseconds: 1_000_000_000_000)
        #expect(!clock.holds && !clock.mayAct(now: sent))
        clock.confirmed(sentAt: sent)
        #expect(clock.validUntil == sent + .seconds(30), "counted from the send: never later than the server's view")
        #expect(clock.renewAt == sent + .seconds(10))
        #expect(clock.stopAt == sent + .seconds(20))
        #expect(clock.killAt == sent + .seconds(29))
        #expect(clock.mayAct(now: sent + .seconds(19)) && !clock.mayAct(now: sent + .seconds(20)))
        clock.confirmed(sentAt: sent + .seconds(10))
        #expect(clock.stopAt == sent + .seconds(30), "a renewal moves every deadline")
        clock.lost()
        #expect(clock.renewAt == nil && clock.killAt == nil && !clock.mayAct(now: sent))
    }

    @Test func aShortTTLKeepsItsMarginsInProportion() {
        var clock = LeaseClock(ttl: .seconds(3))
        let sent = Moment(nanoseconds: 5_000_000_000)
        clock.confirmed(sentAt: sent)
        #expect(clock.stopAt == sent + .seconds(2))
        #expect(clock.killAt == sent + .milliseconds(2700))
    }
}

@Suite struct ClusterConfigTests {
    let base = "[global]\nlock_port = 4100\n"

    @Test func aRedisQueueAndTheFleetLock() throws {
        let config = try memoryLoader(["/etc/solo/solo.conf": base + """
            lease = 10s
            cluster_lock = nightly
            cluster_lock_ttl = 15s
            [mailer]
            command = php worker.php
            queue = redis://solo:pw@10.0.0.5:6380/2
            queue_name = mail
            """]).load("/etc/solo/solo.conf").config
        #expect(config.global.lease == .seconds(10))
        #expect(config.global.clusterLock == "nightly" && config.global.clusterLockTTL == .seconds(15))
        let server = RedisURL(host: "10.0.0.5", port: 6380, user: "solo", password: "pw", database: 2)
        #expect(config.pools[0].queue == .redis(server))
        #expect(config.global.clusterRedis == server, "the fleet lock lives on the pools' one server")
        let rendered = ConfigRender.render(config)
        #expect(rendered.contains("queue         = redis://solo:***@10.0.0.5:6380/2"))
        #expect(rendered.contains("cluster_redis = redis://solo:***@10.0.0.5:6380/2"))
        #expect(!rendered.contains("pw"), "solo config check never prints a password")
    }

    @Test func theFleetLockNeedsOneServer() throws {
        let twoServers = base + "cluster_lock = x\n[a]\ncommand = a\nqueue = redis://h1\n[b]\ncommand = b\nqueue = redis://h2\n"
        #expect(throws: ConfigErrors.self) { try memoryLoader(["/etc/solo/solo.conf": twoServers]).load("/etc/solo/solo.conf") }
        do { _ = try memoryLoader(["/etc/solo/solo.conf": twoServers]).load("/etc/solo/solo.conf") } catch {
            #expect(error.issues.first?.description == "/etc/solo/solo.conf:3: cluster_lock: needs a Redis server to hold it, and the pools use 2 Redis servers (add cluster_redis = redis://127.0.0.1:6379/0)")
        }
        let named = base + "cluster_lock = x\ncluster_redis = redis://h3/1\n[a]\ncommand = a\nqueue = redis://h1\n"
        #expect(try memoryLoader(["/etc/solo/solo.conf": named]).load("/etc/solo/solo.conf").config.global.clusterRedis?.host == "h3")
        let unused = try memoryLoader(["/etc/solo/solo.conf": base + "cluster_redis = redis://h3\n[a]\ncommand = a\n"]).load("/etc/solo/solo.conf")
        #expect(unused.warnings.first?.message.contains("has no effect without cluster_lock") == true)
    }

    @Test(arguments: [
        ("lease = 1s", "lease: \"1s\" is out of range (3s to 1h; 30s is usual)"),
        ("cluster_lock = a b", "cluster_lock: \"a b\" is not a lock name"),
        ("cluster_lock_ttl = 2s", "cluster_lock_ttl: \"2s\" is out of range (3s to 10m; 30s is usual)"),
        ("cluster_redis = http://x", "cluster_redis: \"http://x\" is not a Redis URL (write redis://127.0.0.1:6379/0)"),
    ])
    func badClusterValuesSayWhatIsRight(_ line: String, _ message: String) {
        do {
            _ = try memoryLoader(["/etc/solo/solo.conf": base + line + "\n[a]\ncommand = a\n"]).load("/etc/solo/solo.conf")
            Issue.record("\(line) was accepted")
        } catch {
            #expect(error.issues.contains { $0.description.hasPrefix("/etc/solo/solo.conf:3: " + message) }, "\(error.issues)")
        }
    }

    @Test func aRedisQueueNameMayNotHoldBraces() {
        let text = base + "[a]\ncommand = a\nqueue = redis://h\nqueue_name = x{y}\n"
        #expect(throws: ConfigErrors.self) { try memoryLoader(["/etc/solo/solo.conf": text]).load("/etc/solo/solo.conf") }
    }

    @Test func aReloadCannotMoveTheFleetLock() throws {
        let old = try memoryLoader(["/etc/solo/solo.conf": base + "cluster_lock = a\n[p]\ncommand = a\nqueue = redis://h\n"]).load("/etc/solo/solo.conf").config
        let new = try memoryLoader(["/etc/solo/solo.conf": base + "cluster_lock = b\nlease = 5s\n[p]\ncommand = a\nqueue = redis://h\n"]).load("/etc/solo/solo.conf").config
        #expect(ConfigDiff(from: old, to: new).needsRestart == ["lease", "cluster_lock"])
    }

    @Test func theClassicLockSwitch() throws {
        let options = try ClassicOptions.parse(["-lock=redis://h:7/2/report", "-ttl=10", "cmd", "-x"])
        #expect(options.lock == RedisURL(host: "h", port: 7, database: 2, name: "report"))
        #expect(options.lockTTL == .seconds(10) && options.port == nil && options.command == ["cmd", "-x"])
        #expect(throws: UsageError.self) { try ClassicOptions.parse(["-lock=redis://h", "cmd"]) }
        #expect(throws: UsageError.self) { try ClassicOptions.parse(["-lock=redis://h/x"]) }
        #expect(throws: UsageError.self) { try ClassicOptions.parse(["-lock=redis://h/x", "-ttl=700", "cmd"]) }
        #expect(try ClassicOptions.parse(["-port=4000", "-lock=redis://h/x", "cmd"]).port == 4000)
    }

    @Test func theClusterTable() throws {
        let report = try JSON.parse(#"""
            {"owner": "web-1/127.0.0.1:3800", "pid": 42, "uptime_ms": 65000, "fleet_lock": {"role": "holding"},
             "pools": [{"name": "mailer", "queue_name": "mail", "workers_running": 3, "workers_wanted": 4, "busy": 2,
                        "jobs_per_second": 12.5, "jobs_done": 900, "state": "running"},
                       {"name": "reports", "queue_name": "reports", "workers_running": 0, "workers_wanted": 1, "busy": 0,
                        "jobs_per_second": 0, "jobs_done": 0, "state": "standby"}]}
            """#)
        let lines = StatusView.renderCluster([report]).split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("SUPERVISOR"))
        #expect(lines[1].hasPrefix("web-1/127.0.0.1:3800 (pid 42)  holding  1m5s") && lines[1].contains("mailer") && lines[1].contains("3/4"))
        #expect(lines[2].contains("reports") && lines[2].contains("0/1 standby"))
    }

    @Test func aFastCGIPoolShowsItsRequestsInTheClusterTable() throws {
        let report = try JSON.parse(#"""
            {"owner": "web-1/127.0.0.1:3800", "pid": 42, "uptime_ms": 65000,
             "pools": [{"name": "php", "queue_name": "php", "requests_in_flight": 2, "workers_running": 0, "workers_wanted": 5, "busy": 0,
                        "jobs_per_second": 3, "jobs_done": 10, "state": "running"}]}
            """#)
        let lines = StatusView.renderCluster([report]).split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[1].contains("php") && lines[1].contains("2/5 requests"), "\(lines)")
    }

    /// The example configs in etc/ load without an error.
    @Test(arguments: ["etc/solo.conf", "etc/cluster/solo.conf", "etc/cluster/singleton.conf"])
    func theBundledExamplesAreValid(_ path: String) throws {
        let root = "\(#filePath)".split(separator: "/").dropLast(3).joined(separator: "/")
        var loader = ConfigLoader()
        loader.checkMachine = false
        let loaded = try loader.load("/" + root + "/" + path)
        #expect(!loaded.config.pools.isEmpty)
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
    }
}
