import SoloKit

/// `solo dashboard [FILE] [--new-token]`: the URL that opens the dashboard, with its token
/// (made here if the supervisor has not made it yet); `--new-token` replaces the token first,
/// and every page opened with the old one stops working at its next request.
func dashboardCommand(_ rest: [String]) throws -> Int32 {
    let arguments = try Arguments.parse(rest, command: "dashboard", valued: ["config"], flags: ["new-token"], short: [:])
    guard let target = ControlTarget.load(try arguments.configPath(command: "dashboard")) else { return CronCheck.exitConfig }
    guard let address = target.global.dashboardListen else {
        printError("solo dashboard: \(target.file) serves no dashboard: add dashboard_listen = 9465 to [global] and run solo reload")
        return 1
    }
    let tokenPath = DashboardToken.path(target.global)
    let token: String
    do {
        token = arguments.flags.contains("new-token") ? try DashboardToken.renew(tokenPath) : try DashboardToken.readOrCreate(tokenPath)
    } catch {
        printError("solo dashboard: cannot write \(tokenPath): \(error) (run as the user solo runs as, or root)")
        return 1
    }
    print(DashboardHTTP.url(address, token: token))
    return 0
}
