import Foundation
import Glibc
import SoloKit
import Testing

/// `solo -lock=redis://HOST:PORT/NAME COMMAND`: one run in the fleet at a time.
@Suite struct ClassicLockTests {
    let scratch = Scratch()
    let redis: RedisServer

    init() throws { redis = try RedisServer(scratch) }

    var lock: String { "-lock=redis://127.0.0.1:\(redis.port)/nightly" }

    @Test func oneRunAtATimeAndTheLockIsFreedAfter() throws {
        let first = try Child([lock, "sh", "-c", "echo $SOLO_FENCE > fence; sleep 2"], in: scratch, name: "first")
        try waitFor("the first run") { scratch.exists("fence") && !scratch.read("fence").isEmpty }
        let fence = try #require(Int64(scratch.read("fence").trimmingCharacters(in: .whitespacesAndNewlines)))
        let second = try runSolo([lock, "true"], in: scratch)
        #expect(second.status == 98)
        #expect(second.stderr.hasPrefix("solo(nightly): held by ") && second.stderr.contains("/lock (pid \(first.pid))"), "\(second.stderr)")
        let quiet = try runSolo([lock, "-silent", "true"], in: scratch)
        #expect(quiet.status == 0 && quiet.stderr.isEmpty && quiet.stdout.isEmpty)
        #expect(try first.wait() == 0)
        #expect(try redis.command("EXISTS", RedisScripts.lockKey("nightly")).integer == 0, "freed when COMMAND exits")
        let third = try runSolo([lock, "sh", "-c", "echo $SOLO_FENCE"], in: scratch)
        #expect(third.status == 0 && (Int64(third.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > fence,
                "the next run, with a higher fencing number")
    }

    @Test func theCommandsStatusAndSignalsPassThrough() throws {
        #expect(try runSolo([lock, "sh", "-c", "exit 7"], in: scratch).status == 7)
        let long = try Child([lock, "sh", "-c", "trap 'echo got-term > term; exit 3' TERM; touch up; while :; do sleep 0.05; done"],
                             in: scratch, name: "long")
        try waitFor("the command") { scratch.exists("up") }
        long.signal(SIGTERM)
        #expect(try long.wait() == 3)
        #expect(scratch.read("term") == "got-term\n")
        #expect(try redis.command("EXISTS", RedisScripts.lockKey("nightly")).integer == 0)
        let missing = try runSolo([lock, "no-such-program-here"], in: scratch)
        #expect(missing.status == 127 && missing.stderr.contains("command not found"))
        #expect(try redis.command("EXISTS", RedisScripts.lockKey("nightly")).integer == 0, "not taken for a command that cannot run")
    }

    @Test func aKilledSoloTakesItsCommandAlongAndAnotherHostGoesOnAfterTheTTL() throws {
        let run = try Child([lock, "-ttl=3", "sh", "-c", "sleep 300 & echo $! > background; echo $$ > shell; wait"], in: scratch, name: "doomed")
        try waitFor("the command and its child") { scratch.exists("background") && scratch.exists("shell") }
        let pids = [scratch.read("background"), scratch.read("shell")].compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        run.signal(SIGKILL)
        try run.wait()
        try waitFor("the command and its child gone") { pids.allSatisfy { !isRunning($0) } }
        #expect(try runSolo([lock, "-ttl=3", "true"], in: scratch).status == 98, "the lock stays until its TTL")
        try waitFor("another run once the TTL is out", seconds: 6) { (try? runSolo([lock, "-ttl=3", "true"], in: scratch).status) == 0 }
    }

    @Test func aLockThatCannotBeRenewedStopsTheCommandBeforeItRunsOut() throws {
        let run = try Child([lock, "-ttl=3", "sh", "-c", "trap 'date +%s%N > term; exit 0' TERM; touch up; while :; do sleep 0.05; done"],
                            in: scratch, name: "cut-off")
        try waitFor("the command") { scratch.exists("up") }
        let cut = Date().timeIntervalSince1970
        kill(redis.pid, SIGSTOP)
        defer { kill(redis.pid, SIGCONT) }
        #expect(try run.wait(seconds: 10) == 0)
        let stoppedAt = try #require(Double(scratch.read("term").trimmingCharacters(in: .whitespacesAndNewlines))) / 1e9
        #expect(stoppedAt - cut < 2.5, "stopped before the lock ran out (its last renewal was before the cut; stopped \(stoppedAt - cut)s after)")
        #expect(run.stderr.contains("cannot renew the lock"), "\(run.stderr)")
    }

    @Test func badLocksAreRefused() throws {
        let closed = try freePort()
        let down = try runSolo(["-lock=redis://127.0.0.1:\(closed)/x", "touch", "ran"], in: scratch)
        #expect(down.status == 1 && down.stderr.contains("Connection refused") && down.stderr.contains("COMMAND was not run"), "\(down.stderr)")
        #expect(!scratch.exists("ran"), "no lock, no run")
        let unnamed = try runSolo(["-lock=redis://127.0.0.1:\(redis.port)", "true"], in: scratch)
        #expect(unnamed.status == 2 && unnamed.stderr.contains("names no lock"), "\(unnamed.stderr)")
        let nothing = try runSolo([lock], in: scratch)
        #expect(nothing.status == 2 && nothing.stderr.contains("-lock needs a command"))
        let ttl = try runSolo([lock, "-ttl=1", "true"], in: scratch)
        #expect(ttl.status == 2 && ttl.stderr.contains("-ttl=1 is not a number of seconds from 3 to 600"))
    }
}
