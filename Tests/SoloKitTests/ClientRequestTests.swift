import Testing
@testable import SoloKit

@Suite struct ClientRequestTests {
    func parse(_ text: String) throws -> ClientRequest { try ClientRequest(json: JSON.parse(text)) }

    func refusal(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch let error as ControlRequest.Invalid {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func everyRequestReadsBackFromItsJSON() throws {
        var push = ClientRequest.Push(queue: "mail", payloads: ["a", "b"])
        push.priority = -5
        push.delay = .seconds(90)
        push.maxAttempts = 3
        push.group = "import-7"
        push.limitKey = "customer:42"
        push.unique = .key("order:9")
        push.uniqueFor = .seconds(600)
        var single = ClientRequest.Push(payloads: ["{\"id\":1}"])
        single.unique = .payload
        let requests: [ClientRequest] = [
            .push(push), .push(single), .call(single, timeout: .milliseconds(1500)),
            .wait(group: "import-7", queue: nil, timeout: .seconds(30)), .wait(group: "g", queue: "mail", timeout: .zero),
            .counts(queue: nil), .counts(queue: "mail"),
        ]
        for request in requests {
            #expect(try ClientRequest(json: JSON.parse(request.json.text)) == request, "\(request.json.text)")
            #expect(try ControlRequest(json: JSON.parse(request.json.text)) == .client(request), "the control socket serves it too")
        }
    }

    @Test func defaultsAndDurations() throws {
        #expect(try parse(#"{"command":"call","payload":"x"}"#) == .call(ClientRequest.Push(payloads: ["x"]), timeout: .seconds(30)))
        #expect(try parse(#"{"command":"call","payload":"x","timeout":2.5}"#) == .call(ClientRequest.Push(payloads: ["x"]), timeout: .milliseconds(2500)))
        #expect(try parse(#"{"command":"call","payload":"x","timeout":"500ms"}"#) == .call(ClientRequest.Push(payloads: ["x"]), timeout: .milliseconds(500)))
        #expect(try parse(#"{"command":"wait","group":"g","timeout":5}"#) == .wait(group: "g", queue: nil, timeout: .seconds(5)))
        #expect(try parse(#"{"command":"push","payload":"x","delay":0}"#) == .push(ClientRequest.Push(payloads: ["x"])), "no delay is none")
        #expect(try parse(#"{"command":"counts","queue":null}"#) == .counts(queue: nil))
    }

    @Test func controlRequestsAreRefusedByName() {
        for command in ["stop", "start", "restart", "scale", "logs", "reload", "status", "shutdown", "schedules", "schedule_run"] {
            let message = refusal(#"{"command":"\#(command)","pool":"mailer","all":true}"#) ?? ""
            #expect(message.hasPrefix("\(command) is not allowed here: a client may only push, call, wait, counts"), "\(message)")
        }
        #expect(refusal(#"{"command":"frobnicate"}"#) == "unknown command frobnicate (a client may push, call, wait, counts)")
        #expect(refusal(#"{"payload":"x"}"#) == "a request needs a command")
    }

    @Test func badFieldsAreNamed() {
        let cases: [(String, String)] = [
            (#"{"command":"push"}"#, "push: needs a payload, or payloads (a list)"),
            (#"{"command":"call","payloads":["a"]}"#, "call: needs a payload"),
            (#"{"command":"call","payload":7}"#, "call: payload must be a string (one line of text)"),
            (#"{"command":"push","payloads":[]}"#, "push: payloads must be a list of 1 to 1000 strings"),
            (#"{"command":"push","payloads":["a",1]}"#, "push: payloads must be a list of 1 to 1000 strings"),
            (#"{"command":"push","payload":"x","priority":"high"}"#, "push: priority must be a whole number from -1000000 to 1000000"),
            (#"{"command":"push","payload":"x","priority":2000000}"#, "push: priority must be a whole number from -1000000 to 1000000"),
            (#"{"command":"push","payload":"x","priority":-9223372036854775808}"#, "push: priority must be a whole number from -1000000 to 1000000"),
            (#"{"command":"push","payload":"x","priority":-9.3e18}"#, "push: priority must be a whole number from -1000000 to 1000000"),
            (#"{"command":"call","payload":"x","timeout":-9223372036854775808}"#, "call: timeout must be from 0 to 1h"),
            (#"{"command":"call","payload":"x","timeout":9223372036854775807}"#, "call: timeout must be from 0 to 1h"),
            (#"{"command":"push","payload":"x","max_attempts":-9223372036854775808}"#, "push: max_attempts must be a number of 1 or more"),
            (#"{"command":"push","payload":"x","max_attempts":0}"#, "push: max_attempts must be a number of 1 or more"),
            (#"{"command":"push","payload":"x","queue":""}"#, "push: queue must be a non-empty string"),
            (#"{"command":"push","payload":"x","delay":"soon"}"#, "push: delay \"soon\" is not a duration (try 30s, 500ms, 5m or 1h)"),
            (#"{"command":"push","payload":"x","delay":-1}"#, "push: delay must be from 0 to 1h"),
            (#"{"command":"call","payload":"x","timeout":7200}"#, "call: timeout must be from 0 to 1h"),
            (#"{"command":"call","payload":"x","timeout":1e300}"#, "call: timeout must be from 0 to 1h"),
            (#"{"command":"push","payload":"x","delay":-1e19}"#, "push: delay must be from 0 to 1h"),
            (#"{"command":"call","payload":"x","timeout":true}"#, "call: timeout must be a number of seconds or a duration like \"30s\""),
            (#"{"command":"push","payload":"x","unique":"a","unique_payload":true}"#, "push: unique and unique_payload are two ways to key a job; give one"),
            (#"{"command":"push","payload":"x","unique_for":"1m"}"#, "push: unique_for needs unique or unique_payload"),
            (#"{"command":"wait"}"#, "wait: needs a group"),
        ]
        for (text, message) in cases { #expect(refusal(text) == message, "\(text)") }
        #expect(refusal(#"{"command":"push","payload":"x","key":"a\tb"}"#) == "push: key a\tb has a control character (a line break, a tab)")
    }

    /// Mutated requests parse into a request whose JSON reads back the same, or are refused.
    @Test func mutatedClientRequestsReadBackOrAreRefused() {
        var random = SplitMix64(state: 0xC11E)
        let seeds = [#"{"command":"call","queue":"mail","payload":"x\u00e9","timeout":2.5,"priority":-3,"max_attempts":2,"group":"g","key":"k:1","unique":"u","unique_for":"90s","delay":"1500ms"}"#,
                     #"{"command":"push","payloads":["a","b"],"unique_payload":true,"delay":0.25}"#,
                     #"{"command":"wait","group":"g","queue":"q","timeout":"1m"}"#].map { Array($0.utf8) }
        for index in 0..<20_000 {
            let text = String(decoding: FuzzTests.mutated(seeds[index % seeds.count], times: 1...4, pieces: FuzzTests.jsonPieces, using: &random), as: UTF8.self)
            guard let json = try? JSON.parse(text), let request = try? ClientRequest(json: json) else { continue }
            #expect((try? ClientRequest(json: JSON.parse(request.json.text))) == request, "\(text) → \(request.json.text)")
        }
    }

    /// A group's answer carries results and errors up to its byte limit, then lists the jobs
    /// without them and says so.
    @Test func aGroupsAnswerIsCapped() {
        func record(_ id: Int64, _ state: String, _ text: String) -> JobRecord {
            JobRecord(id: id, queue: "q", state: state, payload: "p", priority: 0, attempts: 1, maxAttempts: nil, group: "g", runAt: 0, createdAt: 0,
                      finishedAt: 0, result: state == "done" ? text : nil, error: state == "dead" ? text : nil)
        }
        let records = [record(1, "done", "aaaa"), record(2, "dead", "bbbb"), record(3, "done", "cccc"), record(4, "done", "d")]
        #expect(ClientWaiters.groupOutcome("g", records, limit: 8).text
                == #"{"ok":true,"group":"g","done":3,"dead":1,"jobs":[{"id":1,"state":"done","result":"aaaa"},{"id":2,"state":"dead","error":"bbbb"},"#
                + #"{"id":3,"state":"done"},{"id":4,"state":"done"}],"truncated":true}"#)
        #expect(!ClientWaiters.groupOutcome("g", records).text.contains("truncated"))
    }

    @Test func theGroupsLineOfProcStatus() {
        #expect(ProcFS.parseGroups("Name:\tphp\nUid:\t33\t33\t33\t33\nGroups:\t4 24 33 1001 \nNgid:\t0\n") == [4, 24, 33, 1001])
        #expect(ProcFS.parseGroups("Name:\tx\nGroups:\t\n") == [])
        #expect(ProcFS.parseGroups("Name:\tx\n") == nil)
    }
}
