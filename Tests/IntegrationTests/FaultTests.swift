import Foundation
import Glibc
import SoloKit
import Testing

/// The resident memory of a process, from /proc.
func residentBytes(_ pid: pid_t) -> UInt64 { ProcFS.residentBytes(of: pid) ?? 0 }

/// CPU time a process has used (user and system), in seconds.
func cpuSeconds(_ pid: pid_t) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return 0 }
    // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Workers that misbehave in every way we know of: solo stays up, bounded and responsive.
@Suite struct FaultTests {
    /// `solo status --json` and its workers, as the control tests read them.
    let control = ControlTests()

    @Test func workersThatBreakTheProtocolOrFloodAreStoppedWhileSoloStaysSmall() throws {
        let scratch = Scratch()
        let port = try freePort()
        // Each broken worker is stopped; the slot backs off as after a crash.
        scratch.config(port: port, """
            [garbage]
            command = sh -c 'while :; do echo "hello there" >&3; sleep 0.05; done'
            stop_timeout = 1s
            [hugeline]
            command = sh -c 'head -c 100000000 /dev/zero | tr "\\\\0" a >&3; exec sleep 600'
            stop_timeout = 1s
            [closer]
            command = sh -c 'exec 3>&-; exec sleep 600'
            stop_timeout = 1s
            [flood]
            queue = none
            command = yes "a line of output that floods solo's log"
            log_file = /dev/null
            """)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("was stopped for breaking the fd 3 protocol (3 invalid lines on fd 3)", seconds: 10)
        try supervisor.waitForLog("was stopped for breaking the fd 3 protocol (it wrote a line over 64K on fd 3)", seconds: 20)
        try supervisor.waitForLog("was stopped for breaking the fd 3 protocol (it closed fd 3, so it can report no job)", seconds: 10)
        // Restarted, and stopped again: a worker broken from the start backs off like a crash.
        try supervisor.waitForLog("was stopped for breaking the fd 3 protocol (3 invalid lines on fd 3)", count: 2, seconds: 10)

        // Flooded and fed garbage, solo still answers at once, and its memory stays small.
        let json = try control.status(scratch)
        for pool in ["garbage", "hugeline", "closer"] {
            let lastExit = control.workers(json, pool).compactMap { $0["last_exit"]?.stringValue }.first ?? ""
            #expect(lastExit.hasPrefix("stopped: broke the fd 3 protocol: "), "\(pool): \(lastExit)")
        }
        #expect(control.workers(json, "flood").first?["state"]?.stringValue == "ready")
        let rss = residentBytes(supervisor.pid)
        #expect(rss > 0 && rss < 64 << 20, "solo's RSS \(rss >> 20) MiB after a 100 MB line and a flood")
        let starts = supervisor.lines(containing: "pool garbage: started worker").count
        #expect(supervisor.lines(containing: "wrote an invalid line").count <= 3 * starts, "three logged per worker")
        #expect(try supervisor.stop() == 0)
    }

