import Glibc
import Testing
@testable import SoloKit

/// `on_event` and `alert_queue_age` without processes: which event each ending, outcome and
/// back-off makes, the hook's variables, the queue and cap policy, the alert's turns, the keys.
@Suite struct HookTests {
    let t0 = Moment(nanoseconds: 1_000_000_000_000)

    func ending(_ cause: WorkerEnding.Cause, _ status: SoloKit.ExitStatus = .exited(1)) -> WorkerEnding {
        WorkerEnding(cause: cause, status: status, heldJob: false, heldNewJob: false, jobsDone: 2)
    }

    @Test func aDeathIsACrashALimitARecycleAndAnAskedEndNothing() {
        let crash = HookEvent.ending(ending(.died), pool: "mail", slot: 1, pid: 42)
        #expect(crash == HookEvent(.crash, pool: "mail", pid: 42, slot: 1, reason: "died", exit: "crashed: exit status 1"))
        let recycles: [(WorkerEnding.Cause, String)] = [
            (.retired(.jobs(done: 3, limit: 3)), "jobs"), (.retired(.memory(bytes: 150, limit: 100)), "memory"),
            (.retired(.lifetime(age: .seconds(9), limit: .seconds(8))), "lifetime"), (.retired(.jobTimedOut), "job_timeout"),
            (.retired(.protocolError("3 invalid lines")), "protocol_error"), (.killedForMemory(300), "memory_kill"),
        ]
        for (cause, reason) in recycles {
            let event = HookEvent.ending(ending(cause, .signaled(SIGKILL)), pool: "mail", slot: 0, pid: 7)
            #expect(event?.kind == .recycle && event?.reason == reason, "\(cause)")
        }
        #expect(HookEvent.ending(ending(.retired(.memory(bytes: 150, limit: 100)), .exited(0)), pool: "p", slot: 0, pid: 7)?.exit == "recycled: memory (exit status 0)")
        for asked in [RetireReason.restart, .scaledDown, .poolStopped, .standby, .shutdown] {
            #expect(HookEvent.ending(ending(.retired(asked)), pool: "p", slot: 0, pid: 7) == nil, "\(asked)")
        }
    }

