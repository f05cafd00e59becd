import Glibc
import Testing
@testable import SoloKit

@Suite struct ProcFSTests {
    @Test func statFieldsAreCountedFromTheLastParenthesis() throws {
        let line = "4242 (my (odd) worker) S 1 4242 4242 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 123456 2301952 220 18446744073709551615"
        let stat = try #require(ProcFS.parseStat(line))
        #expect(stat.state == "S" && stat.parent == 1 && stat.group == 4242 && stat.session == 4242 && stat.startTime == 123456)
        let moved = "77 (php) R 4242 77 4242 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 99 2301952 220 0"
        let other = try #require(ProcFS.parseStat(moved))
        #expect(other.parent == 4242 && other.group == 77 && other.session == 4242, "group and session are fields 5 and 6")
        #expect(ProcFS.parseStat("garbage") == nil)
        #expect(ProcFS.parseStat("1 (x) S 1 2") == nil, "too short")
    }

    @Test func readsThisProcess() throws {
        let stat = try #require(ProcFS.stat(of: getpid()))
        #expect(stat.parent == getppid())
        #expect((ProcFS.residentBytes(of: getpid()) ?? 0) > 1 << 20)
        let reader = ResidentMemoryReader(pid: getpid())
        #expect((reader.residentBytes() ?? 0) > 1 << 20)
    }
}
