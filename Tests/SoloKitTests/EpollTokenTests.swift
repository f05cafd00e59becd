import Testing
@testable import SoloKit

/// Every source in the supervisor's epoll set has tokens of its own, and a token tells which.
@Suite struct EpollTokenTests {
    @Test func fixedTokensNameTheirSources() {
        #expect(EpollToken.source(of: EpollToken.signals) == .signals)
        #expect(EpollToken.source(of: EpollToken.guardian) == .guardian)
        #expect(EpollToken.source(of: EpollToken.queueFiles) == .queueFiles)
    }

    @Test func workerPipesRoundTrip() {
        for worker: UInt64 in [1, 2, 1000, 1 << 40] {
            for pipe in [WorkerPipe.output, .control, .input] {
                #expect(EpollToken.source(of: EpollToken.workerPipe(worker, pipe)) == .workerPipe(worker: worker, pipe))
            }
        }
    }

    @Test func spansTellTheirOwners() {
        #expect(EpollToken.source(of: EpollToken.redis.token(0)) == .redis)
        #expect(EpollToken.source(of: EpollToken.redis.token(7)) == .redis)
        #expect(EpollToken.source(of: EpollToken.metrics.base) == .metrics)
        #expect(EpollToken.source(of: EpollToken.metrics.token(31)) == .metrics)
        #expect(EpollToken.source(of: EpollToken.control.base) == .control)
        #expect(EpollToken.source(of: EpollToken.control.token(5)) == .control)
        #expect(EpollToken.source(of: EpollToken.fastcgi.token(3)) == .fastcgi)
        #expect(EpollToken.source(of: 3) == .unknown)
        #expect(EpollToken.source(of: EpollToken.workerPipes.base) == .unknown, "a worker's fourth token is no pipe")
    }

    @Test func theClientSocketHasASpanOfItsOwn() {
        #expect(EpollToken.source(of: EpollToken.clients.base) == .clients)
        #expect(EpollToken.source(of: EpollToken.clients.token(1000)) == .clients)
        for other in [EpollToken.workerPipes, EpollToken.hooks, EpollToken.dashboard, EpollToken.redis, EpollToken.metrics, EpollToken.control] {
            let apart = EpollToken.clients.base + EpollToken.clients.size <= other.base || other.base + other.size <= EpollToken.clients.base
            #expect(apart, "the clients' span meets the one at \(other.base)")
        }
    }

    @Test func noTwoKindsMeet() {
        let spans = [EpollToken.workerPipes, EpollToken.redis, EpollToken.metrics, EpollToken.control].sorted { $0.base < $1.base }
        for (lower, upper) in zip(spans, spans.dropFirst()) {
            #expect(lower.base + lower.size <= upper.base, "span at \(lower.base) runs into the one at \(upper.base)")
        }
        for fixed in [EpollToken.signals, EpollToken.guardian, EpollToken.queueFiles] {
            #expect(!spans.contains { $0.contains(fixed) })
        }
    }
}
