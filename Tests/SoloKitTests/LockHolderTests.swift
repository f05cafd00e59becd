import Testing
@testable import SoloKit

/// Reading /proc/net/tcp{,6} to find who holds a port lock, and judging the holder.
@Suite struct LockHolderTests {
    // Lines as this (little-endian) kernel prints them: addresses are hex words of the
    // network-order bytes read in host order.
    static let tcp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0100007F:0ED8 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
           1: 0101A8C0:0ED8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0
           2: 00000000:0ED9 00000000:0000 0A 00000000:00000000 00:00000000 00000000    33        0 99 1 0000000000000000 100 0 0 10 0
           3: 0100007F:0ED8 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 20 4 30 10 -1
        """
    static let tcp6 = """
          sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0000000000000000FFFF00000100007F:0EDA 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   65534        0 7 1 0000000000000000 100 0 0 10 0
           1: 00000000000000000000000000000000:0EDB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8 1 0000000000000000 100 0 0 10 0
           2: 00000000000000000000000001000000:0EDA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9 1 0000000000000000 100 0 0 10 0
        """

    @Test func parsesIPv4AndMappedOrWildcardIPv6Lines() {
        let lines = (Self.tcp + "\n" + Self.tcp6).split(separator: "\n")
        #expect(LockHolder.parse(lines[0]) == nil, "the header")
        #expect(LockHolder.parse(lines[1]) == LockHolder.Socket(address: 0x7F00_0001, port: 3800, uid: 1000, inode: 4242))
        #expect(LockHolder.parse(lines[2])?.address == 0xC0A8_0101)
        #expect(LockHolder.parse(lines[3]) == LockHolder.Socket(address: 0, port: 3801, uid: 33, inode: 99))
        #expect(LockHolder.parse(lines[6]) == LockHolder.Socket(address: 0x7F00_0001, port: 3802, uid: 65534, inode: 7), "::ffff:127.0.0.1")
        #expect(LockHolder.parse(lines[7]) == LockHolder.Socket(address: 0, port: 3803, uid: 0, inode: 8), "::")
        #expect(LockHolder.parse(lines[8]) == nil, "::1 holds no IPv4 port")
        for bad in ["", "0: x", "   0: 0100007F:0ED8 00000000:0000 07 0:0 00:0 0 uid 0 1", "   0: 100007F:0ED8 a b c d e 0 0 1",
                    "   0: 0100007G:0ED8 a b c d e 0 0 1", "   0: 0100007F:10000 a b c d e 0 0 1"] {
            #expect(LockHolder.parse(Substring(bad)) == nil, "\(bad)")
        }
    }

    @Test func findsTheSocketsThatHoldAnAddressAndPort() {
        let tables = [Self.tcp, Self.tcp6]
        #expect(LockHolder.holders(of: 0x7F00_0001, port: 3800, tables: tables).map(\.inode) == [4242, 5],
                "bound there, and a connection from there")
        #expect(LockHolder.holders(of: 0x7F00_0001, port: 3801, tables: tables).map(\.inode) == [99], "a wildcard holds every address")
        #expect(LockHolder.holders(of: 0x7F01_0201, port: 3802, tables: tables).isEmpty, "another user's address")
        #expect(LockHolder.holders(of: 0x7F00_0001, port: 3803, tables: tables).map(\.inode) == [8])
    }

    @Test func anotherUserOrProgramIsAnErrorOurSupervisorIsNot() {
        let socket = LockHolder.Socket(address: 0x7F00_0001, port: 3800, uid: 1000, inode: 1)
        func judge(_ socket: LockHolder.Socket?, _ process: LockHolder.Process?, uid: UInt32 = 0) -> LockHolder.Verdict {
            LockHolder.judge(socket: socket, process: process, ourUID: uid, place: "port 3800 on 127.0.0.1", configFile: "/etc/solo/solo.conf")
        }
        let nc = LockHolder.Process(pid: 77, name: "nc\u{1B}]0;x", isSoloSupervisor: false)
        guard case .foreign(let message) = judge(socket, nc) else { Issue.record("another uid is foreign"); return }
        #expect(message.hasPrefix("port 3800 on 127.0.0.1 is held by uid 1000 (pid 77, nc?]0;x), not by a solo supervisor of this config"))
        #expect(message.contains("privileged lock_port") && message.contains("/etc/solo/solo.conf cannot run"))
        guard case .foreign(let unseen) = judge(socket, nil) else { Issue.record("another uid is foreign unseen too"); return }
        #expect(unseen.hasPrefix("port 3800 on 127.0.0.1 is held by uid 1000, not"))
        var mine = socket
        mine.uid = 0
        guard case .foreign(let sameUser) = judge(mine, nc) else { Issue.record("another program of ours is foreign"); return }
        #expect(sameUser.contains("(pid 77, nc?]0;x), not a solo supervisor"))
        #expect(judge(mine, LockHolder.Process(pid: 78, name: "solo", isSoloSupervisor: true)) == .ours, "one still starting")
        #expect(judge(mine, nil) == .unknown, "gone since, or not to be seen: ours only if its control socket answers")
        #expect(judge(nil, nil) == .unknown, "a bound socket in a process this user may not inspect (Yama ptrace_scope)")
        #expect(judge(socket, LockHolder.Process(pid: 78, name: "solo", isSoloSupervisor: true), uid: 1000) == .ours)
    }

    @Test func aHolderSoloCannotSeeIsSaidSoNotTakenForOurs() {
        let message = LockHolder.unidentified(place: "port 3800 on 127.0.0.1", configFile: "/etc/solo/solo.conf")
        #expect(message.hasPrefix("port 3800 on 127.0.0.1 is held by a process solo cannot identify (not this config's supervisor: "
                                  + "its control socket does not answer), so the supervisor of /etc/solo/solo.conf cannot run; "))
        #expect(message.contains("a privileged lock_port (below 1024, which only root may bind) for a root supervisor"))
    }

    @Test func aSupervisorWhoseExecutableWasUpgradedIsStillSolo() {
        #expect(LockHolder.isSameExecutable("/usr/bin/solo", "/usr/bin/solo"))
        #expect(LockHolder.isSameExecutable("/usr/bin/solo (deleted)", "/usr/bin/solo"), "replaced by a package upgrade")
        #expect(!LockHolder.isSameExecutable("/usr/bin/nc", "/usr/bin/solo"))
        #expect(!LockHolder.isSameExecutable("/usr/bin/solo-other (deleted)", "/usr/bin/solo"))
        #expect(!LockHolder.isSameExecutable(nil, "/usr/bin/solo") && !LockHolder.isSameExecutable("/usr/bin/solo", nil))
    }
}
