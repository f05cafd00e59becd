import Foundation
import Glibc
import SoloKit
import Testing

/// Whether this process may mount a tmpfs (root, with the capability: CI runs so).
let canMountTmpfs: Bool = {
    guard getuid() == 0 else { return false }
    let probe = Scratch()
    guard mount("tmpfs", probe.path, "tmpfs", 0, "size=64k") == 0 else { return false }
    umount(probe.path)
    return true
}()

/// A queue file deleted, replaced by garbage, corrupted or on a full disk: solo says what is
/// wrong, keeps its workers up, loses nothing that was stored, and carries on once the cause
/// is gone.
@Suite struct QueueFaultTests {
    let feed = FeedModeTests()

    func counts(_ path: String) throws -> QueueCounts {
        let store = try JobStore(path: path, create: false, busyTimeout: 5000)
        return try store.counts().first ?? QueueCounts(queue: "feed")
    }

    @Test func aDeletedQueueFileIsMadeAnewAndJobsPushedThereRun() throws {
        let scratch = Scratch()
        let port = try freePort()
        feed.setUp(scratch, port: port)
        let supervisor = try RunningSupervisor(scratch)
        try feed.push(scratch, ["before"])
        try waitFor("the first job") { feed.handled(scratch).count == 1 }
        // The main file only, as a hasty `rm queue.db` does: its -wal and -shm stay behind.
        unlink(scratch.file("queue.db"))
        try supervisor.waitForLog("queue \(scratch.file("queue.db")) was deleted; opening a new, empty one")
        try feed.push(scratch, ["after-1", "after-2"])
        try waitFor("the jobs pushed to the new file, done") { (try? counts(scratch.file("queue.db")).done) == 2 }
        #expect(feed.handled(scratch).map(\.payload) == ["before", "after-1", "after-2"])
        #expect(try supervisor.stop() == 0)
        #expect(try counts(scratch.file("queue.db")).done == 2, "the new file's jobs survive solo letting go of the old one")
    }

    @Test func aQueueFileReplacedByGarbageWaitsUntilItIsRestored() throws {
        let scratch = Scratch()
        let port = try freePort()
        feed.setUp(scratch, port: port, pool: "workers = 1\n")
        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("started worker 0")
        try #require(try runSolo(["stop", "feed", "--config", "solo.conf"], in: scratch).status == 0)
        try feed.push(scratch, (1...20).map { "stored\($0)" })
        // A copy made by SQLite's own backup, as an operator would keep one.
        let backup = try Database(path: scratch.file("queue.db"), create: false)
        try backup.execute("VACUUM INTO '\(scratch.file("backup.db"))'")

        scratch.write("garbage", String(repeating: "this is not a database\n", count: 500))
        rename(scratch.file("garbage"), scratch.file("queue.db"))
        try supervisor.waitForLog("was replaced; opening the new file")
        try supervisor.waitForLog("is unusable: ")
        #expect(supervisor.log.contains("file is not a database") || supervisor.log.contains("not a solo queue"), "\(supervisor.log)")
        let refused = try runSolo(["push", "--config", "solo.conf", "lost?"], in: scratch)
        #expect(refused.status != 0 && refused.stderr.contains(scratch.file("queue.db")) && refused.stderr.contains("nothing was queued"), "\(refused.stderr)")
        try #require(try runSolo(["start", "feed", "--config", "solo.conf"], in: scratch).status == 0)
        try supervisor.waitForLog("started worker 0", count: 2)
        #expect(feed.handled(scratch).isEmpty)

        rename(scratch.file("backup.db"), scratch.file("queue.db"))
        try supervisor.waitForLog("is usable again", seconds: 40)
        try waitFor("every stored job, from the restored file", seconds: 20) { feed.handled(scratch).count == 20 }
        #expect(Set(feed.handled(scratch).map(\.payload)) == Set((1...20).map { "stored\($0)" }))
        #expect(try supervisor.stop() == 0)
    }

    @Test func aCorruptedHeaderIsReportedAndRepairingItLosesNothing() throws {
        let scratch = Scratch()
        let port = try freePort()
        feed.setUp(scratch, port: port)
        try feed.push(scratch, (1...10).map { "kept\($0)" })
        let path = scratch.file("queue.db")
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        let header = handle.readData(ofLength: 100)
        handle.seek(toFileOffset: 0)
        handle.write(Data(repeating: 0x5A, count: 100))
        handle.synchronizeFile()

        let supervisor = try RunningSupervisor(scratch)
        try supervisor.waitForLog("is unusable: ")
        try supervisor.waitForLog("started worker 0")
        let status = try runSolo(["status", "--config", "solo.conf"], in: scratch)
        #expect(status.stdout.contains("unusable"), "solo status says so: \(status.stdout)")
        let pushed = try runSolo(["push", "--config", "solo.conf", "new"], in: scratch)
        #expect(pushed.status != 0 && pushed.stderr.contains("nothing was queued"), "\(pushed.stderr)")

        handle.seek(toFileOffset: 0)
        handle.write(header)
        handle.synchronizeFile()
        try handle.close()
        try supervisor.waitForLog("is usable again", seconds: 40)
        try waitFor("every job stored before the damage", seconds: 20) { feed.handled(scratch).count == 10 }
        #expect(try supervisor.stop() == 0)
        let after = try counts(path)
        #expect(after.done == 10 && after.pending == 0 && after.dead == 0, "\(after)")
    }