    @Test func aCrashLoopCostsSoloAlmostNoCPUAndStatusSaysWhy() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[crasher]\nqueue = none\ncommand = sh -c 'echo cannot connect to the database >&2; exit 3'\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("died: exit status 3", count: 4)
        let before = cpuSeconds(supervisor.pid)
        let began = Date()
        usleep(3_000_000)
        let used = cpuSeconds(supervisor.pid) - before
        let elapsed = Date().timeIntervalSince(began)
        #expect(used / elapsed < 0.05, "solo used \(used) s of CPU in \(elapsed) s of a crash loop")
        // A crash loop spends nearly all its time backing off; a single read can still land in
        // the moment a worker is started or has just died, so wait for the backoff.
        var slot = JSON.null
        try waitFor("the crasher's slot backing off") {
            slot = (try? control.workers(try control.status(scratch), "crasher").first) ?? .null
            return slot["state"]?.stringValue == "backoff"
        }
        #expect(slot["last_exit"]?.stringValue == "crashed: exit status 3")
        #expect((slot["restarts"]?.intValue ?? 0) >= 4)
        #expect(supervisor.lines(containing: ": cannot connect to the database").first?.contains(" crasher[0] ") == true, "the worker's own words are in the log")
        #expect(try supervisor.stop() == 0)
    }

    @Test func aWorkerThatAllocatesWithoutEndIsKilledWithinASample() throws {
        let scratch = Scratch()
        let port = try freePort()
        // 1 MiB every 5 ms (about 200 MiB/s), bounded by rlimit_as should solo fail to act.
        scratch.config(port: port, """
            [leak]
            queue = none
            command = perl -e '$| = 1; my $s = ""; print "start\\n"; while (1) { $s .= "a" x 1048576; select(undef, undef, undef, 0.005) }'
            memory_kill = 64M
            memory_interval = 100ms
            rlimit_as = 2G
            """)
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog(": start")
        let baseline = residentBytes(supervisor.pid)
        try supervisor.waitForLog("was killed for memory", count: 3, seconds: 30)
        for line in supervisor.lines(containing: "was killed for memory") {
            // "(NNM)" at the kill: past 64M by at most a sample or two of growth (20 MiB each).
            let figure = line.components(separatedBy: "killed for memory (").dropFirst().first.map { $0.prefix { $0.isNumber || $0 == "." } } ?? ""
            let megabytes = Double(figure) ?? 0
            #expect(megabytes >= 64 && megabytes < 64 + 60, "\(line)")
        }
        let after = residentBytes(supervisor.pid)
        #expect(after < baseline + (4 << 20), "solo's own RSS went from \(baseline) to \(after)")
        #expect(try supervisor.stop() == 0)
    }

    @Test func aSupervisorKilledAgainAndAgainUnderLoadLosesNoJobAndLeavesNoProcess() throws {
        let scratch = Scratch()
        let port = try freePort()
        // Each worker has three grandchildren: one in its process group, one in a group of its
        // own (job control), one in a session of its own (as a daemon); a job takes about 10 ms,
        // so that a kill finds jobs in the workers' hands.
        scratch.write("work/worker.sh", """
            #!/bin/sh
            sleep 300 &
            echo $! >> ../grandchildren
            set -m
            sleep 301 &
            echo $! >> ../grandchildren
            set +m
            setsid sleep 302 &
            echo $! >> ../grandchildren
            echo $$ >> ../workers
            echo ready >&3
            while IFS= read -r job; do echo "$job" >> ../handled; sleep 0.01; echo ok >&3; done
            """, executable: true)
        scratch.config(port: port, "[feed]\ncommand = ./worker.sh\ndirectory = work\nworkers = 4\n")
        let total = 3000
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array((1...total).map { "j\($0)\n" }.joined().utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")
        let store = try JobStore(path: scratch.file("state/queue.db"), create: false, busyTimeout: 5000)
        func pids(_ file: String) -> [pid_t] { scratch.read(file).split(separator: "\n").compactMap { pid_t($0) } }
        var kills = 0
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            let supervisor = try RunningSupervisor(scratch)
            try supervisor.waitForLog("started worker 3")
            usleep(UInt32.random(in: 100_000...300_000))
            if (try store.counts().first?.done ?? 0) == total { _ = try supervisor.stop(); break }
            supervisor.child.signal(SIGKILL)
            _ = try supervisor.child.wait()
            kills += 1
            let left = pids("workers") + pids("grandchildren")
            try waitFor("no worker or grandchild left after kill \(kills)", seconds: 5) { !left.contains(where: isRunning) }
        }
        let counts = try #require(try store.counts().first)
        #expect(counts.done == total && counts.dead == 0 && counts.pending == 0, "every job done, none lost: \(counts)")
        let runs = scratch.read("handled").split(separator: "\n").map(String.init)
        #expect(Set(runs) == Set((1...total).map { "j\($0)" }), "every job ran at least once")
        #expect(kills >= 3, "\(kills) kills")
        // Run twice: only what was in flight at a kill, a job in each of the 4 workers' hands
        // and outcomes not yet committed (5 ms of them: a few at this pace). Measured: about
        // 5.5 per kill.
        let duplicates = runs.count - Set(runs).count
        #expect(duplicates <= kills * (4 + 12), "\(duplicates) duplicates over \(kills) kills")
    }

    /// The bound solo-queue(5) states: a `kill -9` runs again at most the jobs in the workers'
    /// hands and the outcomes not yet committed, and those never exceed a batch (256), even
    /// while another program's long transaction keeps solo from committing: its workers then
    /// get no new job. Each round kills solo just after its first (largest) take, with 512 jobs
    /// taken ahead for 32 fast workers, all of which ran before when outcomes piled up.
    @Test func aKillRunsAgainAtMostTheJobsInHandAndOneBatchOfOutcomes() throws {
        let scratch = Scratch()
        let port = try freePort()
        let workers = 32, total = 3000
        scratch.write("work/worker.sh", """
            #!/bin/sh
            echo $$ >> ../workers
            echo ready >&3
            while IFS= read -r job; do echo "$job" >> ../handled; echo ok >&3; done
            """, executable: true)
        scratch.config(port: port, "[feed]\ncommand = ./worker.sh\ndirectory = work\nworkers = \(workers)\n")
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array((1...total).map { "j\($0)\n" }.joined().utf8))
        try #require(pushed.status == 0, "\(pushed.stderr)")
        let path = scratch.file("state/queue.db")
        let store = try JobStore(path: path, create: false, busyTimeout: 5000)
        func ran() -> [String] { scratch.read("handled").split(separator: "\n").map(String.init) }
        func done() throws -> Set<String> { Set(try store.jobs(queue: nil, states: ["done"], limit: total).map(\.payload)) }
        for round in 1...3 {
            let before = ran().count
            let supervisor = try RunningSupervisor(scratch, name: "supervisor\(round)")
            try waitFor("round \(round): jobs flowing", seconds: 30, interval: 1000) { ran().count > before }
            // Another program's write transaction: solo can commit nothing while it lasts.
            let blocker = try Database(path: path, create: false)
            blocker.setBusyTimeout(milliseconds: 5000)
            try blocker.execute("BEGIN IMMEDIATE")
            var last = -1
            try waitFor("round \(round): the workers to stop for want of a job", seconds: 30, interval: 500_000) {
                defer { last = ran().count }
                return ran().count == last
            }
            supervisor.child.signal(SIGKILL)
            _ = try supervisor.child.wait()
            let pids = scratch.read("workers").split(separator: "\n").compactMap { pid_t($0) }
            try waitFor("round \(round): every worker gone", seconds: 10) { !pids.contains(where: isRunning) }
            try blocker.execute("ROLLBACK")
            let again = Set(ran()).subtracting(try done()).count
            #expect(again <= workers + 256, "round \(round): \(again) jobs ran without a committed outcome (at most \(workers) in hand + 256)")
        }
        let supervisor = try RunningSupervisor(scratch, name: "supervisor-last")
        try waitFor("every job done", seconds: 60) { (try? done().count) == total }
        #expect(try supervisor.stop() == 0)
        #expect(Set(ran()).count == total)
    }

    /// The soak: a million jobs through two workers recycled every 100 to 200 jobs (some
    /// 6,700 recycles). From the first 100,000 jobs to the last, solo's memory stays put.
    @Test func soloDoesNotGrowOverAMillionJobsAndThousandsOfRecycles() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, """
            [soak]
            command = sh -c 'echo ready >&3; while read -r job; do echo ok >&3; done'
            workers = 2
            max_jobs = 100-200
            """)
        let total = 1_000_000, warm = 100_000
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 1")
        let pushed = try runSolo(["push", "--config", "solo.conf"], in: scratch, input: Array((1...total).map { "j\($0)\n" }.joined().utf8),
                                 seconds: 120)
        try #require(pushed.status == 0, "\(pushed.stderr)")
        let store = try JobStore(path: scratch.file("state/queue.db"), create: false, busyTimeout: 5000)
        // Counting is a scan of the file: once a second, not to take solo's CPU.
        func done() -> Int { (try? store.counts().first?.done) ?? 0 }
        try waitFor("\(warm) jobs done", seconds: 120, interval: 1_000_000) { done() >= warm }
        let early = residentBytes(supervisor.pid)
        try waitFor("every job done", seconds: 600, interval: 1_000_000) { done() == total }
        let late = residentBytes(supervisor.pid)
        let recycles = supervisor.lines(containing: "recycling worker").count
        #expect(recycles >= total / 200, "\(recycles) recycles")
        #expect(late <= early + (1 << 20), "solo's RSS went from \(early >> 10) KiB at \(warm) jobs to \(late >> 10) KiB at \(total)")
        #expect(try supervisor.stop() == 0)
    }

    @Test(.enabled(if: getuid() == 0, "RLIMIT_NPROC does not bind root: needs root to run the worker as nobody"))
    func rlimitsContainAForkBombAndOpenFiles() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o777)
        let port = try freePort()
        scratch.config(port: port, """
            [bomb]
            queue = none
            user = nobody
            rlimit_nproc = 20
            command = perl -e 'my $n = 0; for (1..500) { my $p = fork; last unless defined $p; if ($p == 0) { sleep 60; exit 0 } $n++ } open my $f, ">", "forks.tmp" or die; print $f "$n\\n"; close $f; rename "forks.tmp", "forks"; sleep 600'
            [files]
            queue = none
            rlimit_nofile = 64
            command = perl -e 'my @h; while (open(my $h, "<", "/dev/null")) { push @h, $h } my $n = @h; close(pop @h); open my $f, ">", "files.tmp" or die "$!"; print $f "$n\\n"; close $f; rename "files.tmp", "files"; sleep 600'
            """)
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("the fork bomb's count") { scratch.exists("forks") }
        let forks = Int(scratch.read("forks").trimmed) ?? -1
        #expect(forks >= 1 && forks < 20, "\(forks) forks under rlimit_nproc = 20")
        try waitFor("the open-file count") { scratch.exists("files") }
        let files = Int(scratch.read("files").trimmed) ?? -1
        #expect(files >= 10 && files <= 61, "\(files) files under rlimit_nofile = 64")
        let bombPid = try #require(ProcFS.children(of: supervisor.pid).first { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.contains("fork") == true
        })
        let session = ProcFS.stat(of: bombPid)?.session ?? 0
        #expect(session > 0)
        #expect(try supervisor.stop() == 0)
        func left() -> [pid_t] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
                .filter { ProcFS.stat(of: $0)?.session == session && isRunning($0) }
        }
        try waitFor("every process of the bomb to go with its worker", seconds: 10) { left().isEmpty }
    }

    /// A guardian that dies is replaced and told every live session again: a worker's child in
    /// a process group of its own, without the guardian's mark (so that only its session names
    /// it), still goes with a SIGKILLed supervisor.
    @Test func aGuardianThatDiesIsReplacedAndToldEverySession() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("jobs.sh", "#!/bin/bash\nset -m\nenv -u SOLO_SUPERVISOR sleep 600 &\necho $! > own-group\nwait\n", executable: true)
        scratch.config(port: port, "[jobs]\nqueue = none\ncommand = ./jobs.sh\n")
        let supervisor = try RunningSupervisor(scratch)
        try waitFor("the worker's child") { pid_t(scratch.read("own-group").trimmed) != nil }
        let moved = pid_t(scratch.read("own-group").trimmed)!
        defer { if isRunning(moved) { kill(moved, SIGKILL) } }
        // Logged once solo has told the guardian of the worker: from here on only the
        // guardian's death (SIGCHLD), not a write to its pipe, tells solo it is gone.
        try supervisor.waitForLog("started worker 0")
        func guardian(other than: pid_t = 0) -> pid_t? {
            ProcFS.children(of: supervisor.pid).first {
                $0 != than && (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) == "solo-guardian\n"
            }
        }
        try waitFor("the guardian to name itself") { guardian() != nil }
        let first = try #require(guardian())
        kill(first, SIGKILL)
        try supervisor.waitForLog("the guardian process (pid \(first)) died")
        try waitFor("a new guardian") { guardian(other: first) != nil }
        supervisor.child.signal(SIGKILL)
        try waitFor("the new guardian to kill the moved child by its session", seconds: 5) { !isRunning(moved) }
    }
}
