import Foundation
import Glibc
import Testing
@testable import SoloKit

/// A loader over in-memory files, so every error path is tested without touching the disk.
func memoryLoader(_ files: [String: String], uid: UInt32 = 0) -> ConfigLoader {
    var loader = ConfigLoader()
    loader.readFile = { (path) throws(ReadError) in
        guard let text = files[path] else { throw .system(.noSuchFile) }
        return text
    }
    loader.glob = { pattern in files.keys.filter { fnmatch(pattern, $0, 0) == 0 }.sorted() }
    loader.checkMachine = false
    loader.uid = uid
    loader.home = "/home/ops"
    loader.currentDirectory = "/etc/solo"
    return loader
}

func loadErrors(_ files: [String: String]) -> [String] {
    do {
        _ = try memoryLoader(files).load("/etc/solo/solo.conf")
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

@Suite struct ConfigLoaderTests {
    @Test func defaultsAreFilledIn() throws {
        let loaded = try memoryLoader(["/etc/solo/solo.conf": "[mailer]\ncommand = php worker.php\n"]).load("solo.conf")
        let config = loaded.config
        #expect(config.file == "/etc/solo/solo.conf")
        #expect(config.global.lockPort == 3800)
        #expect(config.global.lockAddress == nil)
        #expect(config.global.stateDirectory == "/var/lib/solo")
        #expect(config.global.logFile == "/var/lib/solo/solo.log")
        let pool = try #require(config.pool(named: "mailer"))
        #expect(pool.command == ["php", "worker.php"])
        #expect(pool.directory == "/etc/solo")
        #expect(pool.workers == 1)
        #expect(pool.maxJobs == 1000...2000)
        #expect(pool.stopSignal == SIGTERM)
        #expect(pool.stopTimeout == .seconds(30))
        #expect(pool.memoryInterval == .seconds(1))
        #expect(pool.backoffMin == .milliseconds(100) && pool.backoffMax == .seconds(60))
        #expect(pool.clearEnvironment)
        #expect(pool.umask == 0o022)
        #expect(pool.logFile == nil)
        #expect(loaded.warnings.isEmpty)
    }

    @Test func nonRootStateGoesUnderHome() throws {
        let config = try memoryLoader(["/etc/solo/solo.conf": "[a]\ncommand = x\n"], uid: 1000).load("solo.conf").config
        #expect(config.global.stateDirectory == "/home/ops/.local/state/solo")
    }

    @Test func everyKeyIsRead() throws {
        let text = """
            [global]
            lock_port = 4100
            lock_addr = 127.0.0.1
            state_dir = ../var
            log_dir = ../var/log
            include = pool.d/*.conf

            [mailer]
            command      = php /srv/app/bin/console app:mail-worker
            directory    = /srv/app
            user         = www-data
            group        = www-data
            workers      = 4
            queue        = none
            max_jobs     = 1000-2000
            memory_limit = 128M
            memory_kill  = 256M
            memory_interval = 500ms
            max_lifetime = 1h
            stop_signal  = QUIT
            stop_timeout = 20s
            umask        = 027
            environment  = APP_ENV=prod, MAIL_HOST="smtp.example.org"
            clear_env    = no
            pass_env     = AWS_REGION, TERM
            rlimit_nofile = 1024:4096
            rlimit_core  = unlimited
            rlimit_as    = 2G
            backoff_min  = 1s
            backoff_max  = 2m
            backoff_reset = 1m
            """
        let pool = """
            [images]
            command = ./resize
            max_jobs = 500
            """
        let config = try memoryLoader(["/etc/solo/solo.conf": text, "/etc/solo/pool.d/images.conf": pool]).load("solo.conf").config
        #expect(config.global.lockPort == 4100)
        #expect(config.global.lockAddress == 0x7f00_0001)
        #expect(config.global.stateDirectory == "/etc/var")
        #expect(config.global.logDirectory == "/etc/var/log")
        #expect(config.global.logFile == "/etc/var/log/solo.log")
        let mailer = try #require(config.pool(named: "mailer"))
        #expect(mailer.directory == "/srv/app" && mailer.user == "www-data" && mailer.group == "www-data")
        #expect(mailer.workers == 4)
        #expect(mailer.memoryLimit == 128 << 20 && mailer.memoryKill == 256 << 20)
        #expect(mailer.memoryInterval == .milliseconds(500))
        #expect(mailer.maxLifetime == .seconds(3240)...(.seconds(3600)))
        #expect(mailer.stopSignal == SIGQUIT && mailer.stopTimeout == .seconds(20))
        #expect(mailer.umask == 0o27)
        #expect(mailer.environment == [EnvironmentVariable(name: "APP_ENV", value: "prod"), EnvironmentVariable(name: "MAIL_HOST", value: "smtp.example.org")])
        #expect(!mailer.clearEnvironment && mailer.passEnvironment == ["AWS_REGION", "TERM"])
        #expect(mailer.limits.contains(LimitSetting(name: "nofile", soft: 1024, hard: 4096)))
        #expect(mailer.limits.contains(LimitSetting(name: "core", soft: .max, hard: .max)))
        #expect(mailer.limits.contains(LimitSetting(name: "as", soft: 2 << 30, hard: 2 << 30)))
        #expect(mailer.logFile == "/etc/var/log/mailer.log")
        let images = try #require(config.pool(named: "images"))
        #expect(images.command == ["./resize"])
        #expect(images.directory == "/etc/solo/pool.d")
        #expect(images.maxJobs == 450...500, "a single value spreads a tenth below it")
    }

    @Test func renderedConfigLoadsBackTheSame() throws {
        let text = """
            [global]
            lock_port = 4100
            metrics_listen = 9464
            [mailer]
            command = php "my worker.php" --queue=mail
            workers = 3
            max_jobs = 5-8
            memory_limit = 100M
            max_lifetime = 50m-1h
            environment = A="x, y", B=2
            rlimit_nofile = 1024:4096
            """
        let files = ["/etc/solo/solo.conf": text]
        let first = try memoryLoader(files).load("solo.conf").config
        let rendered = ConfigRender.render(first)
        let second = try memoryLoader(["/etc/solo/solo.conf": rendered]).load("solo.conf").config
        #expect(second.global == first.global)
        #expect(second.pools.map(\.command) == first.pools.map(\.command))
        var a = first.pools[0], b = second.pools[0]
        a.line = 0; b.line = 0
        #expect(a == b)
    }

    @Test func theClientSocketIsAPathOfItsOwnForAGroupThatExists() throws {
        let config = try memoryLoader(["/etc/solo/solo.conf": "[global]\nclient_socket = /run/solo/client.sock\nclient_group = www-data\n[a]\ncommand = x\n"])
            .load("solo.conf").config
        #expect(config.global.clientSocket == "/run/solo/client.sock" && config.global.clientGroup == "www-data")
        #expect(loadErrors(["/etc/solo/solo.conf": "[global]\nclient_socket = run/client.sock\n[a]\ncommand = x\n"])
                == ["/etc/solo/solo.conf:2: client_socket: \"run/client.sock\" is not an absolute path (write one, like /run/solo/client.sock)"])
        #expect(loadErrors(["/etc/solo/solo.conf": "[global]\nstate_dir = /var/lib/solo\nclient_socket = /var/lib/solo/run/solo.sock\n[a]\ncommand = x\n"])
                == ["/etc/solo/solo.conf:3: client_socket: /var/lib/solo/run/solo.sock is the control socket's path; choose another, like /run/solo/client.sock"])
        #expect(loadErrors(["/etc/solo/solo.conf": "[global]\nclient_socket = /run/php/fpm.sock\n[php]\nfastcgi = unix:/run/php/fpm.sock\nscript = /srv/job.php\n"])
                == ["/etc/solo/solo.conf:2: client_socket: /run/php/fpm.sock is where pool php's PHP-FPM listens (fastcgi = unix:/run/php/fpm.sock); choose another, like /run/solo/client.sock"])
        var loader = memoryLoader(["/etc/solo/solo.conf": "[global]\nclient_socket = /run/solo/client.sock\nclient_group = no-such-group-x\n[a]\ncommand = /bin/sh\n"])
        loader.checkMachine = true
        do {
            _ = try loader.load("solo.conf")
            Issue.record("an unknown group loads")
        } catch {
            #expect(error.issues.map(\.description).contains(
                "/etc/solo/solo.conf:3: client_group: no group no-such-group-x on this machine (create it with groupadd no-such-group-x, or name one that exists, like www-data)"))
        }
        let warned = try memoryLoader(["/etc/solo/solo.conf": "[global]\nclient_group = www-data\n[a]\ncommand = x\n"]).load("solo.conf").warnings
        #expect(warned.map(\.description) == ["/etc/solo/solo.conf:2: warning: client_group: has no effect without client_socket (add client_socket = /run/solo/client.sock)"])
    }

    @Test func unknownKeysSuggestTheNearestOne() {
        let errors = loadErrors(["/etc/solo/solo.conf": "[mailer]\ncommand = x\nmax_job = 5\nmemory_limt = 1G\nfrobnicate = 1\n"])
        #expect(errors == [
            "/etc/solo/solo.conf:3: max_job: unknown key (did you mean max_jobs?)",
            "/etc/solo/solo.conf:4: memory_limt: unknown key (did you mean memory_limit?)",
            "/etc/solo/solo.conf:5: frobnicate: unknown key",
        ])
    }

    @Test func keysInTheWrongSectionSayWhereTheyBelong() {
        let errors = loadErrors(["/etc/solo/solo.conf": "[global]\nworkers = 3\n[mailer]\ncommand = x\nlock_port = 1\n"])
        #expect(errors.count == 2)
        #expect(errors[0].hasPrefix("/etc/solo/solo.conf:2: workers: unknown key: it is a pool key"))
        #expect(errors[1].hasPrefix("/etc/solo/solo.conf:5: lock_port: unknown key: it is a [global] key"))
    }

    @Test func badValuesNameFileLineKeyAndFix() {
        let errors = loadErrors(["/etc/solo/solo.conf": """
            [mailer]
            command = x
            memory_limit = 12X
            stop_timeout = soon
            workers = many
            stop_signal = TREM
            max_jobs = 2000-1000
            umask = 999
            rlimit_nofile = 10:5
            lock_addr = 1
            """])
        #expect(errors[0] == "/etc/solo/solo.conf:3: memory_limit: \"12X\" is not a size (try 128M, 1G or 512K)")
        #expect(errors[1] == "/etc/solo/solo.conf:4: stop_timeout: \"soon\" is not a duration (try 30s, 500ms, 5m or 1h)")
        #expect(errors[2] == "/etc/solo/solo.conf:5: workers: \"many\" is not a whole number (try 4, or 2-16)")
        #expect(errors[3] == "/etc/solo/solo.conf:6: stop_signal: \"TREM\" is not a signal (try TERM, INT, QUIT, HUP or USR1)")
        #expect(errors[4] == "/etc/solo/solo.conf:7: max_jobs: \"2000-1000\" is backwards (write 1000-2000)")
        #expect(errors[5].hasPrefix("/etc/solo/solo.conf:8: umask:"))
        #expect(errors[6] == "/etc/solo/solo.conf:9: rlimit_nofile: the soft limit 10 is above the hard limit 5")
        #expect(errors[7].hasPrefix("/etc/solo/solo.conf:10: lock_addr: unknown key: it is a [global] key"))
        #expect(errors.count == 8)
    }

    @Test func crossKeyChecks() {
        let errors = loadErrors(["/etc/solo/solo.conf": """
            [mailer]
            memory_limit = 256M
            memory_kill = 128M
            backoff_min = 10s
            backoff_max = 1s
            """])
        #expect(errors.contains("/etc/solo/solo.conf:1: pool [mailer] has no command (add command = /path/to/worker)"))
        #expect(errors.contains("/etc/solo/solo.conf:3: memory_kill: 128M is below memory_limit 256M (the hard limit must be the higher one)"))
        #expect(errors.contains("/etc/solo/solo.conf:5: backoff_max: 1s is below backoff_min 10s"))
        #expect(errors.contains { $0.hasPrefix("/etc/solo/solo.conf:1: backoff_reset: 10s") } == false)
        let spin = loadErrors(["/etc/solo/solo.conf": "[a]\ncommand = x\nbackoff_min = 5ms\nbackoff_reset = 1ms\n"])
        #expect(spin.contains { $0.hasPrefix("/etc/solo/solo.conf:3: backoff_min: 5ms is too short") })
        #expect(spin.contains { $0.hasPrefix("/etc/solo/solo.conf:4: backoff_reset: 1ms is below backoff_min") })
    }

    @Test func aRangeOfWorkersScalesWithTheQueue() throws {
        let config = try memoryLoader(["/etc/solo/solo.conf": "[a]\ncommand = x\nworkers = 2-16\nscale_cooldown = 1m\n[b]\ncommand = x\nworkers = 3\n"])
            .load("solo.conf").config
        let a = try #require(config.pool(named: "a")), b = try #require(config.pool(named: "b"))
        #expect(a.workers == 2 && a.maxWorkers == 16 && a.scalingRange == 2...16 && a.scaleCooldown == .seconds(60))
        #expect(b.workers == 3 && b.maxWorkers == nil && b.scalingRange == nil && b.scaleCooldown == .seconds(30))
        #expect(ConfigRender.render(config).contains("workers       = 2-16\n"))
        let errors = loadErrors(["/etc/solo/solo.conf": """
            [a]
            command = x
            queue = none
            workers = 1-4
            [b]
            command = x
            workers = 8-2
            [c]
            command = x
            workers = 0-0
            scale_cooldown = 10s
            [d]
            command = x
            workers = 2-4
            scale_cooldown = 10ms
            """])
        #expect(errors.contains("/etc/solo/solo.conf:4: workers: a range scales with the depth of solo's queue, and this pool has queue = none (write one number, like 4, or give the pool a queue)"))
        #expect(errors.contains("/etc/solo/solo.conf:7: workers: \"8-2\" is backwards (write 2-8)"))
        #expect(errors.contains("/etc/solo/solo.conf:10: workers: \"0-0\" never runs a worker (a range needs a maximum of 1 or more, like 0-4)"))
        #expect(errors.contains("/etc/solo/solo.conf:15: scale_cooldown: \"10ms\" is too short (1s at least; 30s is usual)"))
        let warnings = try memoryLoader(["/etc/solo/solo.conf": "[a]\ncommand = x\nworkers = 2\nscale_cooldown = 10s\n"]).load("solo.conf").warnings
        #expect(warnings.map(\.description) == ["/etc/solo/solo.conf:4: warning: scale_cooldown: has no effect with a fixed number of workers (write workers = MIN-MAX to scale)"])
    }

    @Test func prefetchIsZeroOrOneAndOnlyForFeedMode() throws {
        let loaded = try memoryLoader(["/etc/solo/solo.conf": "[a]\ncommand = x\nprefetch = 1\n[b]\ncommand = x\n"]).load("solo.conf")
        #expect(loaded.config.pool(named: "a")?.prefetch == 1 && loaded.config.pool(named: "b")?.prefetch == 0)
        let errors = loadErrors(["/etc/solo/solo.conf": "[a]\ncommand = x\nprefetch = 2\n"])
        #expect(errors == ["/etc/solo/solo.conf:3: prefetch: 2 is out of range (0 to 1)"])
        let warnings = try memoryLoader(["/etc/solo/solo.conf": "[a]\ncommand = x\nqueue = none\nprefetch = 1\n"]).load("solo.conf").warnings
        #expect(warnings.map(\.description) == ["/etc/solo/solo.conf:4: warning: prefetch: has no effect with queue = none (the workers poll their own queue)"])
    }

    @Test func workersSayWhatTheyTake() {
        #expect(loadErrors(["/etc/solo/solo.conf": "[a]\ncommand = x\nworkers = -1\n"]) == [
            "/etc/solo/solo.conf:3: workers: \"-1\" is not a number of workers (write a count from 0 to 4096, like 4, or a range MIN-MAX, like 2-16)",
        ])
        #expect(loadErrors(["/etc/solo/solo.conf": "[a]\ncommand = x\nretry_delay = 1s-\n"]) == [
            "/etc/solo/solo.conf:3: retry_delay: \"1s-\" is not a range (write LOW-HIGH, like 1s-10m)",
        ])
    }

    @Test func zeroWorkersOnAQueueIsAWarning() throws {
        let warnings = try memoryLoader(["/etc/solo/solo.conf": "[mailer]\ncommand = x\nworkers = 0\n"]).load("solo.conf").warnings
        #expect(warnings.map(\.description) == [
            "/etc/solo/solo.conf:3: warning: workers: 0 runs no worker, so the jobs queued for \"mailer\" wait until it does (write workers = 1 or more, or a range like 0-4 to start workers when jobs arrive)",
        ])
        for quiet in ["workers = 0\nqueue = none", "workers = 0-4", "workers = 1"] {
            #expect(try memoryLoader(["/etc/solo/solo.conf": "[mailer]\ncommand = x\n\(quiet)\n"]).load("solo.conf").warnings.isEmpty, "\(quiet)")
        }
    }

    @Test func duplicatesAreRefused() {
        let errors = loadErrors([
            "/etc/solo/solo.conf": "[global]\ninclude = pool.d/*.conf\n[mailer]\ncommand = x\ncommand = y\n[global]\n",
            "/etc/solo/pool.d/a.conf": "[mailer]\ncommand = z\n",
        ])
        #expect(errors.contains("/etc/solo/solo.conf:5: command: is set twice (first at line 4); keep one"))
        #expect(errors.contains("/etc/solo/solo.conf:6: a second [global] section (the first is at line 1; merge them)"))
        #expect(errors.contains("/etc/solo/pool.d/a.conf:1: pool [mailer] is defined twice (first at /etc/solo/solo.conf:3); rename one"))
    }

    @Test func includes() throws {
        let errors = loadErrors([
            "/etc/solo/solo.conf": "[global]\ninclude = pool.d/*.conf\n",
            "/etc/solo/pool.d/a.conf": "[global]\nlock_port = 1\n[a]\ncommand = x\n",
        ])
        #expect(errors == ["/etc/solo/pool.d/a.conf:1: [global] belongs in the main file /etc/solo/solo.conf, not in an included one"])

        let loaded = try memoryLoader(["/etc/solo/solo.conf": "[global]\nlock_port = 3800\ninclude = missing/*.conf, pool.d/*.conf\n",
                                       "/etc/solo/pool.d/b.conf": "[b]\ncommand = y\n",
                                       "/etc/solo/pool.d/a.conf": "[a]\ncommand = x\n"]).load("solo.conf")
        #expect(loaded.config.pools.map(\.name) == ["a", "b"], "includes load in sorted order")
        #expect(loaded.warnings.map(\.description) == ["/etc/solo/solo.conf:3: warning: include: \"/etc/solo/missing/*.conf\" matches no file"],
                "at the include's own line, not at [global]'s")
    }

    @Test func anIncludeDirectoryThatCannotBeReadIsAnError() {
        var loader = memoryLoader(["/etc/solo/solo.conf": "[global]\ninclude = pool.d/*.conf\n[a]\ncommand = x\n"])
        loader.glob = { (pattern) throws(UnreadableDirectory) in throw UnreadableDirectory(path: "/etc/solo/pool.d", error: .permissionDenied) }
        #expect(throws: ConfigErrors.self) { try loader.load("solo.conf") }
        do { _ = try loader.load("solo.conf") } catch {
            #expect(error.description == "/etc/solo/solo.conf:2: include: \"/etc/solo/pool.d/*.conf\" cannot be searched: /etc/solo/pool.d: Permission denied (make the directory readable by the user solo runs as)")
        }
    }

    /// Real files: a FIFO would block the open for ever, and a huge file would be read whole.
    @Test func onlyRegularFilesOfAtMost1MAreRead() throws {
        let scratch = ScratchFile()
        let main = scratch.directory + "/solo.conf"
        #expect(FileManager.default.createFile(atPath: main, contents: Data("[global]\ninclude = pool.d/*.conf\n[a]\ncommand = x\n".utf8)))
        try FileManager.default.createDirectory(atPath: scratch.directory + "/pool.d", withIntermediateDirectories: false)
        #expect(mkfifo(scratch.directory + "/pool.d/fifo.conf", 0o644) == 0)
        #expect(FileManager.default.createFile(atPath: scratch.directory + "/pool.d/huge.conf", contents: Data(count: (1 << 20) + 1)))
        try FileManager.default.createDirectory(atPath: scratch.directory + "/pool.d/dir.conf", withIntermediateDirectories: false)
        var loader = ConfigLoader()
        loader.checkMachine = false
        do {
            _ = try loader.load(main)
            Issue.record("loaded a FIFO, a directory and a file over 1M")
        } catch {
            #expect(error.issues.map(\.description) == [
                "\(scratch.directory)/pool.d/dir.conf: cannot read the included file: not a regular file but a directory (make the include pattern match config files only)",
                "\(scratch.directory)/pool.d/fifo.conf: cannot read the included file: not a regular file but a FIFO (make the include pattern match config files only)",
                "\(scratch.directory)/pool.d/huge.conf: cannot read the included file: too large, over 1M (make the include pattern match config files only)",
            ])
        }
        #expect(throws: ReadError.notRegularFile(kind: "a FIFO")) { try Files.read(scratch.directory + "/pool.d/fifo.conf") }
    }

    @Test func poolNamesAndEmptyConfigs() {
        #expect(loadErrors(["/etc/solo/solo.conf": "[global]\n"]) == ["/etc/solo/solo.conf: no pool is defined (add a section such as [mailer] with command = ...)"])
        #expect(loadErrors(["/etc/solo/solo.conf": "[bad name]\ncommand = x\n"]).first?.contains("may hold only letters") == true)
        #expect(loadErrors(["/etc/solo/solo.conf": "[all]\ncommand = x\n"]).first?.contains("pool name [all] is taken") == true)
        #expect(loadErrors([:]).first?.hasPrefix("/etc/solo/solo.conf: cannot read the config file:") == true)
    }

    @Test func shellSyntaxIsAWarning() throws {
        let loaded = try memoryLoader(["/etc/solo/solo.conf": "[a]\ncommand = php w.php > /tmp/log\n"]).load("solo.conf")
        #expect(loaded.warnings.map(\.description) == [
            "/etc/solo/solo.conf:2: warning: command: \">\" is passed to the program as it is: no shell runs (write sh -c '...' for shell syntax)",
        ])
    }

    @Test func jobLimitsAndLifetimes() throws {
        func pool(_ lines: String) throws -> PoolConfig {
            try memoryLoader(["/etc/solo/solo.conf": "[a]\ncommand = x\n" + lines]).load("solo.conf").config.pools[0]
        }
        #expect(try pool("max_jobs = 5-8").maxJobs == 5...8)
        #expect(try pool("max_jobs = 100-100").maxJobs == 100...100)
        #expect(try pool("max_jobs = 0").maxJobs == nil)
        #expect(try pool("max_jobs = none").maxJobs == nil)
        #expect(try pool("max_lifetime = 10m").maxLifetime == .seconds(540)...(.seconds(600)))
        #expect(try pool("max_lifetime = none").maxLifetime == nil)
        #expect(throws: ConfigErrors.self) { try pool("max_jobs = 0-5") }
        #expect(throws: ConfigErrors.self) { try pool("max_lifetime = 100ms") }
        #expect(try pool("workers = 2-16").scalingRange == 2...16)
    }
}
