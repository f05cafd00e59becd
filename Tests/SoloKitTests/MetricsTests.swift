import Glibc
import Testing
@testable import SoloKit

@Suite struct MetricsTextTests {
    @Test func familiesAreAnnouncedOnceWithEscapedLabels() {
        var text = MetricsText()
        text.family("solo_jobs_total", .counter, help: "Jobs, by outcome.\nSecond \\ line.", [
            ([("pool", "a\"b"), ("outcome", "done")], 3),
            ([("pool", "c\\d\ne"), ("outcome", "failed")], 0.25),
        ])
        text.family("solo_up", .gauge, help: "Up.", [([("crlf", "a\r\nb")], 1)])
        text.family("solo_none", .gauge, help: "Nothing yet.", [])
        #expect(text.text == """
            # HELP solo_jobs_total Jobs, by outcome.\\nSecond \\\\ line.
            # TYPE solo_jobs_total counter
            solo_jobs_total{pool="a\\"b",outcome="done"} 3
            solo_jobs_total{pool="c\\\\d\\ne",outcome="failed"} 0.25
            # HELP solo_up Up.
            # TYPE solo_up gauge
            solo_up{crlf="a\r\\nb"} 1
            # HELP solo_none Nothing yet.
            # TYPE solo_none gauge

            """)
    }

    @Test func histogramBucketsAreCumulativeWithInfSumAndCount() {
        var histogram = Histogram(bounds: [0.1, 1, 10])
        for value in [0.05, 0.1, 0.5, 5, 50] { histogram.observe(value) }
        #expect(histogram.counts == [2, 1, 1] && histogram.count == 5 && histogram.sum == 55.65)
        var text = MetricsText()
        text.histogram("solo_job_duration_seconds", help: "Durations.", [([("pool", "p")], histogram)])
        let lines = text.text.split(separator: "\n").map(String.init)
        #expect(lines == [
            "# HELP solo_job_duration_seconds Durations.",
            "# TYPE solo_job_duration_seconds histogram",
            "solo_job_duration_seconds_bucket{pool=\"p\",le=\"0.1\"} 2",
            "solo_job_duration_seconds_bucket{pool=\"p\",le=\"1\"} 3",
            "solo_job_duration_seconds_bucket{pool=\"p\",le=\"10\"} 4",
            "solo_job_duration_seconds_bucket{pool=\"p\",le=\"+Inf\"} 5",
            "solo_job_duration_seconds_sum{pool=\"p\"} 55.65",
            "solo_job_duration_seconds_count{pool=\"p\"} 5",
        ])
    }

    @Test func numbersAreWrittenAsPrometheusReadsThem() {
        #expect(MetricsText.number(42) == "42")
        #expect(MetricsText.number(-3) == "-3")
        #expect(MetricsText.number(0.005) == "0.005")
        #expect(MetricsText.number(1e-7) == "1e-07")
        #expect(MetricsText.number(.infinity) == "+Inf")
        #expect(MetricsText.number(-.infinity) == "-Inf")
        #expect(MetricsText.number(.nan) == "NaN")
        #expect(MetricsText.number(1e20) == "1e+20")
    }
}

@Suite struct MetricsHTTPTests {
    func answer(_ request: String, metrics: String = "m 1\n") -> String? {
        MetricsHTTP.response(to: Array(request.utf8), metrics: { metrics }).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func getOfMetricsIsAnsweredWholeAndClosed() throws {
        let text = try #require(answer("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\nm 1\n")
        let head = try #require(answer("HEAD /metrics HTTP/1.0\n\n"))
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n") && head.contains("Content-Length: 4\r\n") && head.hasSuffix("\r\n\r\n"))
    }

    @Test func anIncompleteHeadWaitsForMore() {
        #expect(answer("GET /metrics HTTP/1.1\r\nHost: a\r\n") == nil)
        #expect(answer("") == nil)
    }

    @Test func everyOtherRequestGetsAStatusItCanActOn() throws {
        var rendered = false
        _ = MetricsHTTP.response(to: Array("GET /other HTTP/1.1\r\n\r\n".utf8), metrics: { rendered = true; return "" })
        #expect(!rendered, "the metrics are gathered only when asked for")
        #expect(answer("GET /other HTTP/1.1\r\n\r\n")?.hasPrefix("HTTP/1.1 404 Not Found\r\n") == true)
        #expect(answer("GET / HTTP/1.1\r\n\r\n")?.contains("/metrics") == true)
        let post = try #require(answer("POST /metrics HTTP/1.1\r\n\r\n"))
        #expect(post.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n") && post.contains("Allow: GET, HEAD\r\n"))
        #expect(answer("GET /metrics\r\n\r\n")?.hasPrefix("HTTP/1.1 400 Bad Request\r\n") == true)
        #expect(answer("GET metrics HTTP/1.1\r\n\r\n")?.hasPrefix("HTTP/1.1 400 ") == true)
        #expect(answer("\u{16}\u{03}\u{01}binary\r\n\r\n")?.hasPrefix("HTTP/1.1 400 ") == true)
        let padding = String(repeating: "a", count: MetricsHTTP.maximumHead)
        #expect(answer("GET /metrics HTTP/1.1\r\nX: \(padding)")?.hasPrefix("HTTP/1.1 431 ") == true, "too long, even unfinished")
        #expect(answer("GET /metrics HTTP/1.1\r\nX: \(padding)\r\n\r\n")?.hasPrefix("HTTP/1.1 431 ") == true)
    }
}

@Suite struct MetricsConfigTests {
    @Test func listenAddressesTakeAPortOrAnIPv4AddressAndPort() throws {
        #expect(try Values.listenAddress("9464") == ListenAddress(address: 0x7F00_0001, port: 9464))
        #expect(try Values.listenAddress("127.0.0.2:80") == ListenAddress(address: 0x7F00_0002, port: 80))
        #expect(try Values.listenAddress("localhost:9464") == ListenAddress(address: 0x7F00_0001, port: 9464))
        #expect(try Values.listenAddress("*:9464") == ListenAddress(address: 0, port: 9464))
        #expect(try Values.listenAddress("10.1.2.3:9464")?.isLoopback == false)
        #expect(try Values.listenAddress("none") == nil)
        #expect(throws: ValueError.self) { try Values.listenAddress("[::1]:9464") }
        #expect(throws: ValueError.self) { try Values.listenAddress("127.0.0.1:0") }
        #expect(throws: ValueError.self) { try Values.listenAddress("127.0.0.1:http") }
        #expect(throws: ValueError.self) { try Values.listenAddress("example.com:9464") }
        #expect(throws: ValueError.self, "every interface must be asked for with *") { try Values.listenAddress(":9464") }
    }

    @Test func metricsListenErrorsAndWarningsNameTheLine() throws {
        let conf = "/etc/solo/solo.conf"
        #expect(loadErrors([conf: "[global]\nmetrics_listen = [::1]:9464\n[a]\ncommand = x\n"]) ==
                ["\(conf):2: metrics_listen: \"[::1]:9464\": IPv6 is not supported (write an IPv4 address, like 127.0.0.1:9464, or none)"])
        #expect(loadErrors([conf: "[global]\nlock_port = 9000\nmetrics_listen = 9000\n[a]\ncommand = x\n"]) ==
                ["\(conf):3: metrics_listen: port 9000 is the lock port (lock_port); choose another, like 9464"])
        let loaded = try memoryLoader([conf: "[global]\nmetrics_listen = 0.0.0.0:9464\n[a]\ncommand = x\n"]).load(conf)
        #expect(loaded.config.global.metricsListen == ListenAddress(address: 0, port: 9464))
        #expect(loaded.warnings.map(\.description) == [
            "\(conf):2: warning: metrics_listen: 0.0.0.0:9464 serves the metrics beyond this machine, without authentication (firewall it, or use 127.0.0.1:9464)",
        ])
    }
}
