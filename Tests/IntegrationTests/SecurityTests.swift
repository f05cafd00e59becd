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

    /// A worker that could write where its log is could make it a link to a root file (or to a
    /// missing one, that root would create) for the next SIGUSR1 or start: solo opens a log file
    /// only where it is, never through a link.
    @Test func aLogFileThatIsALinkIsRefusedAtStartAndOnSIGUSR1() throws {
        let scratch = Scratch()
        try writeTalkerConfig(scratch)
        scratch.write("target", "precious\n")
        scratch.write("logs/.keep", "")
        for target in ["target", "missing"] {
            #expect(symlink(scratch.file(target), scratch.file("logs/talk.log")) == 0)
            let run = try runSolo(["run", "solo.conf"], in: scratch)
            #expect(run.status == 1 && run.stderr.contains("pool talk: cannot open log_file \(scratch.file("logs/talk.log")): ")
                    && run.stderr.contains("logs/talk.log is a symbolic link; solo opens a log file only where it is"), "\(run.stderr)")
            unlink(scratch.file("logs/talk.log"))
        }
        #expect(scratch.read("target") == "precious\n" && !scratch.exists("missing"))

        let supervisor = try RunningSupervisor(scratch)
        try waitFor("the pool's log file") { scratch.read("logs/talk.log").contains("line 3") }
        rename(scratch.file("logs/talk.log"), scratch.file("logs/talk.log.1"))
        #expect(symlink(scratch.file("target"), scratch.file("logs/talk.log")) == 0)
        supervisor.child.signal(SIGUSR1)
        try supervisor.waitForLog("SIGUSR1: 1 log file(s) could not be reopened")
        #expect(supervisor.lines(containing: "cannot reopen \(scratch.file("logs/talk.log")): ").first?
            .contains("is a symbolic link; solo opens a log file only where it is, never through a link (remove the link); still writing to the old file") == true,
                "\(supervisor.log)")
        let before = scratch.read("logs/talk.log.1").count
        try waitFor("lines in the old file still") { scratch.read("logs/talk.log.1").count > before }
        #expect(scratch.read("target") == "precious\n", "the link's target is untouched")
        #expect(try supervisor.stop() == 0)
    }

    /// A log whose directory another user may write (or own) is refused: that user could put a
    /// link in the log's place between two opens.
    @Test func aLogDirectoryOthersMayWriteIsRefused() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[talk]\nqueue = none\ncommand = sleep 600\nlog_file = logs/talk.log\n")
        scratch.write("logs/.keep", "")
        chmod(scratch.file("logs"), 0o777)
        let open = try runSolo(["run", "solo.conf"], in: scratch)
        #expect(open.status == 1 && open.stderr.contains("\(scratch.file("logs")) is writable by every user, who could put a link in place of the log;"),
                "\(open.stderr)")
        if getuid() == 0 {
            chmod(scratch.file("logs"), 0o755)
            chown(scratch.file("logs"), 65534, 65534)
            let owned = try runSolo(["run", "solo.conf"], in: scratch)
            #expect(owned.status == 1 && owned.stderr.contains("\(scratch.file("logs")) is a directory of uid 65534, who could redirect the log"),
                    "\(owned.stderr)")
            chown(scratch.file("logs"), 0, 0)
        }
        #expect(!scratch.exists("logs/talk.log"))

        // And on SIGUSR1, should it be opened after the start.
        chmod(scratch.file("logs"), 0o755)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        chmod(scratch.file("logs"), 0o777)
        supervisor.child.signal(SIGUSR1)
        try supervisor.waitForLog("SIGUSR1: 1 log file(s) could not be reopened")
        #expect(supervisor.log.contains("is writable by every user"))
        #expect(try supervisor.stop() == 0)
    }

    /// A directory on the way that is a symbolic link, even root's own, is refused: what it leads
    /// to (here a directory every user may write, where they could swap `sub` for a link to /etc
    /// between a check and the open) is never walked into, and nothing is made there.
    @Test func aLinkToADirectoryOnTheWayIsRefused() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("open/.keep", "")
        chmod(scratch.file("open"), 0o777)
        if getuid() == 0 { chown(scratch.file("open"), 65534, 65534) }
        #expect(symlink(scratch.file("open"), scratch.file("logs")) == 0)
        for log in ["logs/talk.log", "logs/sub/talk.log"] {
            scratch.config(port: port, "[talk]\nqueue = none\ncommand = sleep 600\nlog_file = \(log)\n")
            let run = try runSolo(["run", "solo.conf"], in: scratch)
            #expect(run.status == 1 && run.stderr.contains("\(scratch.file("logs")) is a symbolic link; solo reaches a log file only through real directories")
                    && run.stderr.contains("write the real path (\(scratch.file("open"))) in log_file or log_dir"), "\(log): \(run.stderr)")
        }
        #expect(!scratch.exists("open/talk.log") && !scratch.exists("open/sub"), "nothing made where the link leads")
    }

    /// A queue's directory is writable by the programs that push: a link in the queue file's
    /// place would have root create (or write) its target. SQLite is told not to follow one.
    @Test func aQueueFileThatIsALinkIsNotFollowed() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[feed]\ncommand = cat\nqueue = sqlite:queue/q.db\n")
        scratch.write("queue/.keep", "")
        #expect(symlink(scratch.file("missing"), scratch.file("queue/q.db")) == 0)
        let refusal = "queue/q.db is a symbolic link; solo opens a queue file only where it is, never through a link"
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog(refusal)
        let push = try runSolo(["push", "--config", "solo.conf", "--queue", "feed", "x"], in: scratch)
        #expect(push.status != 0 && push.stderr.contains(refusal), "\(push.stderr)")
        #expect(try supervisor.stop() == 0)
        #expect(!scratch.exists("missing"), "the link's target was not created")
    }

    /// state_dir's files (node-id) are written through a `.new` file made anew: a link left
    /// in its place is replaced, not followed.
    @Test func anAtomicWriteNeverFollowsALinkLeftInItsWay() throws {
        let scratch = Scratch()
        scratch.write("target", "precious\n")
        #expect(symlink(scratch.file("missing"), scratch.file("a.new")) == 0)
        #expect(link(scratch.file("target"), scratch.file("b.new")) == 0)
        try Files.writeAtomically(scratch.file("a"), "a\n")
        try Files.writeAtomically(scratch.file("b"), "b\n")
        #expect(scratch.read("a") == "a\n" && scratch.read("b") == "b\n")
        #expect(!scratch.exists("missing") && scratch.read("target") == "precious\n")
    }

    /// Any local user may bind a loopback port: a port held by someone else is an outage to
    /// report (cron mails it), not "already running".
    @Test func aPortHeldByAnotherProgramIsAnErrorForCheckAndRun() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[sleeper]\nqueue = none\ncommand = sleep 600\n")
        let squatter = try PortLock.acquire(address: 0x7F00_0001, port: port, inheritable: false)
        defer { squatter.release() }
        let held = "port \(port) on 127.0.0.1 is held by uid \(getuid()) (pid \(getpid()), "
        let check = try runSolo(["check", "solo.conf"], in: scratch)
        #expect(check.status == 1 && check.stderr.contains(held) && check.stderr.contains("), not a solo supervisor, so the supervisor of"),
                "\(check.status) \(check.stderr)")
        let run = try runSolo(["run", "solo.conf"], in: scratch)
        #expect(run.status == 1 && run.stderr.contains(held), "\(run.status) \(run.stderr)")
        #expect(!scratch.exists("state/run/solo.sock"), "no supervisor started")
    }

    /// Classic solo run as `uid`, whose `sleep` then holds `address`:`port` (bound, as a lock);
    /// its pid, once it does. The caller kills it.
    func holdLock(as uid: UInt32, port: UInt16, address: UInt32) throws -> pid_t {
        var request = SpawnRequest(path: soloBinary, arguments: [soloBinary, "-port=\(port)", "-addr=\(LockAddress.format(address))", "sleep", "600"],
                                   environment: ["PATH=/usr/bin:/bin"], directory: "/", descriptors: [nil, nil, nil])
        request.credentials = Credentials(uid: uid, gid: uid, groups: [uid])
        let holder = try spawn(request)
        do {
            try waitFor("uid \(uid)'s sleep to hold the port") { isHeld(port, address: address) && ProcFS.identity(of: holder)?.name == "sleep" }
        } catch {
            kill(holder, SIGKILL)
            _ = Processes.wait(for: holder)
            throw error
        }
        return holder
    }

    @Test(.enabled(if: getuid() == 0, "needs root to be a second user"))
    func aPortHeldByAnotherUserIsAnErrorNamingItsUidAndPid() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[sleeper]\nqueue = none\ncommand = sleep 600\n")
        // An ordinary user's program on root's lock address: classic solo, whose command holds the lock.
        let holder = try holdLock(as: 65534, port: port, address: 0x7F00_0001)
        defer { kill(holder, SIGKILL); _ = Processes.wait(for: holder) }
        let held = "port \(port) on 127.0.0.1 is held by uid 65534 (pid \(holder), sleep), not by a solo supervisor of this config"
        let check = try runSolo(["check", "solo.conf"], in: scratch)
        #expect(check.status == 1 && check.stderr.contains(held), "\(check.status) \(check.stderr)")
        let run = try runSolo(["run", "solo.conf"], in: scratch)
        #expect(run.status == 1 && run.stderr.contains(held), "\(run.status) \(run.stderr)")
    }

    /// A holder solo cannot look into (another user's bound socket, as Yama's ptrace_scope also
    /// hides a cron-started supervisor from its own user) is not "already running": `solo check`
    /// waits a moment for this config's control socket, then says so and exits 1.
    @Test(.enabled(if: getuid() == 0, "needs root to be two other users"))
    func aPortHeldByAProcessSoloCannotSeeIsAnErrorForCheck() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o777)
        let port = try freePort()
        scratch.config(port: port, "[sleeper]\nqueue = none\ncommand = sleep 600\n")
        // uid 65534's own address, taken by uid 65533's sleep, whose descriptors 65534 may not see.
        let address = try LockAddress.forUser(65534)
        let holder = try holdLock(as: 65533, port: port, address: address)
        defer { kill(holder, SIGKILL); _ = Processes.wait(for: holder) }
        let check = try Child(["--reuid=65534", "--regid=65534", "--clear-groups", soloBinary, "check", "solo.conf"], in: scratch,
                              name: "check", executable: "/usr/bin/setpriv")
        let status = try check.wait(seconds: 15)
        #expect(status == 1 && check.stderr.contains("solo: port \(port) on \(LockAddress.format(address)) is held by a process solo cannot identify "
                                                      + "(not this config's supervisor: its control socket does not answer)"),
                "\(status) \(check.stderr)")
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
