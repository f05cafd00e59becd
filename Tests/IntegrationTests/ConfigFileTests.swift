import Foundation
import Glibc
import SoloKit
import Testing

/// What solo says of config files that are not what they seem: a FIFO among the includes, a
/// directory it cannot read, a pool whose jobs would wait for ever.
@Suite struct ConfigFileTests {
    @Test func aFIFOMatchedByAnIncludeIsRefusedAtOnceAndTheRunningConfigStays() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, global: "include = pool.d/*.conf", "")
        scratch.write("pool.d/a.conf", "[a]\nqueue = none\ncommand = sleep 600\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")

        // A FIFO with no writer: opening it to read would wait for ever.
        #expect(mkfifo(scratch.file("pool.d/b.conf"), 0o644) == 0)
        scratch.write("pool.d/a.conf", "[a]\nqueue = none\ncommand = sleep 600\nworkers = 2\n")
        let expected = "\(scratch.path)/pool.d/b.conf: cannot read the included file: not a regular file but a FIFO (make the include pattern match config files only)"
        let check = try runSolo(["config", "check", "solo.conf"], in: scratch, seconds: 5)
        #expect(check.status == CronCheck.exitConfig)
        #expect(check.stderr.contains(expected), "\(check.stderr)")

        let reload = try runSolo(["reload", "--config", "solo.conf"], in: scratch, seconds: 5)
        #expect(reload.status == 1)
        #expect(reload.stderr.contains(expected) && reload.stderr.contains("nothing changed"), "\(reload.stderr)")
        try supervisor.waitForLog("reload refused: the running configuration stays in force")
        let status = try runSolo(["status", "a", "--json", "--config", "solo.conf"], in: scratch)
        #expect(status.status == 0, "the supervisor still answers: \(status.stderr)")
        let pools = try JSON.parse(status.stdout.trimmed)["pools"]?.arrayValue ?? []
        #expect(pools.map { $0["workers"]?.arrayValue?.count } == [1], "workers = 2 was not applied: \(status.stdout)")
        #expect(try supervisor.stop() == 0)
    }

    @Test func zeroWorkersOnAQueueIsAWarningAtCheckAndAtRun() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[idle]\ncommand = cat\nworkers = 0\n")
        let warning = "\(scratch.path)/solo.conf:7: warning: workers: 0 runs no worker, so the jobs queued for \"idle\" wait until it does (write workers = 1 or more, or a range like 0-4 to start workers when jobs arrive)"
        let check = try runSolo(["config", "check", "solo.conf"], in: scratch)
        #expect(check.status == 0 && check.stderr.contains(warning), "\(check.stderr)")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog(warning)
        #expect(try supervisor.stop() == 0)
    }

    @Test func anIncludeDirectoryThatCannotBeReadIsAnError() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o755)
        let port = try freePort()
        scratch.config(port: port, global: "include = pool.d/*.conf", "[main]\nqueue = none\ncommand = sleep 600\n")
        scratch.write("pool.d/a.conf", "[a]\nqueue = none\ncommand = sleep 600\n")
        // Root reads any directory: as root, check as nobody, whom mode 0700 keeps out.
        let asRoot = getuid() == 0
        chmod(scratch.file("pool.d"), asRoot ? 0o700 : 0o000)
        defer { chmod(scratch.file("pool.d"), 0o755) }
        let check = try Child((asRoot ? ["--reuid=nobody", "--regid=nogroup", "--clear-groups", soloBinary] : [])
                              + ["config", "check", "solo.conf"],
                              in: scratch, name: "check", executable: asRoot ? "/usr/bin/setpriv" : soloBinary)
        #expect(try check.wait() == CronCheck.exitConfig, "\(check.stderr)")
        #expect(check.stderr.contains("\(scratch.path)/solo.conf:4: include: \"\(scratch.path)/pool.d/*.conf\" cannot be searched: \(scratch.path)/pool.d: Permission denied (make the directory readable by the user solo runs as)"),
                "\(check.stderr)")
        #expect(!check.stderr.contains("matches no file"))
    }
}
