import SoloKit

/// `solo schedule list [--json]`: the schedules of the running supervisor, their next and last
/// runs; `solo schedule run NAME`: push a run now (once).
func scheduleCommand(_ rest: [String]) throws -> Int32 {
    let usage = "solo schedule: list, or run NAME (solo schedule list, solo schedule run nightly)"
    guard let subcommand = rest.first, ["list", "run"].contains(subcommand) else { throw UsageError(usage) }
    let arguments = try Arguments.parse(Array(rest.dropFirst()), command: "schedule \(subcommand)", valued: ["config"],
                                        flags: subcommand == "list" ? ["json"] : [])
    let request: ControlRequest
    if subcommand == "run" {
        guard arguments.operands.count == 1 else { throw UsageError("solo schedule run: name one schedule (solo schedule run nightly)") }
        request = .runSchedule(arguments.operands[0])
    } else {
        guard arguments.operands.isEmpty else { throw UsageError("solo schedule list: no operand (it lists every schedule)") }
        request = .schedules
    }
    guard let config = ControlTarget.load(try Arguments(values: arguments.values).configPath(command: "schedule")) else {
        return CronCheck.exitConfig
    }
    switch ask(config, request) {
    case .failure(let failure):
        printError(failure.message)
        return failure.status
    case .success(let reply):
        if case .runSchedule(let name) = request {
            let job = reply["job"]?.intValue ?? 0
            let queue = reply["queue"]?.stringValue ?? ""
            print(reply["pushed"]?.boolValue == true ? "schedule \(name): pushed job \(job) to queue \(queue)"
                  : "schedule \(name): this second's run was pushed already, as job \(job)")
            return 0
        }
        if arguments.flags.contains("json") { print(reply.text); return 0 }
        print(renderSchedules(reply["schedules"]?.arrayValue ?? []))
        return 0
    }
}

/// The schedules as a table, times in each schedule's zone.
func renderSchedules(_ schedules: [JSON]) -> String {
    guard !schedules.isEmpty else { return "no schedule (add a [schedule:NAME] section; see solo.conf(5))" }
    var rows = [["NAME", "CRON", "QUEUE", "NEXT RUN", "LAST RUN", "LAST JOB"]]
    for schedule in schedules {
        let text = { (key: String) in schedule[key]?.stringValue ?? "-" }
        rows.append([text("name"), text("cron"), text("queue"), text("next_local"), text("last_local"),
                     schedule["last_job"]?.intValue.map { "\($0)" } ?? "-"])
    }
    let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
        }.joined()
    }.joined(separator: "\n")
}
