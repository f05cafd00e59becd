import Testing
@testable import SoloKit

@Suite struct RecentGroupsTests {
    @Test func keepsEachPoolsGroupsOnceNewestFirstUpToTheCapacity() {
        var recent = RecentGroups(capacity: 3)
        for (group, pool) in [("a", "feed"), ("b", "feed"), ("a", "feed"), ("a", "mail"), ("c", "feed"), ("c", "feed")] { recent.note(group, pool: pool) }
        #expect(recent.newestFirst.map { "\($0.pool)/\($0.group)" } == ["feed/c", "mail/a", "feed/a"], "feed/b, the least recent, is gone")
    }
}
