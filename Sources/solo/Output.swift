import SoloKit

let soloVersion = "0.1.0"

func printError(_ text: String) {
    try? FileDescriptor.standardError.writeAll(text + "\n")
}

func print(_ text: String, terminator: String = "\n") {
    try? FileDescriptor.standardOutput.writeAll(terminator == "\n" && text.hasSuffix("\n") ? text : text + terminator)
}

/// Loads a config, printing every problem (`file:line: ...`) on failure and warnings always.
func loadConfig(_ path: String, showWarnings: Bool = true) -> LoadedConfig? {
    do {
        let loaded = try ConfigLoader().load(path)
        if showWarnings { for warning in loaded.warnings { printError(warning.description) } }
        return loaded
    } catch {
        printError(error.description)
        let count = error.issues.filter { $0.severity == .error }.count
        printError("solo: \(count) error\(count == 1 ? "" : "s") in the configuration; nothing was started")
        return nil
    }
}

let helpText = """
    usage: solo COMMAND [OPTIONS]
           solo -port=PORT [-addr=ADDR] [-verbose] [-silent] [-timeout=SEC] [-sleep=SEC] [-noport] COMMAND [ARGS...]
           solo -lock=redis://HOST[:PORT]/NAME [-ttl=SEC] [-silent] COMMAND [ARGS...]

    Supervisor commands (FILE defaults to $SOLO_CONFIG, else /etc/solo/solo.conf):
      solo run [FILE]            run the supervisor in the foreground, holding the config's lock_port
      solo check [FILE]          for cron: start the supervisor in the background unless it runs;
                                 silent when it does
      solo config check [FILE]   validate the configuration and print it with defaults filled in
      solo version               print the version

    Steering a running supervisor (through its control socket):
      solo status [POOL] [--json] [--watch]
                                 pools, workers (state, pid, uptime, jobs, RSS, job in hand), queues
      solo status --cluster [--json] [--watch]
                                 every live supervisor on the config's Redis servers, with its pools
      solo stop|start|restart POOL...|all [--wait [--timeout D]]
                                 stop or start pools; restart them one worker at a time;
                                 --wait returns once done (124 after D, 90s by default)
      solo shutdown [FILE] [--timeout D]
                                 stop the supervisor gracefully; returns once it has exited
      solo scale POOL N          run N workers (SIGTTIN/SIGTTOU: one more/less in every pool)
      solo reload                read the config again: changed pools roll, new ones start,
                                 removed ones stop, the others are left alone (also SIGHUP)
      solo logs POOL [-n N] [-f] the pool's recent output; -f follows it
      solo dashboard [FILE] [--new-token]
                                 the URL of the web dashboard (dashboard_listen), with its token;
                                 --new-token replaces the token (pages opened with the old one stop)
      solo schedule list [--json] the schedules ([schedule:NAME]): next runs, last runs and their jobs
      solo schedule run NAME     push a run of the schedule now

    The queue, embedded (SQLite) or on Redis (options take --config FILE; see solo-queue(5), solo-redis(5)):
      solo push [--queue Q] [--delay D] [--priority N] [--max-attempts N] [--group G] [--key K]
                [--strict] [--unique KEY | --unique-payload] [--unique-for D] [--json] [JOB...]
                                 queue the jobs given, or one per line of standard input
      solo call [--queue Q] [--timeout D] [--group G] [--json] JOB
                                 queue one job through the supervisor and print its result
                                 (exit 1: it failed; 2: still queued when the timeout ran out)
      solo wait GROUP [--timeout D] [--results]
                                 wait until every job of the group is done or dead
      solo queue [stats|list|dead] [--queue Q] [--json]
                                 look at the queue
      solo queue retry|bury|purge [--id N,...] [--queue Q]
                                 put dead jobs back, bury jobs (dead, never run), delete jobs

    Classic form: take the port lock on a loopback address, then exec COMMAND, which holds the
    lock for as long as it lives. A held lock exits 98 ("Address already in use"), or 0 with -silent.
    With -lock, the lock is one for the whole fleet, in Redis: solo runs COMMAND while it renews it.

    Exit statuses: 0 done; 1 failure (solo wait: a dead job; solo reload: a refused config);
    2 bad usage; 3 no supervisor runs; 65 a refused job; 78 bad configuration; 98 already
    running; 124 solo wait, --wait or solo shutdown timed out; 127 (classic) COMMAND cannot be executed. See solo(1), solo.conf(5), solo-queue(5) and solo-redis(5).
    """
