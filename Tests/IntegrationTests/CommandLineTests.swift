import Foundation
import Glibc
import Testing

/// Bad input at the command line and in config files: a clear message, a distinct status,
/// and nothing started.
@Suite struct CommandLineTests {
    @Test func aBrokenConfigIsRefusedByEveryCommand() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("pool.d/mail.conf", "[mail]\ncommand = php worker.php\nmemory_limit = 12X\nmax_job = 5\n")
        scratch.config(port: port, global: "include = pool.d/*.conf", "")
        let expected = [
            "\(scratch.file("pool.d/mail.conf")):3: memory_limit: \"12X\" is not a size (try 128M, 1G or 512K)",
            "\(scratch.file("pool.d/mail.conf")):4: max_job: unknown key (did you mean max_jobs?)",
        ]
        for command in [["run"], ["check"], ["config", "check"]] {
            let result = try runSolo(command + ["solo.conf"], in: scratch)
            #expect(result.status == 78, "solo \(command.joined(separator: " "))")
            let lines = result.stderr.split(separator: "\n").map(String.init)
            #expect(Array(lines.prefix(2)) == expected)
            #expect(result.stderr.contains("2 errors in the configuration; nothing was started"))
            #expect(!isHeld(port))
        }
    }

    @Test func configCheckPrintsTheEffectiveConfiguration() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.write("w.sh", "#!/bin/sh\n", executable: true)
        scratch.config(port: port, "[mail]\ncommand = ./w.sh --queue 'a b'\nmax_jobs = 500\n")
        let result = try runSolo(["config", "check", "--config", "solo.conf"], in: scratch)
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty)
        #expect(result.stdout.contains("lock_port     = \(port)\n"))
        #expect(result.stdout.contains("[mail]"))
        #expect(result.stdout.contains("command       = ./w.sh --queue 'a b'\n"))
        #expect(result.stdout.contains("max_jobs      = 450-500\n"))
        #expect(result.stdout.contains("stop_timeout  = 30s\n"))
        #expect(result.stdout.contains("directory     = \(scratch.path)\n"))
    }

    @Test func warningsDoNotStopAStart() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[mail]\ncommand = ./not-there > /tmp/x\n")
        let result = try runSolo(["config", "check", "solo.conf"], in: scratch)
        #expect(result.status == 0)
        #expect(result.stderr.contains("solo.conf:6: warning: command: \">\" is passed to the program as it is"))
        #expect(result.stderr.contains("./not-there is not an executable file here"))
    }

    @Test func unknownCommandsAndOptionsAreUsageErrors() throws {
        let scratch = Scratch()
        let typo = try runSolo(["chek"], in: scratch)
        #expect(typo.status == 2 && typo.stderr == "solo: unknown command chek (did you mean solo check?); try solo help\n")
        let option = try runSolo(["run", "--confg", "x"], in: scratch)
        #expect(option.status == 2 && option.stderr.contains("unknown option --confg (did you mean --config?)"))
        let missing = try runSolo(["run", "nowhere.conf"], in: scratch)
        #expect(missing.status == 78 && missing.stderr.contains("nowhere.conf: cannot read the config file: No such file or directory"))
        let help = try runSolo(["help"], in: scratch)
        #expect(help.status == 0 && help.stdout.contains("solo check [FILE]"))
    }

    @Test func anUnknownUserIsAConfigError() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[mail]\ncommand = /bin/true\nuser = no-such-user-xyz\n")
        let result = try runSolo(["run", "solo.conf"], in: scratch)
        #expect(result.status == 78)
        #expect(result.stderr.contains("solo.conf:7: user: no user \"no-such-user-xyz\" on this machine"))
    }

    @Test(.enabled(if: getuid() != 0, "as root the switch is allowed (SupervisorTests covers it)"))
    func aUserSwitchWithoutRootIsRefusedAtStart() throws {
        let scratch = Scratch()
        let port = try freePort()
        scratch.config(port: port, "[mail]\ncommand = /bin/true\nuser = root\n")
        let result = try runSolo(["run", "solo.conf"], in: scratch)
        #expect(result.status == 1 && result.stderr.contains("needs solo to run as root"))
    }
}
