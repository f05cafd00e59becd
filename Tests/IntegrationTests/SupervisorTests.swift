import Foundation
import Glibc
import SoloKit
import Testing

/// `solo run` and `solo check` with real workers: restarts, back-off, recycling, stopping.
/// The workers here poll their own queue (`queue = none`); FeedModeTests covers the embedded queue.
@Suite struct SupervisorTests {
    /// A worker that records each start as a file `starts/<slot>.<pid>` and then sleeps.
    static let recordingWorker = """
        #!/bin/sh
        mkdir -p starts
        echo "$SOLO_MAX_JOBS" > "starts/$SOLO_WORKER.$$"
        exec sleep 600
        """

    func starts(_ scratch: Scratch) -> [String] { scratch.list("starts") }

    @Test func runHoldsTheLockAndASecondRunIsRefused() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("worker.sh", Self.recordingWorker, executable: true)
        scratch.config(port: port, "[sleepers]\nqueue = none\ncommand = ./worker.sh\nworkers = 2\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker", count: 2)
        try waitFor("both workers to start") { starts(scratch).count == 2 }
        #expect(isHeld(port))

        let second = try runSolo(["run", "solo.conf"], in: scratch)
        #expect(second.status == 98)
        #expect(second.stderr.contains("solo: already running (port \(port) on 127.0.0.1 is held; config \(scratch.file("solo.conf")))"))

