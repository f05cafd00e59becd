import Foundation
import Glibc
import SoloKit
import Testing

/// `solo run` as PID 1 of its own PID namespace, as in a container: every orphan is reaped,
/// and the signals the container runtime sends reach it. Needs root (for the namespace) and
/// util-linux's unshare; CI runs as root.
@Suite(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
                "needs root and /usr/bin/unshare to make a PID namespace"))
struct ContainerTests {
    @Test func asPidOneItReapsOrphansAndStopsOnSIGTERM() throws {
        let scratch = Scratch()
        let port = try freePort()
        // Each worker leaves a child unreaped when the shell execs (a zombie that becomes
        // solo's when the worker dies) and an orphan that re-parents to PID 1 and exits soon.
        scratch.write("worker.sh", """
            #!/bin/sh
            sleep 0.1 &
            ( (sleep 0.3; touch orphan-gone.$$) & )
            echo ready >&3
            exec sleep 600
            """, executable: true)
        scratch.config(port: port, "[pool]\ncommand = ./worker.sh\nqueue = none\nworkers = 2\n")
        // --kill-child: should the test fail, killing unshare takes the namespace down with it.
        let unshare = try Child(["--pid", "--fork", "--mount-proc", "--kill-child", soloBinary, "run", "solo.conf"],
                                in: scratch, name: "supervisor", executable: "/usr/bin/unshare")
        var solo: pid_t = 0
        try waitFor("solo started under unshare") {
            solo = ProcFS.children(of: unshare.pid).first ?? 0
            return solo > 0 && unshare.stderr.split(separator: "\n").filter { $0.contains("started worker") }.count == 2
        }
        #expect(unshare.stderr.contains("solo: started (pid 1,"), "solo is PID 1 in its namespace: \(unshare.stderr)")

        // The orphans exit once they have left their mark; as their new parent, solo reaps them.
        func children() -> [ProcFS.ProcessStat] { ProcFS.children(of: solo).compactMap { ProcFS.stat(of: $0) } }
        try waitFor("both orphans gone and reaped: solo's children are the guardian and the two workers, no zombie") {
            let now = children()
            return scratch.list().filter { $0.hasPrefix("orphan-gone.") }.count == 2 && now.count == 3 && now.allSatisfy { $0.state != "Z" }
        }

        // A container runtime's stop: SIGTERM to PID 1 (handled, so the kernel delivers it).
        kill(solo, SIGTERM)
        #expect(try unshare.wait() == 0, "solo stops its workers and exits 0: \(unshare.stderr)")
        #expect(unshare.stderr.contains("solo: stopped"))
        #expect(unshare.stderr.split(separator: "\n").filter { $0.contains("stopped: signal TERM") }.count == 2)
        #expect(!unshare.stderr.contains("left processes behind"), "a worker's reaped zombie is not a process left behind")
    }
}