    @Test func aJobIsDeadAtAFailOrARetryWithNoAttemptLeft() {
        var job = ReservedJob(id: 9, payload: "x", priority: 0, attempts: 2, maxAttempts: nil, group: nil)
        #expect(HookEvent.jobDead(job, .dead(id: 9, error: "nope"), pool: "p", queue: "q")
            == HookEvent(.jobDead, pool: "p", reason: "failed", jobID: 9, queue: "q", error: "nope"))
        #expect(HookEvent.jobDead(job, .retry(id: 9, error: "died", delay: .zero, maxAttempts: 3), pool: "p", queue: "q") == nil)
        let last = HookEvent.jobDead(job, .retry(id: 9, error: "its worker exited", delay: .zero, maxAttempts: 2), pool: "p", queue: "q")
        #expect(last?.reason == "no attempt left (2 of 2)" && last?.error == "its worker exited")
        job.maxAttempts = 5
        #expect(HookEvent.jobDead(job, .retry(id: 9, error: "e", delay: .zero, maxAttempts: 2), pool: "p", queue: "q") == nil, "the job's own max_attempts")
        #expect(HookEvent.jobDead(job, .done(id: 9, result: nil), pool: "p", queue: "q") == nil)
    }

    @Test func theHookGetsTheFactsItHasAsVariables() {
        let event = HookEvent(.crash, pool: "mail", pid: 42, slot: 0, reason: "died", exit: "crashed: exit status 1")
        let variables = event.variables(host: "web1", time: 0)
        #expect(variables.map(\.0) == ["SOLO_EVENT", "SOLO_POOL", "SOLO_PID", "SOLO_SLOT", "SOLO_REASON", "SOLO_EXIT", "SOLO_HOST", "SOLO_TIME"])
        #expect(variables.map(\.1) == ["crash", "mail", "42", "0", "died", "crashed: exit status 1", "web1", "1970-01-01T00:00:00Z"])
        #expect(Set(variables.map(\.0)).isSubset(of: HookEvent.variableNames))
    }

    @Test func aSlotBackingOffIsAnEventAndARestartAtOnceIsNot() {
        var random = SplitMix64(state: 9)
        var config = PoolConfig(name: "mail", file: "f", line: 1)
        config.workers = 1
        let pool = Pool(config: config)
        var now = t0
        var backoffs: [HookEvent] = []
        for id in UInt64(1)...3 {
            guard case .spawn(let order) = pool.reconcile(now: now, using: &random).first else { Issue.record("no order"); return }
            pool.spawned(order, id: id, pid: pid_t(1000 + id), now: now)
            let worker = pool.workers[id]!
            _ = pool.handle(id, .exited(.exited(3)), now: now + .milliseconds(10), using: &random)
            let events = pool.hookEvents(afterExitOf: worker, wasSpare: false, now: now + .milliseconds(10))
            #expect(events.first?.kind == .crash)
            backoffs += events.filter { $0.kind == .backoff }
            now = pool.slots[0].restartAt ?? now + .milliseconds(10)
            _ = pool.expire(now: now, using: &random) { _ in nil }
        }
        #expect(backoffs.count == 2, "the first quick death restarts at once")
        #expect(backoffs.first?.reason?.hasPrefix("2 failures in a row; restarting in ") == true, "\(backoffs)")
        #expect(backoffs.first?.exit == "crashed: exit status 3" && backoffs.first?.pid == 1002)
        #expect(pool.hookEvents(afterExitOf: Worker(id: 9, slot: 0, pid: 9, started: t0, jobLimit: nil, lifetimeLimit: nil, policy: pool.policy),
                                wasSpare: true, now: now).isEmpty, "a warm replacement's end")
    }

    @Test func hooksRunUpToTheCapThenWaitThenAreDroppedAndCounted() {
        var queue = HookQueue<Int>(concurrency: 2, capacity: 3)
        #expect(queue.submit(1) == 1 && queue.submit(2) == 2)
        #expect(queue.submit(3) == nil && queue.submit(4) == nil && queue.submit(5) == nil)
        #expect(queue.submit(6) == nil && queue.submit(7) == nil)
        #expect(queue.waiting == [3, 4, 5] && queue.running == 2)
        #expect(queue.takeDropped() == 2 && queue.takeDropped() == 0)
        #expect(queue.finished() == 3 && queue.running == 2)
        queue.concurrency = 3
        #expect(queue.next() == 4 && queue.next() == nil && queue.running == 3)
        #expect(queue.finished() == 5 && queue.finished() == nil && queue.finished() == nil && queue.running == 1)
    }

    @Test func aHookOutputTokenIsAHooksAndMeetsNoOtherKind() {
        #expect(EpollToken.source(of: EpollToken.hooks.token(1)) == .hooks)
        #expect(EpollToken.source(of: EpollToken.hooks.token(1 << 39)) == .hooks)
        let hooks = EpollToken.hooks
        for other in [EpollToken.workerPipes, EpollToken.dashboard, EpollToken.redis, EpollToken.metrics, EpollToken.control] {
            #expect(hooks.base + hooks.size <= other.base || other.base + other.size <= hooks.base, "meets the span at \(other.base)")
        }
    }

    @Test func anAlertFiresOnceAndClearsOnce() {
        var alert = QueueAgeAlert(limit: .seconds(60))
        #expect(alert.check(oldestWaitingMs: nil) == nil)
        #expect(alert.check(oldestWaitingMs: 59_000) == nil)
        let fired = alert.check(oldestWaitingMs: 123_000)
        #expect(fired?.kind == .alert && fired?.reason == "oldest waiting job 2m3s > alert_queue_age 1m", "\(String(describing: fired))")
        #expect(alert.check(oldestWaitingMs: 200_000) == nil && alert.reason == fired?.reason, "once, not at every look")
        let cleared = alert.check(oldestWaitingMs: 3_000)
        #expect(cleared?.kind == .alertCleared && cleared?.reason == "oldest waiting job 3.0s <= alert_queue_age 1m", "\(String(describing: cleared))")
        #expect(alert.check(oldestWaitingMs: nil) == nil && alert.reason == nil)
        _ = alert.check(oldestWaitingMs: 61_000)
        #expect(alert.check(oldestWaitingMs: nil)?.reason == "no job waits (alert_queue_age 1m)")
    }

    @Test func theKeysParseWithTheirBoundsAndWarnings() throws {
        let loaded = try memoryLoader(["/etc/solo/solo.conf": """
            [global]
            on_event = ./hooks/notify.sh --to 'ops team'
            hook_timeout = 5s
            hook_concurrency = 2
            [mail]
            command = php worker.php
            alert_queue_age = 1m
            [quiet]
            command = php worker.php
            on_event = none
            [other]
            command = php worker.php
            """]).load("solo.conf")
        let config = loaded.config
        #expect(config.global.onEvent == ["/etc/solo/hooks/notify.sh", "--to", "ops team"])
        #expect(config.global.hookTimeout == .seconds(5) && config.global.hookConcurrency == 2)
        #expect(config.pool(named: "mail")?.alertQueueAge == .seconds(60) && config.pool(named: "mail")?.onEvent == nil)
        #expect(config.pool(named: "quiet")?.onEvent == [])
        #expect(config.pool(named: "other")?.alertQueueAge == nil)
        #expect(loadErrors(["/etc/solo/solo.conf": "[global]\nhook_concurrency = 0\n[a]\ncommand = w\nalert_queue_age = 10ms\n"]) == [
            "/etc/solo/solo.conf:2: hook_concurrency: 0 is out of range (1 to 64)",
            "/etc/solo/solo.conf:5: alert_queue_age: \"10ms\" is too short (1s at least; none for no alert)",
        ])
        let poll = try memoryLoader(["/etc/solo/solo.conf": "[p]\nqueue = none\ncommand = w\nalert_queue_age = 1m\n"]).load("solo.conf")
        #expect(poll.warnings.map(\.description) == [
            "/etc/solo/solo.conf:4: warning: alert_queue_age: watches solo's queue, and this pool has queue = none (remove the key, or give the pool a queue)",
        ])
        var changed = try #require(config.pool(named: "mail"))
        changed.alertQueueAge = .seconds(5)
        changed.onEvent = ["/bin/true"]
        #expect(ConfigDiff.sameExceptCount(config.pool(named: "mail")!, changed), "no worker restarts for a hook or an alert")
    }
}