    /// A feed pool (setUp's, with `pool` added) whose queue is on a 2 MB tmpfs, `disk` in the
    /// scratch directory; `body` gets the disk's path. The disk is unmounted after it, however
    /// it ends.
    func onSmallDisk(_ scratch: Scratch, port: UInt16, pool: String = "", _ body: (String) throws -> Void) throws {
        let disk = scratch.file("disk")
        mkdir(disk, 0o755)
        try #require(mount("tmpfs", disk, "tmpfs", 0, "size=2m") == 0, "mount: errno \(errno)")
        defer { umount2(disk, Int32(MNT_DETACH)) }
        feed.setUp(scratch, port: port, pool: "queue = sqlite:disk/queue.db\n" + pool)
        // `queue` is set twice in setUp's section: the pool's own line must be the only one.
        scratch.write("solo.conf", scratch.read("solo.conf").replacingOccurrences(of: "queue = sqlite:queue.db\n", with: ""))
        try body(disk)
    }

    /// Fills a disk to the last block with a file named filler, and goes on taking what is
    /// freed (solo empties its -wal when a write finds the disk full) until `done` holds.
    func fill(_ disk: String, until done: () -> Bool = { true }) throws {
        let filler = open(disk + "/filler", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        try #require(filler >= 0, "cannot make \(disk)/filler: errno \(errno)")
        defer { close(filler) }
        let chunk = [UInt8](repeating: 0, count: 4096)
        try waitFor("the disk to stay full", seconds: 20) {
            while write(filler, chunk, chunk.count) > 0 {}
            while write(filler, chunk, 512) > 0 {}
            return done()
        }
    }

    @Test(.enabled(if: canMountTmpfs, "needs root to mount a small tmpfs"))
    func aFullDiskRefusesPushesKeepsWhatIsStoredAndRecovers() throws {
        let scratch = Scratch()
        let port = try freePort()
        try onSmallDisk(scratch, port: port) { disk in
            let supervisor = try RunningSupervisor(scratch)
            try supervisor.waitForLog("started worker 0")
            try #require(try runSolo(["stop", "feed", "--config", "solo.conf"], in: scratch).status == 0)
            try feed.push(scratch, (1...100).map { "stored\($0)" })
            try fill(disk)

            let payload = String(repeating: "x", count: 2000)
            let refused = try runSolo(["push", "--config", "solo.conf", payload, payload, payload], in: scratch)
            #expect(refused.status != 0 && refused.stderr.contains("the disk is full (free some space)") && refused.stderr.contains("nothing was queued"), "\(refused.stderr)")
            try #require(try runSolo(["start", "feed", "--config", "solo.conf"], in: scratch).status == 0)
            try supervisor.waitForLog("the disk is full", seconds: 20)
            let status = try runSolo(["status", "--json", "--config", "solo.conf"], in: scratch)
            #expect(status.status == 0 && status.stdout.contains("\"state\":\"ready\""), "the workers stay up: \(status.stdout)")

            unlink(disk + "/filler")
            try supervisor.waitForLog("is usable again", seconds: 40)
            try waitFor("every stored job", seconds: 20) { feed.handled(scratch).count == 100 }
            #expect(try supervisor.stop() == 0)
            let after = try counts(disk + "/queue.db")
            #expect(after.done == 100 && after.pending == 0, "\(after)")
        }
    }

    /// A small disk that fills while jobs flow: solo waits without spinning (its own opening
    /// and closing of the file are not someone's repair, and retries falling due during the
    /// outage wait for the file too), says so once, and once space is freed every job left is
    /// done (the -wal is kept from eating the room it needs).
    @Test(.enabled(if: canMountTmpfs, "needs root to mount a small tmpfs"))
    func aDiskFilledWhileJobsFlowCostsNoCPUIsSaidOnceAndRecovers() throws {
        let scratch = Scratch()
        let port = try freePort()
        try onSmallDisk(scratch, port: port, pool: "workers = 2\n") { disk in
            let total = 2000
            // Every tenth job asks for a retry a second later, once: retries are always due soon.
            scratch.write("work/worker.sh", """
                #!/bin/sh
                echo ready >&3
                while IFS= read -r job; do
                    echo "$$ $job" >> handled
                    case "$job" in
                        again*) if [ -e "retried-$job" ]; then echo ok >&3; else touch "retried-$job"; echo "retry 1s" >&3; fi ;;
                        *) echo ok >&3 ;;
                    esac
                done
                """, executable: true)
            let payloads = (1...total).map { ($0 % 10 == 0 ? "again\($0)-" : "job\($0)-") + String(repeating: "p", count: 40) }
            let retried = payloads.filter { $0.hasPrefix("again") }.count
            let supervisor = try RunningSupervisor(scratch)
            try supervisor.waitForLog("started worker 1")
            try feed.push(scratch, payloads)
            try waitFor("the first 100 jobs", seconds: 30) { feed.handled(scratch).count >= 100 }

            try fill(disk) { supervisor.log.contains("the disk is full") }
            let before = cpuSeconds(supervisor.pid)
            sleep(3)
            let busy = cpuSeconds(supervisor.pid) - before
            #expect(busy < 0.3, "solo used \(busy) s of CPU in 3 s of a full disk")
            #expect(supervisor.lines(containing: "is unusable").count == 1, "said once: \(supervisor.log)")

            unlink(disk + "/filler")
            try waitFor("every job, once space was freed", seconds: 90) { Set(feed.handled(scratch).map(\.payload)).count == total }
            // Reopened after the outage, the file's leases under solo's name are its workers' jobs.
            try waitFor("the retries", seconds: 30) { feed.handled(scratch).count >= total + retried }
            #expect(feed.handled(scratch).count == total + retried, "each job ran once, and those retried twice")
            #expect(try supervisor.stop() == 0)
            #expect(supervisor.lines(containing: "is unusable").count == 1 && supervisor.lines(containing: "is usable again").count == 1,
                    "one line for the full disk, one when it had room again: \(supervisor.lines(containing: "usable"))")
            let after = try counts(disk + "/queue.db")
            #expect(after.done == total && after.pending == 0, "\(after)")
        }
    }

