import Foundation
import Glibc
import SoloKit
import Testing

/// What solo promises about privileges and exposure: the lock port accepts nothing, workers
/// run as their user and cannot get root back, and commands get no shell unless they ask.
@Suite struct SecurityTests {
    @Test func theLockPortOfARunningSupervisorAcceptsNoConnection() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[sleeper]\nqueue = none\ncommand = sleep 600\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        #expect(isHeld(port), "the port is bound")
        let attempt = connectLoopback(port)
        if let socket = attempt.socket { close(socket) }
        #expect(attempt.socket == nil && attempt.error == ECONNREFUSED, "bound, never listening: nothing can connect")
        // Nor is it listening on any address: no LISTEN (0A) entry for the port in /proc/net/tcp.
        let table = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        let hexPort = String(format: ":%04X", port)
        #expect(!table.split(separator: "\n").contains { $0.contains(hexPort + " ") && $0.split(separator: " ")[3] == "0A" })
        #expect(try supervisor.stop() == 0)
    }

    @Test(.enabled(if: getuid() == 0, "needs root to make a user and switch to it"))
    func workersRunAsTheirUserWithItsGroupsAndCannotRegainRoot() throws {
        let user = "solo-test-w\(getpid() % 10000)", extra = "solo-test-g\(getpid() % 10000)"
        let scratch = Scratch()
        chmod(scratch.path, 0o777)
        #expect(try runCommand(["/usr/sbin/groupadd", extra], in: scratch) == 0)
        defer { _ = try? runCommand(["/usr/sbin/groupdel", extra], in: scratch) }
        #expect(try runCommand(["/usr/sbin/useradd", "-M", "-N", "-g", "nogroup", "-G", extra, "-s", "/usr/sbin/nologin", user], in: scratch) == 0)
        defer { _ = try? runCommand(["/usr/sbin/userdel", user], in: scratch) }
        let account = try #require(Accounts.user(user))

        scratch.write("probe.sh", """
            #!/bin/sh
            id > probe.tmp
            grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapAmb)' /proc/self/status >> probe.tmp
            perl -e '$< = 0; $> = 0; print "after setuid(0): uid=$< euid=$>\\n"' >> probe.tmp 2>&1
            mv probe.tmp probe.txt
            exec sleep 600
            """, executable: true)
        let port = try freePort()
        scratch.config(port: port, "[probe]\nqueue = none\ncommand = ./probe.sh\nuser = \(user)\n")
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("the probe's report") { scratch.exists("probe.txt") }
        let report = scratch.read("probe.txt")
        let uid = account.uid
        #expect(report.hasPrefix("uid=\(uid)(\(user)) gid=65534(nogroup) groups=65534(nogroup),"), "\(report)")
        #expect(report.contains("(\(extra))"), "supplementary groups as initgroups sets them: \(report)")
        #expect(report.contains("Uid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\n"), "real, effective, saved and fs uid all switched: \(report)")
        #expect(report.contains("Gid:\t65534\t65534\t65534\t65534\n"))
        for capabilities in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            #expect(report.contains("\(capabilities):\t0000000000000000\n"), "no \(capabilities): \(report)")
        }
        #expect(report.contains("after setuid(0): uid=\(uid) euid=\(uid)"), "root cannot be taken back: \(report)")
        #expect(try supervisor.stop() == 0)
    }

    @Test func commandsRunWithoutAShellUnlessTheyAskForOne() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("marker", "")
        scratch.config(port: port, """
            [plain]
            queue = none
            command = printf "[%s]" $HOME * a&&b `id` "two words"
            [shell]
            queue = none
            command = sh -c 'printf "[%s]" "$SOLO_POOL" *'
            """)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("plain[0]")
        try supervisor.waitForLog("shell[0]")
        #expect(supervisor.lines(containing: "plain[0]").first?.hasSuffix(": [$HOME][*][a&&b][`id`][two words]") == true, "\(supervisor.log)")
        #expect(supervisor.lines(containing: "shell[0]").first?.contains("[shell][") == true, "a shell when asked for")
        #expect(supervisor.lines(containing: "shell[0]").first?.contains("[marker]") == true)
        #expect(try supervisor.stop() == 0)
        let checked = try runSolo(["config", "check", "solo.conf"], in: scratch)
        #expect(checked.stderr.contains("no shell runs (write sh -c '...' for shell syntax)"), "the config check warns: \(checked.stderr)")
    }
}
