@testable import SoloKit
import Testing

/// What the client socket relies on of a store (FeedStore.push and jobs): a push names each job
/// (or the holder of its unique key), and jobs are found by id and by group with their outcomes.
extension StoreContractTests {
    @Test(arguments: StoreKind.allCases)
    func aPushNamesEachJobAndItsDuplicates(_ kind: StoreKind) throws {
        let s = try Store(kind)
        var template = NewJob(payload: [], priority: 3, maxAttempts: 2, group: "fan")
        let plain = try s.answer("push") { s.store.push(queue: Store.queue, template: template, [(Array("a".utf8), nil), (Array("b".utf8), nil)], $0) }
        #expect(plain == [PushedJob(id: 1, duplicate: false), PushedJob(id: 2, duplicate: false)])
        template.group = nil
        let keyed = try s.answer("keyed push") {
            s.store.push(queue: Store.queue, template: template, [(Array("c".utf8), "k1"), (Array("d".utf8), "k1"), (Array("e".utf8), nil)], $0)
        }
        #expect(keyed == [PushedJob(id: 3, duplicate: false), PushedJob(id: 3, duplicate: true), PushedJob(id: 4, duplicate: false)])
        let jobs = try s.reserve(10).jobs
        #expect(jobs.map(\.payload) == ["a", "b", "c", "e"])
        #expect(jobs.allSatisfy { $0.priority == 3 && $0.maxAttempts == 2 })
        #expect(jobs.map(\.group) == ["fan", "fan", nil, nil])
    }

    @Test(arguments: StoreKind.allCases)
    func jobsAreFoundByIdAndByGroupWithTheirOutcomes(_ kind: StoreKind) throws {
        let s = try Store(kind)
        try s.push(["a", "b"], group: "fan")
        try s.push(["c"])
        try s.push(["elsewhere"], group: "fan", queue: Store.other)
        let ids = try s.reserve(3).jobs.map(\.id)
        try s.commit(ids.map { JobOutcome.started(id: $0) } + [.done(id: ids[0], result: "r1"), .dead(id: ids[2], error: "bad")])
        let found = try s.answer("jobs by id") { s.store.jobs(queue: Store.queue, ids: [ids[2], ids[0], 999], $0) }.sorted { $0.id < $1.id }
        #expect(found.map(\.id) == [ids[0], ids[2]], "those that exist")
        #expect(found.map(\.state) == ["done", "dead"] && found[0].result == "r1" && found[1].error == "bad")
        let group = try s.answer("jobs of the group") { s.store.jobs(queue: Store.queue, group: "fan", limit: 10, $0) }
        #expect(group.map(\.payload) == ["a", "b"], "only the queue's")
        #expect(group.map(\.state) == ["done", "reserved"])
        #expect(try s.answer("an unknown group") { s.store.jobs(queue: Store.queue, group: "none", limit: 10, $0) }.isEmpty)
    }
}
