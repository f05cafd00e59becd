import Testing
@testable import SoloKit

@Suite struct ClassicOptionsTests {
    @Test func parsesTheOriginalsSwitches() throws {
        let options = try ClassicOptions.parse(["-port=3801", "-verbose", "-timeout=60", "-sleep=0.5", "php", "-q", "worker.php"])
        #expect(options.port == 3801 && options.verbose && options.timeout == 60)
        #expect(options.sleep == .milliseconds(500))
        #expect(options.command == ["php", "-q", "worker.php"], "switches end at the command")
        #expect(try ClassicOptions.parse(["--port=1", "--silent", "--", "-x"]).command == ["-x"])
        #expect(try ClassicOptions.parse(["-port=1", "-addr=127.0.0.1", "true"]).address == 0x7f00_0001)
        #expect(try ClassicOptions.parse(["-noport", "-timeout=5", "true"]).port == nil)
    }

    @Test func refusesWhatTheOriginalGotWrongSilently() {
        #expect(throws: UsageError("-port needs a value: write -port=VALUE (no space)")) { try ClassicOptions.parse(["-port", "3801", "x"]) }
        #expect(throws: UsageError("-port=80x is not a port number (1 to 65535)")) { try ClassicOptions.parse(["-port=80x", "x"]) }
        #expect(throws: UsageError.self) { try ClassicOptions.parse(["-port=0", "x"]) }
        #expect(throws: UsageError.self) { try ClassicOptions.parse(["-port=70000", "x"]) }
        #expect(throws: UsageError.self) { try ClassicOptions.parse(["-port=1", "-addr=10.0.0.1", "x"]) }
        #expect(throws: UsageError.self) { try ClassicOptions.parse(["-verbose", "x"]) }
        #expect(throws: UsageError.self) { try ClassicOptions.parse(["-port=1", "-verbose=1", "x"]) }
        #expect(throws: UsageError("-timeout=99999999999 is not a number of seconds from 1 to 4294967295 (like -timeout=3600)")) {
            try ClassicOptions.parse(["-port=1", "-timeout=99999999999", "x"])
        }
        do {
            _ = try ClassicOptions.parse(["-prot=1", "x"])
            Issue.record("accepted -prot")
        } catch {
            #expect(error.message.hasPrefix("unknown switch -prot=1 (did you mean -port?)"))
        }
    }

    @Test func recognisesTheClassicForm() {
        #expect(ClassicOptions.isClassic(["-port=1", "x"]))
        #expect(ClassicOptions.isClassic(["--noport", "x"]))
        #expect(!ClassicOptions.isClassic(["run", "x"]))
        #expect(ClassicOptions.isClassic(["-prot=1", "x"]), "a mistyped switch still gets the classic usage")
        #expect(!ClassicOptions.isClassic(["--help"]))
        #expect(!ClassicOptions.isClassic([]))
    }
}

@Suite struct ArgumentsTests {
    @Test func optionsAndOperands() throws {
        let parsed = try Arguments.parse(["--config", "a.conf", "--notify-fd=3"], command: "run", valued: ["config", "notify-fd"], flags: ["json"])
        #expect(parsed.values == ["config": "a.conf", "notify-fd": "3"])
        #expect(try parsed.configPath(command: "run") == "a.conf")
        #expect(try Arguments.parse(["b.conf"], command: "run", valued: ["config"], flags: []).configPath(command: "run") == "b.conf")
    }

    @Test func mistakesAreRefused() {
        #expect(throws: UsageError("solo run: unknown option --confg (did you mean --config?)")) {
            try Arguments.parse(["--confg", "x"], command: "run", valued: ["config"], flags: [])
        }
        #expect(throws: UsageError.self) { try Arguments.parse(["--config"], command: "run", valued: ["config"], flags: []) }
        #expect(throws: UsageError.self) { try Arguments.parse(["-x"], command: "run", valued: ["config"], flags: []) }
        #expect(throws: UsageError.self) { try Arguments.parse(["a", "b"], command: "run", valued: [], flags: []).configPath(command: "run") }
    }
}

@Suite struct ActionOptionsTests {
    let table = ActionOptions(command: "queue", valued: ["id", "state"], defaultAction: "stats", actions: [
        .init("stats", takes: ["json"]),
        .init("purge", takes: ["id", "state", "yes"], needsOneOf: ["id", "state"], exclusive: [("id", "state")]),
    ])

    @Test func anActionTakesOnlyItsOwnOptions() throws {
        #expect(try table.parse([]).action.name == "stats")
        let purge = try table.parse(["--yes", "purge", "--id=14"])
        #expect(purge.action.name == "purge" && purge.arguments.values == ["id": "14"] && purge.arguments.flags == ["yes"])
        #expect(throws: UsageError("solo queue stats: --id does not apply to stats (it takes --json)")) { try table.parse(["--id", "3"]) }
        #expect(throws: UsageError("solo queue purge: --json does not apply to purge (it takes --id, --state, --yes)")) {
            try table.parse(["purge", "--json", "--id", "1"])
        }
        #expect(throws: UsageError("solo queue purge: give --id or --state, not both")) { try table.parse(["purge", "--id", "1", "--state", "done"]) }
        #expect(throws: UsageError("solo queue purge: it needs --id or --state")) { try table.parse(["purge", "--yes"]) }
        #expect(throws: UsageError("solo queue: unknown action purj (did you mean purge? actions: stats, purge)")) { try table.parse(["purj"]) }
        #expect(throws: UsageError.self) { try table.parse(["stats", "purge"]) }
        #expect(throws: UsageError("solo queue: unknown option --all")) { try table.parse(["--all"]) }
    }
}
