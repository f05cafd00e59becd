import Glibc

/// What signals ask of the supervisor: children reaped, a stop, a reload, logs reopened, a
/// worker more or less.
extension Supervisor {
    func handleSignals() {
        for (signal, sender) in signals.drain() {
            switch signal {
            case SIGCHLD:
                reapChildren()
            case SIGTERM, SIGINT, SIGQUIT:
                let name = "SIG" + Signals.name(of: signal) + (sender > 0 ? " from pid \(sender)" : "")
                if phase == .running {
                    say("\(name): stopping every pool gracefully (send it again to kill the workers at once)")
                    beginStop()
                } else if phase == .stopping {
                    say("\(name) again: killing every worker now")
                    beginKill()
                }
            case SIGUSR1:
                reopenLogs()
            case SIGHUP where phase == .running:
                say("SIGHUP: reloading \(config.file)")
                _ = reload()
            case SIGTTIN where phase == .running, SIGTTOU where phase == .running:
                let step = signal == SIGTTIN ? 1 : -1
                let why = "SIG\(Signals.name(of: signal))"
                for pool in pools {
                    // A scaling pool gets one more (or one less) at most: its range's top moves.
                    if let range = pool.autoscaler?.range {
                        let maximum = min(max(range.upperBound + step, 1), 4096)
                        say("pool \(pool.name): scaling between \(min(range.lowerBound, maximum)) and \(maximum) workers (\(why))")
                        scale(pool, to: pool.setScaling(min(range.lowerBound, maximum), upTo: maximum), why: why)
                    } else {
                        scale(pool, to: pool.desiredWorkers + step, why: why)
                    }
                }
            default:
                break
            }
        }
    }

    /// Reaps every dead child: a worker's end, the guardian's, or a leftover's.
    private func reapChildren() {
        let now = Moment.now()
        var ended: [WorkerProcess] = []
        while let (pid, status) = Processes.reapAny() {
            if guardian.reaped(pid, status: status, now: now) || hooks.reaped(pid, status: status) { continue }
            if let id = pipes.worker(pid: pid), let process = workerExited(id, status: status, now: now) {
                ended.append(process)
            } else {
                leftovers.reaped(pid)
            }
        }
        // Only now, with every dead child reaped: a worker's unreaped children (zombies a
        // shell left when it exec'd) come to solo when the worker dies, and are not processes
        // left behind.
        for process in ended { leftovers.sweep(after: process, now: now) }
        // A reaped orphan may have been the last of a dead worker's session.
        leftovers.forgetEmptySessions()
    }

    private func reopenLogs() {
        var failed = 0
        for sink in sinks.values {
            do { try sink.reopen() } catch {
                failed += 1
                say("cannot reopen \(sink.path ?? "?"): \(error); still writing to the old file")
            }
        }
        if let path = ownLogFile {
            do {
                let file = try LogSink.open(path, directoryMode: 0o750)
                defer { file.close() }
                try Files.redirectOutput(to: file)
            } catch {
                failed += 1
                say("cannot reopen \(path): \(error); still writing to the old file")
            }
        }
        say(failed == 0 ? "SIGUSR1: log files reopened" : "SIGUSR1: \(failed) log file(s) could not be reopened (see above)")
    }
}
