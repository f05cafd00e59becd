import Glibc

/// Keeps the guardian (see guardian.c) running and told of every session solo answers for: a
/// guardian that dies is started again, at most once a second, and told every live session
/// anew. Its pipe is watched for writing only while it has not taken all it was sent.
final class GuardianKeeper: Timed {
    private let guardian = Guardian()
    private let epoll: Epoll
    private let say: (String) -> Void
    /// Every session a new guardian must be told of: the workers' and the lingering ones.
    var sessions: () -> [pid_t] = { [] }
    private var started = Moment.now()
    /// Set while a guardian that died young waits to be started again.
    private var restartAt: Moment?
    private var watchingPipe = false

    init(epoll: Epoll, say: @escaping (String) -> Void) {
        self.epoll = epoll
        self.say = say
    }

    var pid: pid_t { guardian.pid }
    /// What a new worker hands on to its children (nil while the pipe is backed up).
    var pipeForChildren: FileDescriptor? { guardian.pipeForChildren }

    func start() throws(Errno) { try guardian.start() }

    /// A clean stop: the guardian sees EOF, finds nothing left, and exits.
    func stop() { guardian.stop() }

    func register(_ session: pid_t) { tell(guardian.register(session)) }
    func unregister(_ session: pid_t) { tell(guardian.unregister(session)) }

    /// The pipe is writable again: writes what it did not take before.
    func flush() { tell(guardian.flush()) }

    /// After the loop: the pipe is served, and a lost guardian is not replaced.
    func flushOnly() { _ = guardian.flush() }

    /// Whether the reaped child was the guardian (then a new one is on its way).
    func reaped(_ pid: pid_t, status: ExitStatus, now: Moment) -> Bool {
        guard pid == guardian.pid else { return false }
        say("the guardian process (pid \(pid)) died: \(status)")
        lost(now: now)
        return true
    }

    /// Waits for the guardian's pipe to take what it could not take at once (rare: the
    /// guardian reads as fast as it is written to, unless it is stopped).
    func watchPipe() {
        guard let pipe = guardian.pipe else {
            watchingPipe = false
            return
        }
        if guardian.hasPending && !watchingPipe {
            watchingPipe = (try? epoll.add(pipe, token: EpollToken.guardian, readable: false, writable: true)) != nil
        } else if !guardian.hasPending && watchingPipe {
            epoll.remove(pipe)
            watchingPipe = false
        }
    }

    var nextDeadline: Moment? { restartAt }

    func expire(now: Moment) {
        if let restart = restartAt, restart <= now { restartGuardian(now: now) }
    }

    /// Acts on what the guardian's pipe said: false means the guardian is gone.
    private func tell(_ alive: Bool) {
        if !alive { lost(now: Moment.now()) }
    }

    /// Starts a new guardian, at most once a second, and tells it every live session.
    private func lost(now: Moment) {
        guardian.lost()
        guard restartAt == nil else { return }
        let earliest = started + .seconds(1)
        if now < earliest {
            restartAt = earliest
            say("starting a new guardian in \(Values.formatElapsed(earliest - now))")
        } else {
            restartGuardian(now: now)
        }
    }

    private func restartGuardian(now: Moment) {
        restartAt = nil
        started = now
        do { try guardian.start() } catch {
            restartAt = now + .seconds(1)
            say("cannot start a new guardian: \(error); retrying in 1s (until then a crash of solo may leave workers' children behind)")
            return
        }
        for session in sessions() where !guardian.register(session) {
            return lost(now: now)
        }
    }
}
