import Glibc

/// What workers leave behind, and solo's other children. A dead worker's session (its process
/// group, and processes that moved to groups of their own, re-parented to solo, the
/// subreaper) lingers and climbs its pool's stop ladder, as systemd stops what is left in a
/// unit's cgroup. Strays (children that started sessions of their own) are stopped at the end.
/// Orphans also count towards a live worker's memory: its tree includes them.
final class Leftovers: Timed {
    private struct LingeringSession {
        var pool: Pool
        var ladder: StopLadder
    }

    private var lingering: [pid_t: LingeringSession] = [:]
    /// Strays signalled at a stop, and when they get SIGKILL if they stay.
    private var strays: [pid_t: Moment] = [:]
    /// One look at /proc per pass of the loop, shared by everything that expires in it.
    private var sample: (at: Moment, orphans: [pid_t: [ProcFS.ProcessStat]])?
    private let pipes: WorkerPipes
    private let guardian: GuardianKeeper
    private let say: (String) -> Void

    init(pipes: WorkerPipes, guardian: GuardianKeeper, say: @escaping (String) -> Void) {
        self.pipes = pipes
        self.guardian = guardian
        self.say = say
    }

    /// Whether a dead worker's session still has processes being stopped.
    var hasLingering: Bool { !lingering.isEmpty }
    var sessions: [pid_t] { Array(lingering.keys) }

    /// solo's own children that are not workers (nor the guardian), by the session they belong to.
    func orphansBySession() -> [pid_t: [ProcFS.ProcessStat]] {
        var result: [pid_t: [ProcFS.ProcessStat]] = [:]
        for child in ProcFS.children(of: Processes.ownPID) where pipes.worker(pid: child) == nil && child != guardian.pid {
            if let stat = ProcFS.stat(of: child), stat.state != "Z" { result[stat.session, default: []].append(stat) }
        }
        return result
    }

    /// `orphansBySession`, looked up once for everything done at `now`.
    func orphansBySession(at now: Moment) -> [pid_t: [ProcFS.ProcessStat]] {
        if let sample, sample.at == now { return sample.orphans }
        let orphans = orphansBySession()
        sample = (now, orphans)
        return orphans
    }

    /// Whatever a dead worker left in its session goes too, as systemd does for a unit.
    func sweep(after process: WorkerProcess, now: Moment) {
        let session = process.pid
        guard sessionHasMembers(session, orphans: orphansBySession()) else { return guardian.unregister(session) }
        var ladder = StopLadder(process.pool.policy.signalLadder)
        if let step = ladder.climb(now: now), case .signal(let signal) = step.action {
            signalSession(session, signal)
            let pool = process.pool
            say("pool \(pool.name): worker pid \(session) left processes behind; sent SIG\(Signals.name(of: signal)), SIGKILL in \(Values.formatDuration(pool.config.stopTimeout)) if they stay")
        }
        lingering[session] = LingeringSession(pool: process.pool, ladder: ladder)
    }

    /// A reaped child that was no worker: a stray is gone, and an orphan may have been the
    /// last of a dead worker's session.
    func reaped(_ pid: pid_t) { strays[pid] = nil }

    /// After reaping: sessions with nobody left are done.
    func forgetEmptySessions() {
        guard !lingering.isEmpty else { return }
        let orphans = orphansBySession()
        for session in lingering.keys where !sessionHasMembers(session, orphans: orphans) { forget(session) }
    }

    /// The resident memory of a worker and every descendant, including descendants that were
    /// re-parented to solo (the subreaper) but still belong to the worker's session.
    func treeResidentBytes(of worker: Worker, orphans: [pid_t: [ProcFS.ProcessStat]]) -> UInt64? {
        residentBytes(of: worker, orphans: orphans)?.tree
    }

    /// The tree's resident memory, and the worker's own part of it.
    func residentBytes(of worker: Worker, orphans: [pid_t: [ProcFS.ProcessStat]]) -> (tree: UInt64, own: UInt64)? {
        guard let process = pipes[worker.id] else { return nil }
        guard let root = process.memory?.residentBytes() ?? ProcFS.residentBytes(of: worker.pid) else { return nil }
        var total = root
        let roots = ProcFS.children(of: worker.pid) + (orphans[worker.pid] ?? []).map(\.pid)
        for child in roots {
            for pid in ProcFS.tree(of: child) { total += ProcFS.residentBytes(of: pid) ?? 0 }
        }
        return (total, root)
    }

    /// SIGKILL to whatever dead workers left behind, and to the strays.
    func killAll() {
        for session in lingering.keys { signalSession(session, SIGKILL) }
        for pid in strays.keys { Processes.signal(pid, SIGKILL) }
    }

    /// At a stop, once no worker and no lingering session is left: signals solo's remaining
    /// children (outside every worker's session: they started sessions of their own), SIGKILL
    /// after 5 s or at once when `killing`. True when none is left.
    func stopStrays(killing: Bool, now: Moment) -> Bool {
        let children = ProcFS.children(of: Processes.ownPID).filter { $0 != guardian.pid }
        for child in children {
            if let deadline = strays[child] {
                if deadline <= now { Processes.signal(child, SIGKILL) }
            } else {
                Processes.signal(child, killing ? SIGKILL : SIGTERM)
                strays[child] = now + .seconds(5)
            }
        }
        return children.isEmpty
    }

    var nextDeadline: Moment? {
        var earliest: Moment?
        for session in lingering.values { earliest = earlier(earliest, session.ladder.deadline) }
        for deadline in strays.values { earliest = earlier(earliest, deadline) }
        return earliest
    }

    /// Lingering sessions climb their ladders; one that stays after SIGKILL gets it again.
    func expire(now: Moment) {
        for (session, state) in lingering {
            guard let deadline = state.ladder.deadline, deadline <= now else { continue }
            guard sessionHasMembers(session, orphans: orphansBySession(at: now)) else {
                forget(session)
                continue
            }
            var ladder = state.ladder
            if let step = ladder.climb(now: now), case .signal(let signal) = step.action {
                signalSession(session, signal)
            } else {
                // SIGKILL was sent and something is still there: send it to any newcomer, and wait.
                signalSession(session, SIGKILL)
                ladder = StopLadder([StopStep(action: .signal(SIGKILL), state: .stopping, wait: .seconds(5))])
                _ = ladder.climb(now: now)
            }
            lingering[session]?.ladder = ladder
        }
    }

    /// Whether a session has a live process: one in the worker's own group, or an orphan that
    /// left it. Any other member descends from one of those, as solo is the only ancestor of a
    /// worker outside its session.
    private func sessionHasMembers(_ session: pid_t, orphans: [pid_t: [ProcFS.ProcessStat]]) -> Bool {
        Processes.groupExists(session) || !(orphans[session] ?? []).isEmpty
    }

    /// Signals every process group of a dead worker's session that solo can see.
    private func signalSession(_ session: pid_t, _ signal: Int32) {
        Processes.signalGroup(session, signal)
        for orphan in orphansBySession()[session] ?? [] where orphan.group != session && orphan.group > 1 {
            Processes.signalGroup(orphan.group, signal)
        }
    }

    private func forget(_ session: pid_t) {
        lingering[session] = nil
        guardian.unregister(session)
    }
}
