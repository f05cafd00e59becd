import Glibc

/// `solo -lock=redis://HOST:PORT/NAME COMMAND`: COMMAND runs on one host of the fleet at a
/// time (a cron job that every server has, and that must not run on all of them at once).
///
/// solo takes the lock (a token with a TTL in Redis) or exits as the port form does when the
/// port is held; then it runs COMMAND as its child, renews the lock every third of the TTL,
/// passes on the signals it gets, and frees the lock when COMMAND exits, with COMMAND's status.
/// If it cannot renew (Redis away, a network split), it stops COMMAND a third of the TTL before
/// the lock runs out and kills it just before, so that the next host's run never overlaps;
/// COMMAND dies with solo too (PR_SET_PDEATHSIG, and the guardian for its children).
/// COMMAND gets SOLO_FENCE, a number that grows with every take of the lock.
public enum ClassicLock {
    static let passedOn = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM]

    public static func run(_ options: ClassicOptions, lock url: RedisURL, program: String) -> Int32 {
        let name = url.name ?? "?"
        let label = "solo(\(name))"
        let signals: SignalDescriptor
        do { signals = try SignalDescriptor(signals: passedOn + [SIGCHLD]) } catch {
            ClassicSolo.complain("\(label): cannot set up its signals: \(error)")
            return 1
        }
        let client: RedisClient
        do { client = try RedisClient(url: url.server, name: "solo-lock:\(name)", timeout: .seconds(5)) } catch {
            ClassicSolo.complain("\(label): \(error); COMMAND was not run")
            return 1
        }
        defer { client.close() }
        var random = SystemRandomNumberGenerator()
        let token = "\(Host.name())/lock \(Processes.ownPID) \(String(random.next(), radix: 36))"
        let keys = [RedisScripts.lockKey(name), RedisScripts.fenceKey(name)]
        let ttl = String(options.lockTTL.nanoseconds / 1_000_000)
        var clock = LeaseClock(ttl: options.lockTTL)

        let sentAt = Moment.now()
        let fence: Int64
        do {
            switch LockTake(try client.evaluate(RedisScripts.lockAcquire, keys: keys, arguments: [token, ttl])) {
            case .held(let number):
                fence = number
            case .heldBy(let holder, let left):
                if options.silent { return 0 }
                let time = left.map { " for \(Values.formatElapsed($0)) more unless renewed" }
                    ?? " with no expiry (set by hand? DEL \(RedisScripts.lockKey(name)) frees it)"
                ClassicSolo.complain("\(label): held by \(LockTake.describe(holder))\(time)")
                return CronCheck.exitAlreadyRunning
            case nil:
                ClassicSolo.complain("\(label): an answer from Redis solo cannot read; COMMAND was not run")
                return 1
            }
        } catch {
            ClassicSolo.complain("\(label): \(error); COMMAND was not run")
            return 1
        }
        clock.confirmed(sentAt: sentAt)
        if options.verbose { ClassicSolo.say("solo: took lock \(name) on \(url.server) (fence \(fence))\n") }

        // What COMMAND leaves behind dies with solo, however solo dies.
        let guardian = Guardian()
        try? guardian.start()
        var request = SpawnRequest(path: program, arguments: options.command,
                                   environment: Host.environment() + ["SOLO_FENCE=\(fence)", "SOLO_LOCK=\(name)"],
                                   descriptors: [.standardInput, .standardOutput, .standardError])
        request.deathSignal = SIGKILL
        request.guardian = guardian.pipeForChildren
        let child: pid_t
        do { child = try spawn(request) } catch {
            ClassicSolo.complain("solo: \(options.command[0]): \(error)")
            _ = try? client.evaluate(RedisScripts.lockRelease, keys: keys, arguments: [token])
            return 127
        }

        let connection = client.connection
        connection.reconnects = true
        var nextRenewal = clock.renewAt
        var renewing = false
        var stopped = false
        var killed = false
        var status: ExitStatus?
        func killCommand(_ why: String) {
            ClassicSolo.complain("\(label): \(why); killing COMMAND")
            killed = true
            clock.lost()
            nextRenewal = nil
            Processes.signalGroup(child, SIGKILL)
        }
        while status == nil {
            let now = Moment.now()
            var deadline = connection.nextDeadline
            if !renewing { deadline = earlier(deadline, nextRenewal) }
            if !stopped { deadline = earlier(deadline, clock.stopAt) }
            if !killed { deadline = earlier(deadline, clock.killAt) }
            var watched = [(fd: signals.descriptor, writable: false)]
            if let socket = connection.descriptor { watched.append((socket, connection.wantsWritable)) }
            let ready = Poll.wait(watched, milliseconds: deadline.map { $0.millisecondsFrom(now) } ?? 1000)
            if ready.count > 1, ready[1].any {
                connection.handle(readable: ready[1].readable, writable: ready[1].writable, hangup: ready[1].hangup)
            }
            connection.expire()
            for (signal, _) in signals.drain() where signal != SIGCHLD { Processes.signalGroup(child, signal) }
            while let (pid, exit) = Processes.reapAny() {
                if pid == child { status = exit }
            }
            guard status == nil else { break }

            let later = Moment.now()
            if !renewing, let due = nextRenewal, later >= due {
                // The take script renews a lock that is the token's (and takes it again if Redis
                // lost it), or says whose it is now.
                let sent = later
                nextRenewal = later + clock.retryWait
                renewing = connection.evaluate(RedisScripts.lockAcquire, keys: keys, arguments: [token, ttl]) { result in
                    renewing = false
                    guard !killed, case .success(let value) = result, let take = LockTake(value) else { return }
                    switch take {
                    case .held:
                        clock.confirmed(sentAt: sent)
                        nextRenewal = clock.renewAt
                    case .heldBy(let holder, _):
                        killCommand("\(LockTake.describe(holder)) holds the lock now")
                    }
                }
            }
            if !stopped, let stopAt = clock.stopAt, later >= stopAt {
                stopped = true
                ClassicSolo.complain("\(label): cannot renew the lock (\(connection.problem ?? "Redis does not answer")); stopping COMMAND before it runs out")
                Processes.signalGroup(child, SIGTERM)
            }
            if !killed, let killAt = clock.killAt, later >= killAt { killCommand("the lock runs out") }
            connection.flush()
        }
        // The guardian kills what COMMAND left in its session as it goes (waited for: the lock
        // is freed next, and nothing of this run may outlive it).
        let guardianPid = guardian.pid
        guardian.stop()
        if guardianPid > 0 { _ = Processes.wait(for: guardianPid) }
        // A lock that could not be renewed runs out by itself: no waiting on a server that is away.
        if clock.holds && !killed && connection.phase == .up {
            connection.reconnects = false
            _ = try? client.evaluate(RedisScripts.lockRelease, keys: keys, arguments: [token])
        }
        switch status! {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }
}
