import Glibc
import SoloKit

// solo: one executable, two forms.
//   solo -port=PORT COMMAND...     the classic port-lock singleton (Perl solo compatible)
//   solo SUBCOMMAND [OPTIONS]      the supervisor: run, check, config check; the queue: push, queue, wait
// No Foundation here: the cron check must start in about a millisecond.

let arguments = Array(CommandLine.arguments.dropFirst())

if ClassicOptions.isClassic(arguments) {
    do {
        exit(ClassicSolo.run(try ClassicOptions.parse(arguments)))
    } catch {
        printError("solo: \(error)")
        exit(2)
    }
}

let command = arguments.first ?? "help"
let rest = Array(arguments.dropFirst())
do {
    switch command {
    case "run": exit(try runCommand(rest))
    case "check": exit(try checkCommand(rest))
    case "config": exit(try configCommand(rest))
    case "push": exit(try pushCommand(rest))
    case "call": exit(try callCommand(rest))
    case "queue": exit(try queueCommand(rest))
    case "wait": exit(try waitCommand(rest))
    case "status", "stop", "start", "restart", "scale", "reload": exit(try controlCommand(command, rest))
    case "logs": exit(try logsCommand(rest))
    case "dashboard": exit(try dashboardCommand(rest))
    case "schedule": exit(try scheduleCommand(rest))
    case "shutdown": exit(try shutdownCommand(rest))
    case "version", "--version", "-V": print("solo \(soloVersion)"); exit(0)
    case "help", "--help", "-h": print(helpText); exit(0)
    default:
        let known = ["run", "check", "config", "push", "call", "queue", "wait", "status", "stop", "start", "restart", "scale", "reload", "logs", "dashboard", "schedule", "shutdown", "version", "help"]
        let hint = Values.suggestion(for: command, among: known).map { " (did you mean solo \($0)?)" } ?? ""
        throw UsageError("solo: unknown command \(command)\(hint); try solo help")
    }
} catch {
    printError("\(error)")
    exit(2)
}
