import Testing
@testable import SoloKit

/// Where a root supervisor may open a log file: the policy, without files.
@Suite struct LogPathTests {
    let trust = LogPath.Trust(users: [0], groups: [0])

    func directory(owner: UInt32 = 0, group: UInt32 = 0, mode: UInt32) -> Files.Status {
        Files.Status(kind: .directory, owner: owner, group: group, mode: mode)
    }

    func problem(_ status: Files.Status, holdsTheFile: Bool) -> String? {
        LogPath.problem(with: status, at: "/d", holdsTheFile: holdsTheFile, trust: trust)
    }

    @Test func walksEveryNameOnTheWay() {
        #expect(LogPath.names(of: "/var/log/solo/x.log") == ["var", "log", "solo", "x.log"])
        #expect(LogPath.names(of: "/x.log") == ["x.log"])
        #expect(LogPath.names(of: "/a/./b//x.log") == ["a", "b", "x.log"])
    }

    @Test func aLinkOnTheWaySaysWhichAndToWriteTheRealPath() {
        #expect(LogPath.linkOnTheWay("/tmp/lt/logs", isTheFile: false, realPath: "/srv/logs")
            .hasPrefix("/tmp/lt/logs is a symbolic link; solo reaches a log file only through real directories"))
        #expect(LogPath.linkOnTheWay("/tmp/lt/logs", isTheFile: false, realPath: "/srv/logs")
            .hasSuffix("write the real path (/srv/logs) in log_file or log_dir"))
        #expect(LogPath.linkOnTheWay("/var/run", isTheFile: false, realPath: nil).hasSuffix("write the real path in log_file or log_dir"))
        #expect(LogPath.linkOnTheWay("x.log", isTheFile: true, realPath: nil)
            == "x.log is a symbolic link; solo opens a log file only where it is, never through a link (remove the link)")
    }

    @Test func directoriesOfRootOrSoloWritableByNoOneElseAreSafe() {
        #expect(problem(directory(mode: 0o755), holdsTheFile: true) == nil)
        #expect(problem(directory(mode: 0o775), holdsTheFile: true) == nil, "group root")
        #expect(problem(directory(group: 4, mode: 0o775), holdsTheFile: false) == nil, "a group may write a directory above (/var/log on Ubuntu)")
        #expect(problem(directory(mode: 0o1777), holdsTheFile: false) == nil, "sticky above: /tmp")
        #expect(LogPath.problem(with: directory(owner: 1000, mode: 0o700), at: "/d", holdsTheFile: true,
                                trust: LogPath.Trust(users: [0, 1000], groups: [0])) == nil, "solo's own user")
    }

    @Test func directoriesOthersMayChangeAreNot() {
        #expect(problem(directory(owner: 33, mode: 0o755), holdsTheFile: true)?.hasPrefix("/d is a directory of uid 33, who could redirect the log") == true)
        #expect(problem(directory(owner: 33, mode: 0o755), holdsTheFile: false) != nil, "above too: it could be renamed away")
        #expect(problem(directory(mode: 0o777), holdsTheFile: true)?.hasPrefix("/d is writable by every user") == true)
        #expect(problem(directory(mode: 0o777), holdsTheFile: false) != nil, "not sticky")
        #expect(problem(directory(mode: 0o1777), holdsTheFile: true) != nil, "sticky, but anyone may put a link where the log is not yet")
        #expect(problem(directory(group: 4, mode: 0o775), holdsTheFile: true)?.hasPrefix("/d is writable by group 4") == true)
        #expect(problem(Files.Status(kind: .link, owner: 0, group: 0, mode: 0o777), holdsTheFile: false) == "/d is not a directory",
                "even root's link: what it leads to may change")
        #expect(problem(Files.Status(kind: .regular, owner: 0, group: 0, mode: 0o644), holdsTheFile: true) == "/d is not a directory")
        #expect(problem(directory(owner: 33, mode: 0o755), holdsTheFile: true)?.hasSuffix("or put the log elsewhere") == true, "says the fix")
    }

    @Test func onlyAPlainFileOfOneNameOrADeviceIsWritten() {
        #expect(LogPath.problem(withFile: Files.Status(kind: .regular, owner: 33, group: 33, mode: 0o644), at: "x.log") == nil)
        #expect(LogPath.problem(withFile: Files.Status(kind: .characterDevice, owner: 0, group: 0, mode: 0o666), at: "/dev/null") == nil)
        #expect(LogPath.problem(withFile: Files.Status(kind: .regular, owner: 0, group: 0, mode: 0o600, links: 2), at: "x.log")?
            .hasPrefix("x.log has 2 names") == true)
        #expect(LogPath.problem(withFile: Files.Status(kind: .other, owner: 0, group: 0, mode: 0o600), at: "x.log") == "x.log is not a plain file")
    }
}
