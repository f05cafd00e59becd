import Foundation
import Glibc
import SoloKit
import Testing

/// A job's `solo push` joins its group (SOLO_WORKER_ID): the note of which job a worker holds
/// must survive the previous job's outcome, written with others after the next job was given.
@Suite struct GroupNoteTests {
    @Test(arguments: StoreKind.allCases)
    func everyJobOfAWorkerInTurnPushesIntoItsGroup(_ kind: StoreKind) throws {
        let scratch = Scratch()
        let port = try freePort()
        let redis = kind == .redis ? try RedisServer(scratch) : nil
        scratch.write("parent.sh", """
            #!/bin/sh
            while IFS= read -r job; do
                case "$job" in
                    parent*) sleep 0.05; \(soloBinary) push --config solo.conf "child-of-$job" >/dev/null ;;
                esac
                echo ok >&3
            done
            """, executable: true)
        scratch.config(port: port, "[family]\ncommand = ./parent.sh\nqueue = \(redis?.url ?? "sqlite:queue.db")\n")
        let supervisor = try RunningSupervisor(scratch)
        let parents = (1...8).map { "parent\($0)" }
        let push = try runSolo(["push", "--config", "solo.conf", "--group", "g"] + parents, in: scratch)
        try #require(push.status == 0, "\(push.stderr)")
        let wait = try runSolo(["wait", "g", "--config", "solo.conf", "--results"], in: scratch, seconds: 30)
        #expect(wait.status == 0, "\(wait.stderr)")
        // The group is finished once its parents are; their children were pushed into it by then.
        try waitFor("the children done") {
            let counts = (try? runSolo(["queue", "stats", "--config", "solo.conf", "--json"], in: scratch))?.stdout ?? ""
            return counts.contains(#""ready":0"#) && counts.contains(#""reserved":0"#)
        }
        let all = try runSolo(["wait", "g", "--config", "solo.conf"], in: scratch, seconds: 30)
        #expect(all.stderr.contains("group g: 16 jobs, 16 done, 0 dead"), "\(kind): \(all.stderr)")
        #expect(try supervisor.stop() == 0)
    }

    /// A job of a group waits for its note before its line goes out; a stop meanwhile (Redis
    /// slow to answer) sends the line first, then the end of file: the job runs, and its one
    /// attempt is not spent on a worker that never saw it.
    @Test func aStopWhileAJobWaitsForItsNoteStillRunsIt() throws {
        let scratch = Scratch()
        let port = try freePort()
        let redis = try RedisServer(scratch)
        scratch.write("gate.sh", """
            #!/bin/sh
            while IFS= read -r job; do
                [ "$job" = first ] && while [ ! -e go ]; do sleep 0.01; done
                echo "$job" >> handled
                echo ok >&3
            done
            """, executable: true)
        scratch.config(port: port, "[gate]\ncommand = ./gate.sh\nqueue = \(redis.url)\nmax_attempts = 1\nstop_timeout = 10s\n")
        let supervisor = try RunningSupervisor(scratch)
        let push = try runSolo(["push", "--config", "solo.conf", "--group", "g", "first", "second"], in: scratch)
        try #require(push.status == 0, "\(push.stderr)")
        /// The id of the job the worker holds, as `solo status` says.
        func jobInHand() -> Int? {
            guard let result = try? runSolo(["status", "--json", "--config", "solo.conf"], in: scratch), result.status == 0,
                  let status = try? JSON.parse(result.stdout.trimmed) else { return nil }
            return ControlTests().workers(status, "gate").first?["job"]?["id"]?.intValue
        }
        try waitFor("the first job in hand (solo status)") { jobInHand() == 1 }
        // Redis stops answering: the second job's note waits, and so does its line.
        kill(redis.pid, SIGSTOP)
        defer { kill(redis.pid, SIGCONT) }
        scratch.write("go", "")
        try waitFor("the second job given, its line held (solo status)") { jobInHand() == 2 }
        #expect(scratch.read("handled") == "first\n")
        let stop = try Child(["stop", "gate", "--config", "solo.conf"], in: scratch, name: "stop")
        try supervisor.waitForLog("pool gate: stopping")
        kill(redis.pid, SIGCONT)
        #expect(try stop.wait(seconds: 15) == 0)
        try waitFor("the second job run", seconds: 15) { scratch.read("handled") == "first\nsecond\n" }
        let wait = try runSolo(["wait", "g", "--config", "solo.conf"], in: scratch, seconds: 30)
        #expect(wait.stderr.contains("group g: 2 jobs, 2 done, 0 dead"), "\(wait.stderr)")
        #expect(try supervisor.stop() == 0)
    }
}