        #expect(try supervisor.stop() == 0)
        #expect(!isHeld(port))
        #expect(supervisor.log.contains("SIGTERM from pid"))
        #expect(supervisor.lines(containing: "stopped: signal TERM").count == 2)
    }

    @Test func checkStartsADeadSupervisorAndIsSilentWhenItRuns() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("worker.sh", Self.recordingWorker, executable: true)
        scratch.config(port: port, "[sleepers]\nqueue = none\ncommand = ./worker.sh\nworkers = 2\n")
        let cron = ["PATH": "/usr/bin:/bin"]  // cron's bare environment
        var started: pid_t = 0
        defer { if started > 0 { kill(started, SIGKILL) } }

        let first = try runSolo(["check", "solo.conf"], in: scratch, environment: cron)
        #expect(first.status == 0)
        #expect(first.stdout.isEmpty && first.stderr.isEmpty, "cron mails any output")
        #expect(isHeld(port))
        try waitFor("the workers check started") { starts(scratch).count == 2 }
        let log = scratch.read("state/solo.log")
        started = pid_t(log.components(separatedBy: "started (pid ").dropFirst().first?.prefix { $0.isNumber } ?? "") ?? 0
        #expect(started > 0 && isRunning(started))
        #expect(ProcFS.stat(of: started)?.session == started, "in a session of its own")

        let second = try runSolo(["check", "solo.conf"], in: scratch, environment: cron)
        #expect(second.status == 0 && second.stdout.isEmpty && second.stderr.isEmpty)
        #expect(scratch.read("state/solo.log").components(separatedBy: "started (pid").count == 2, "no second supervisor")

        kill(started, SIGTERM)
        try waitFor("the supervisor to stop") { !isRunning(started) }
        #expect(!isHeld(port))
        let third = try runSolo(["check", "solo.conf"], in: scratch, environment: cron)
        #expect(third.status == 0)
        #expect(isHeld(port), "a dead supervisor is started again")
        let restarted = scratch.read("state/solo.log").components(separatedBy: "started (pid ").last?.prefix { $0.isNumber }
        started = pid_t(restarted ?? "") ?? 0
        kill(started, SIGTERM)
        try waitFor("the second supervisor to stop") { !isRunning(started) }
    }

    @Test func checkWarnsOnlyWhenItStartsTheSupervisor() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, global: "include = missing/*.conf", "[sleepers]\nqueue = none\ncommand = sleep 600\n")
        let first = try runSolo(["check", "solo.conf"], in: scratch)
        let started = pid_t(scratch.read("state/solo.log").components(separatedBy: "started (pid ").dropFirst().first?.prefix { $0.isNumber } ?? "") ?? 0
        defer { if started > 0 { kill(started, SIGTERM) } }
        #expect(first.status == 0)
        #expect(first.stderr.contains("warning: include"))
        let second = try runSolo(["check", "solo.conf"], in: scratch)
        #expect(second.status == 0 && second.stderr.isEmpty, "no mail every minute for the same warning")
    }

    @Test func checkSaysWhenWorkersCannotStart() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[broken]\nqueue = none\ncommand = ./missing-worker\n")
        let result = try runSolo(["check", "solo.conf"], in: scratch)
        let pidText = scratch.read("state/solo.log").components(separatedBy: "started (pid ").dropFirst().first?.prefix { $0.isNumber }
        let started = pid_t(pidText ?? "") ?? 0
        defer { if started > 0 { kill(started, SIGTERM) } }
        #expect(result.status == 1)
        #expect(result.stderr.contains("pool broken: worker 0 cannot start: cannot execute ./missing-worker: No such file or directory"))
        #expect(result.stderr.contains("it keeps retrying"))
        #expect(isHeld(port), "the supervisor runs on, retrying with back-off")
    }

    @Test func aKilledWorkerIsRestartedAtOnce() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("worker.sh", Self.recordingWorker, executable: true)
        scratch.config(port: port, "[sleepers]\nqueue = none\ncommand = ./worker.sh\nworkers = 2\n")
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("two workers") { starts(scratch).count == 2 }
        let victim = pid_t(starts(scratch)[0].split(separator: ".")[1])!
        kill(victim, SIGKILL)
        try waitFor("a replacement") { starts(scratch).count == 3 }
        try supervisor.waitForLog("worker 0 (pid \(victim)) died: signal KILL (not sent by solo: out of memory?)")
        #expect(supervisor.lines(containing: "restarting now").count == 1)
        #expect(try supervisor.stop() == 0)
    }

    @Test func aCrashLoopBacksOffInsteadOfBurningCPU() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, """
            [crasher]
            queue = none
            command = sh -c 'echo boom; exit 3'
            backoff_min = 100ms
            backoff_max = 400ms
            """)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("died: exit status 3", count: 6)
        let began = Date()
        try supervisor.waitForLog("died: exit status 3", count: 9)
        // Three more deaths at the 400ms cap take over a second; a tight loop would take
        // milliseconds and log thousands.
        #expect(Date().timeIntervalSince(began) > 0.8)
        #expect(supervisor.lines(containing: "died: exit status 3").count < 20)
        #expect(supervisor.log.contains("quick deaths in a row"))
        #expect(supervisor.log.contains("crasher[0]"), "the worker's own output is logged")
        #expect(try supervisor.stop() == 0)
    }

    @Test func workersAreRecycledAtTheirDrawnJobLimit() throws {
        let scratch = Scratch()
        let port = try freePort()
        // Reports a job every 20 ms; finishes the job at hand on TERM, as Laravel's workers do.
        scratch.write("jobs.sh", """
            #!/bin/sh
            echo "$SOLO_MAX_JOBS" > "limit.$$"
            trap 'echo "done $n" > "stopped.$$"; exit 0' TERM
            n=0
            while :; do n=$((n + 1)); echo "ok job $n" >&3; sleep 0.02; done
            """, executable: true)
        scratch.config(port: port, "[jobs]\nqueue = none\ncommand = ./jobs.sh\nworkers = 2\nmax_jobs = 5-8\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("finished recycling", count: 4, seconds: 20)
        let recycles = supervisor.lines(containing: "recycling worker")
        #expect(recycles.count >= 4)
        for line in recycles {
            // "recycling worker 0 (pid 123): 6 jobs done (limit 6)"
            let pid = line.components(separatedBy: "(pid ")[1].prefix { $0.isNumber }
            let limit = Int(line.components(separatedBy: "(limit ")[1].prefix { $0.isNumber })!
            #expect((5...8).contains(limit))
            #expect(scratch.read("limit.\(pid)") == "\(limit)\n", "SOLO_MAX_JOBS tells the worker its drawn limit")
        }
        #expect(supervisor.lines(containing: "died").isEmpty, "a recycle is not a crash")
        #expect(try supervisor.stop() == 0)
    }

    @Test func aWorkerThatExitsAtItsLimitIsNotACrash() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("self.sh", """
            #!/bin/sh
            n=0
            while [ $n -lt "$SOLO_MAX_JOBS" ]; do n=$((n + 1)); echo ok >&3; done
            exit 0
            """, executable: true)
        scratch.config(port: port, "[selfish]\nqueue = none\ncommand = ./self.sh\nmax_jobs = 3-3\nbackoff_min = 5s\n")
        let supervisor = try RunningSupervisor(scratch)
        // Whether solo reads the third `ok` before it sees the exit or after, the exit is
        // planned: no back-off (backoff_min is 5s), no "died".
        try supervisor.waitForLog("started worker 0", count: 4)
        #expect(supervisor.lines(containing: "died").isEmpty)
        #expect(supervisor.lines(containing: "restarting in").isEmpty)
        #expect(try supervisor.stop() == 0)
    }

    @Test func workersAreRecycledAtTheMemoryLimitOfTheirWholeTree() throws {
        let scratch = Scratch()
        let port = try freePort()
        // The memory is held by a child of the worker: the tree counts, not only the worker.
        scratch.write("grow.sh", """
            #!/bin/sh
            ( x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo grown; sleep 600 ) &
            wait
            """, executable: true)
        scratch.config(port: port, "[grow]\nqueue = none\ncommand = ./grow.sh\nmemory_limit = 20M\nmemory_interval = 100ms\nstop_timeout = 2s\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("over memory_limit 20M", seconds: 20)
        let line = supervisor.lines(containing: "over memory_limit").first ?? ""
        #expect(line.contains("recycling worker 0"), "\(line)")
        try supervisor.waitForLog("finished recycling")
        #expect(try supervisor.stop() == 0)
    }

    @Test func memoryKillIsImmediate() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("grow.sh", "#!/bin/sh\nx=$(head -c 40000000 /dev/zero | tr '\\0' a)\necho grown\nexec sleep 600\n", executable: true)
        scratch.config(port: port, "[grow]\nqueue = none\ncommand = ./grow.sh\nmemory_kill = 20M\nmemory_interval = 100ms\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("was killed for memory", seconds: 20)
        #expect(supervisor.log.contains("over memory_kill 20M"))
        #expect(try supervisor.stop() == 0)
    }

    @Test func workersAreRecycledAtTheirLifetime() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("worker.sh", Self.recordingWorker, executable: true)
        scratch.config(port: port, "[aging]\nqueue = none\ncommand = ./worker.sh\nmax_lifetime = 1s-1500ms\nstop_timeout = 2s\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("finished recycling", count: 2, seconds: 15)
        #expect(supervisor.lines(containing: "recycling worker 0").allSatisfy { $0.contains("lifetime") })
        try waitFor("the third worker to start") { starts(scratch).count >= 3 }
        #expect(try supervisor.stop() == 0)
    }

    @Test func aStopEscalatesToSIGKILLForAWorkerThatIgnoresTERM() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("stubborn.sh", "#!/bin/sh\ntrap '' TERM\necho ready >&3\nwhile :; do sleep 1; done\n", executable: true)
        scratch.config(port: port, "[stubborn]\nqueue = none\ncommand = ./stubborn.sh\nworkers = 2\nstop_timeout = 1s\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker", count: 2)
        usleep(200_000)
        let began = Date()
        #expect(try supervisor.stop() == 0)
        let took = Date().timeIntervalSince(began)
        #expect(took >= 0.9 && took < 8, "TERM, then SIGKILL after stop_timeout (took \(took)s)")
        #expect(supervisor.lines(containing: "stopped: signal KILL").count == 2)
    }

    @Test func aSecondTERMKillsAtOnce() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("stubborn.sh", "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 1; done\n", executable: true)
        scratch.config(port: port, "[stubborn]\nqueue = none\ncommand = ./stubborn.sh\nstop_timeout = 60s\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker")
        supervisor.child.signal(SIGTERM)
        try supervisor.waitForLog("stopping every pool gracefully")
        supervisor.child.signal(SIGINT)
        #expect(try supervisor.child.wait(seconds: 5) == 0)
        #expect(supervisor.log.contains("again: killing every worker now"))
    }

    @Test func noWorkerOrGrandchildOutlivesASIGKILLedSupervisor() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("family.sh", """
            #!/bin/sh
            sleep 600 &
            echo $! > "grandchild.$SOLO_WORKER"
            echo $$ > "worker.$SOLO_WORKER"
            wait
            """, executable: true)
        scratch.config(port: port, "[family]\nqueue = none\ncommand = ./family.sh\nworkers = 2\n")
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("both families") { (0..<2).allSatisfy { scratch.exists("grandchild.\($0)") && scratch.exists("worker.\($0)") } }
        let pids = (0..<2).flatMap { slot in ["grandchild", "worker"].compactMap { pid_t(scratch.read("\($0).\(slot)").trimmed) } }
        #expect(pids.count == 4 && pids.allSatisfy(isRunning))

        supervisor.child.signal(SIGKILL)
        try waitFor("workers and grandchildren to die with the supervisor", seconds: 5) { !pids.contains(where: isRunning) }
        try waitFor("the lock to be free") { !isHeld(port) }
    }

    @Test func workersStartCleanAndHoldOnlyTheirOwnDescriptors() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("inspect.sh", """
            #!/bin/sh
            grep -E '^Sig(Blk|Ign)' /proc/self/status > signals
            env | sort > environment
            exec sleep 600
            """, executable: true)
        scratch.config(port: port, """
            [inspect]
            queue = none
            command = ./inspect.sh
            environment = APP_ENV=test, GREETING="hello, world"
            rlimit_nofile = 256
            """)
        var environment = ProcessInfo.processInfo.environment
        environment["SECRET_TOKEN"] = "hunter2"
        let supervisor = try RunningSupervisor(scratch, environment: environment)
        let worker = try findWorkerWhenStarted(supervisor)
        try waitFor("the worker to exec sleep") { (try? String(contentsOfFile: "/proc/\(worker)/comm", encoding: .utf8)) == "sleep\n" }
        #expect(scratch.read("signals") == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n")
        // The kernel renames the process a moment before it closes the close-on-exec
        // descriptors of the shell: wait for the exec to finish.
        func descriptors() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker)/fd")) ?? []).sorted() }
        let targets = { descriptors().compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(worker)/fd/\($0)") } }
        try waitFor("stdin, stdout, stderr and fd 3 only, not \(targets())", seconds: 2) { descriptors() == ["0", "1", "2", "3"] }
        #expect(!targets().contains { $0.hasPrefix("socket:") || $0.contains("eventpoll") || $0.contains("signalfd") }, "\(targets())")
        let env = scratch.read("environment")
        #expect(env.contains("APP_ENV=test\n") && env.contains("GREETING=hello, world\n"))
        #expect(env.contains("SOLO_POOL=inspect\n") && env.contains("SOLO_WORKER=0\n") && env.contains("SOLO_FD=3\n"))
        #expect(env.contains("SOLO_SUPERVISOR=\(supervisor.pid)\n"), "the guardian's mark")
        #expect(!env.contains("SECRET_TOKEN"), "clear_env keeps the supervisor's secrets out")
        let limits = try String(contentsOfFile: "/proc/\(worker)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains(" 256 ") })
        #expect(try supervisor.stop() == 0)
    }

    /// The pid of the first worker the supervisor started.
    func findWorkerWhenStarted(_ supervisor: RunningSupervisor) throws -> pid_t {
        try supervisor.waitForLog("started worker")
        let line = try #require(supervisor.lines(containing: "started worker").first)
        return pid_t(line.components(separatedBy: "(pid ")[1].prefix { $0.isNumber })!
    }

    @Test(.enabled(if: getuid() == 0, "needs root to switch users"))
    func workersRunAsTheirUserAndGroup() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o777)
        let port = try freePort()
        scratch.write("whoami.sh", "#!/bin/sh\nid > id.txt\necho \"$HOME $USER\" >> id.txt\nexec sleep 600\n", executable: true)
        scratch.config(port: port, "[nobody]\nqueue = none\ncommand = ./whoami.sh\nuser = nobody\n")
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("the worker's id") { scratch.read("id.txt").contains("\n") && scratch.read("id.txt").split(separator: "\n").count == 2 }
        let lines = scratch.read("id.txt").split(separator: "\n")
        #expect(lines[0].hasPrefix("uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"), "\(lines[0])")
        #expect(lines[1] == "/nonexistent nobody")
        #expect(try supervisor.stop() == 0)
    }

    @Test func poolLogFilesAreReopenedOnSIGUSR1() throws {
        let scratch = Scratch()
        let supervisor = try startTalker(scratch)
        #expect(scratch.read("logs/talk.log").contains(" solo: pool talk: started worker 0"), "solo's lines about the pool are there too")
        let first = try #require(scratch.read("logs/talk.log").split(separator: "\n").first { $0.contains(" talk[0] ") })
        // 2026-11-23T05:54:19.168+0000 talk[0] 4301: line 1
        #expect(first.split(separator: " ").count == 5 && first.contains(" talk[0] ") && first.hasSuffix(": line 1"), "\(first)")
        #expect(scratch.read("logs/talk.log").contains(": err 1\n"), "stderr is captured too")

        rename(scratch.file("logs/talk.log"), scratch.file("logs/talk.log.1"))
        supervisor.child.signal(SIGUSR1)
        try waitFor("a new log file after SIGUSR1") { scratch.read("logs/talk.log").contains("line") }
        try supervisor.waitForLog("SIGUSR1: log files reopened")
        #expect(try supervisor.stop() == 0)
    }

    /// A log directory deleted under a running supervisor is made again at SIGUSR1 (as at the
    /// start: solo's, 0755); one that cannot be made is said, not "reopened".
    @Test func aDeletedLogDirectoryIsMadeAgainOnSIGUSR1() throws {
        let scratch = Scratch()
        let supervisor = try startTalker(scratch)
        try FileManager.default.removeItem(atPath: scratch.file("logs"))
        supervisor.child.signal(SIGUSR1)
        try supervisor.waitForLog("SIGUSR1: log files reopened")
        try waitFor("lines in a new log file") { scratch.read("logs/talk.log").contains("line") }
        var info = stat()
        #expect(stat(scratch.file("logs"), &info) == 0 && info.st_mode & 0o7777 == 0o755 && info.st_uid == getuid())

        try FileManager.default.removeItem(atPath: scratch.file("logs"))
        scratch.write("logs", "a file where the directory was\n")
        supervisor.child.signal(SIGUSR1)
        try supervisor.waitForLog("SIGUSR1: 1 log file(s) could not be reopened")
        #expect(supervisor.lines(containing: "cannot reopen \(scratch.file("logs/talk.log")): ").count == 1, "\(supervisor.log)")
        #expect(supervisor.lines(containing: "SIGUSR1: log files reopened").count == 1)
        #expect(try supervisor.stop() == 0)
    }

    @Test func leftoversInAWorkersSessionAreStopped() throws {
        let scratch = Scratch()
        let port = try freePort()
        // One leftover in the worker's group, one in a process group of its own (bash job
        // control), both in the worker's session.
        scratch.write("leaver.sh", """
            #!/bin/bash
            sleep 600 &
            echo $! > in-group.$$
            set -m
            sleep 600 &
            cat /proc/$!/stat > own-group.stat.$$
            echo $! > own-group.$$
            sleep 0.2
            """, executable: true)
        scratch.config(port: port, "[leaver]\nqueue = none\ncommand = ./leaver.sh\nbackoff_min = 10s\nbackoff_reset = 20s\nstop_timeout = 1s\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("left processes behind")
        let line = try #require(supervisor.lines(containing: "left processes behind").first)
        let worker = String(line.components(separatedBy: "worker pid ")[1].prefix { $0.isNumber })
        let leftovers = ["in-group.\(worker)", "own-group.\(worker)"].compactMap { pid_t(scratch.read($0).trimmed) }
        try #require(leftovers.count == 2)
        let moved = try #require(ProcFS.parseStat(scratch.read("own-group.stat.\(worker)")))
        #expect(moved.group == leftovers[1] && moved.session != moved.group, "in a group of its own, in the worker's session")
        try waitFor("both leftovers to be stopped") { !leftovers.contains(where: isRunning) }
        #expect(try supervisor.stop() == 0)
    }

    @Test func noProcessOfAWorkersSessionOutlivesASIGKILLedSupervisor() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("jobs.sh", "#!/bin/bash\nset -m\nsleep 600 &\necho $! > own-group\nwait\n", executable: true)
        scratch.config(port: port, "[jobs]\nqueue = none\ncommand = ./jobs.sh\n")
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("the worker's child") { pid_t(scratch.read("own-group").trimmed) != nil }
        let moved = pid_t(scratch.read("own-group").trimmed)!
        supervisor.child.signal(SIGKILL)
        defer { if isRunning(moved) { kill(moved, SIGKILL) } }
        try waitFor("the guardian to kill the moved child by its session", seconds: 5) { !isRunning(moved) }
    }

    @Test(.enabled(if: getuid() == 0, "needs root to switch users"))
    func aWorkerOfAnotherUserDiesWithSoloEvenWithoutTheGuardian() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o777)
        let port = try freePort()
        scratch.config(port: port, "[nobody]\nqueue = none\ncommand = sleep 600\nuser = nobody\n")
        let supervisor = try RunningSupervisor(scratch)
        let worker = try findWorkerWhenStarted(supervisor)
        func guardian() -> pid_t? {
            ProcFS.children(of: supervisor.pid).first { (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) == "solo-guardian\n" }
        }
        try waitFor("the guardian to name itself") { guardian() != nil }
        let guardian = try #require(guardian())
        // The parent-death signal must survive the switch to another user.
        kill(guardian, SIGKILL)
        supervisor.child.signal(SIGKILL)
        try waitFor("PR_SET_PDEATHSIG to kill the worker", seconds: 5) { !isRunning(worker) }
    }

    @Test func soloReopensItsOwnLogFileOnSIGUSR1() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[sleepers]\nqueue = none\ncommand = sleep 600\n")
        let supervisor = try Child(["run", "--log-file", "own.log", "solo.conf"], in: scratch, name: "supervisor")
        try waitFor("solo's own log") { scratch.read("own.log").contains("started worker 0") }
        rename(scratch.file("own.log"), scratch.file("own.log.1"))
        supervisor.signal(SIGUSR1)
        try waitFor("a new own.log after SIGUSR1") { scratch.read("own.log").contains("SIGUSR1: log files reopened") }
        supervisor.signal(SIGTERM)
        #expect(try supervisor.wait() == 0)
        #expect(scratch.read("own.log").contains("solo: stopped"))
        #expect(!scratch.read("own.log.1").contains("solo: stopped"))
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