    /// A queue file replaced on disk while solo could not use it (the disk was full): the jobs
    /// it took ahead from the old file and the outcomes it could not write there belong to a
    /// file that is gone. They are dropped, never written to the new file (where their ids are
    /// other jobs); the new file's jobs leased under solo's name (a copy made while it held
    /// them) are taken back and run.
    @Test(.enabled(if: canMountTmpfs, "needs root to mount a small tmpfs"))
    func aFileReplacedWhileUnusableGetsNothingOfTheOldOne() throws {
        let scratch = Scratch()
        let port = try freePort()
        try onSmallDisk(scratch, port: port, pool: "workers = 1\n") { disk in
            // The old file's jobs wait for `go`, so that solo holds them when the disk fills.
            scratch.write("work/worker.sh", """
                #!/bin/sh
                echo ready >&3
                while IFS= read -r job; do
                    echo "$$ $job" >> handled
                    case "$job" in old*) while [ ! -e go ]; do sleep 0.05; done ;; esac
                    echo ok >&3
                done
                """, executable: true)
            let supervisor = try RunningSupervisor(scratch)
            try supervisor.waitForLog("started worker 0")
            try feed.push(scratch, (1...20).map { "old\($0)" })
            try waitFor("the first old job in the worker's hands") { feed.handled(scratch).count == 1 }
            // The new file: the same ids, other jobs, leased under solo's name.
            do {
                let leases = try Database(path: disk + "/queue.db", create: false).prepare("SELECT lease_owner FROM jobs WHERE lease_owner IS NOT NULL")
                try #require(try leases.step())
                let owner = try #require(leases.text(0))
                leases.reset()
                let store = try JobStore(path: disk + "/new.db", create: true)
                try store.push(queue: "feed", (1...20).map { NewJob(payload: Array("new\($0)".utf8)) })
                let database = try Database(path: disk + "/new.db", create: false)
                try database.prepare("UPDATE jobs SET state = 'reserved', lease_owner = ?, lease_until = ?, attempts = 1, ahead = 1")
                    .run([.text(owner), .integer(JobStore.now() + 60_000)])
            }

            try fill(disk)
            scratch.write("work/go", "")
            try supervisor.waitForLog("the disk is full", seconds: 20)
            try waitFor("old jobs done while the disk is full (their outcomes wait)") { feed.handled(scratch).count >= 5 }
            // Moved over as a whole: no -wal or -shm of the old file stays behind.
            unlink(disk + "/queue.db-wal")
            unlink(disk + "/queue.db-shm")
            rename(disk + "/new.db", disk + "/queue.db")
            unlink(disk + "/filler")

            try waitFor("every job of the new file", seconds: 40) { (try? counts(disk + "/queue.db").done) == 20 }
            let ran = Set(feed.handled(scratch).map(\.payload).filter { $0.hasPrefix("new") })
            #expect(ran == Set((1...20).map { "new\($0)" }), "each job of the new file ran, none was marked done by the old file's outcomes")
            #expect(supervisor.log.contains("they are dropped with it"), "\(supervisor.log)")
            #expect(try supervisor.stop() == 0)
        }
    }
}
