/// A request an application may make (solo-client(7)): over the client socket, which serves
/// nothing else, and over the control socket (`solo call`, `solo wait`). One JSON object per
/// line, `{"command": "call", "payload": "..."}`.
public enum ClientRequest: Equatable, Sendable {
    /// Jobs to queue, with what `solo push` can say of them.
    public struct Push: Equatable, Sendable {
        /// nil: the config's one queue (as `solo push` without --queue).
        public var queue: String?
        public var payloads: [String]
        public var priority = 0
        public var delay: Duration?
        public var maxAttempts: Int?
        public var group: String?
        /// The key the queue's keyed limits count the jobs under.
        public var limitKey: String?
        public var unique: Uniqueness?
        public var uniqueFor: Duration = .zero

        public init(queue: String? = nil, payloads: [String]) {
            self.queue = queue
            self.payloads = payloads
        }
    }

    /// How a pushed job is kept from being queued twice.
    public enum Uniqueness: Equatable, Sendable {
        /// This key, for every payload of the push.
        case key(String)
        /// Each payload's own (`solo push --unique-payload`).
        case payload
    }

    /// Queue the jobs; the answer names them.
    case push(Push)
    /// Queue one job, and answer with its outcome once it is recorded (or that it still waits,
    /// after `timeout`: it stays queued).
    case call(Push, timeout: Duration)
    /// Answer once every job of the group in the queue is done or dead, with each one's outcome.
    case wait(group: String, queue: String?, timeout: Duration)
    /// The queue's counts (every queue this supervisor feeds, without one).
    case counts(queue: String?)

    /// How long `call` and `wait` wait without a `timeout`, and the longest they may.
    public static let defaultTimeout: Duration = .seconds(30)
    public static let longestTimeout: Duration = .seconds(3600)
    /// The most jobs one push may queue (one transaction, one script).
    public static let maximumPayloads = 1000
    /// The commands a client may send; every other is refused.
    public static let commands = ["push", "call", "wait", "counts"]

    public init(json: JSON) throws(ControlRequest.Invalid) {
        guard let command = json["command"]?.stringValue else { throw ControlRequest.Invalid(message: "a request needs a command") }
        func invalid(_ message: String) -> ControlRequest.Invalid { ControlRequest.Invalid(message: "\(command): \(message)") }
        func text(_ field: String) throws(ControlRequest.Invalid) -> String? {
            guard let value = json[field], value != .null else { return nil }
            guard let text = value.stringValue, !text.isEmpty else { throw invalid("\(field) must be a non-empty string") }
            return text
        }
        func duration(_ field: String, default fallback: Duration) throws(ControlRequest.Invalid) -> Duration {
            guard let value = json[field], value != .null else { return fallback }
            let duration: Duration
            switch value {
            case .number(let seconds) where (0...Self.longestTimeout.components.seconds).contains(seconds): duration = .seconds(seconds)
            case .number: throw invalid("\(field) must be from 0 to 1h")
            // Bounded before it is converted: a huge number would trap, and take the supervisor down.
            case .double(let seconds) where seconds.isFinite && abs(seconds) <= 1e9: duration = .milliseconds(Int64((seconds * 1000).rounded()))
            case .double: throw invalid("\(field) must be from 0 to 1h")
            case .string(let text):
                do { duration = try Values.duration(text) } catch { throw invalid("\(field) \(error.message)") }
            default: throw invalid("\(field) must be a number of seconds or a duration like \"30s\"")
            }
            guard duration >= .zero, duration <= Self.longestTimeout else { throw invalid("\(field) must be from 0 to 1h") }
            return duration
        }
        func push(single: Bool) throws(ControlRequest.Invalid) -> Push {
            let payloads: [String]
            if let one = json["payload"] {
                guard let payload = one.stringValue else { throw invalid("payload must be a string (one line of text)") }
                payloads = [payload]
            } else if !single, let many = json["payloads"]?.arrayValue {
                let strings = many.compactMap(\.stringValue)
                guard strings.count == many.count, (1...Self.maximumPayloads).contains(many.count) else {
                    throw invalid("payloads must be a list of 1 to \(Self.maximumPayloads) strings")
                }
                payloads = strings
            } else {
                throw invalid(single ? "needs a payload" : "needs a payload, or payloads (a list)")
            }
            var push = Push(queue: try text("queue"), payloads: payloads)
            if let value = json["priority"] {
                // A range, not abs(): abs(Int.min) traps, and would take the supervisor down.
                guard let priority = value.intValue, (-1_000_000...1_000_000).contains(priority) else { throw invalid("priority must be a whole number from -1000000 to 1000000") }
                push.priority = priority
            }
            let delay = try duration("delay", default: .zero)
            push.delay = delay > .zero ? delay : nil
            if let value = json["max_attempts"] {
                guard let attempts = value.intValue, attempts >= 1 else { throw invalid("max_attempts must be a number of 1 or more") }
                push.maxAttempts = attempts
            }
            push.group = try text("group")
            if let key = try text("key") {
                if let problem = UniqueKey.problem(key) { throw invalid("key \(key) \(problem)") }
                push.limitKey = key
            }
            if let key = try text("unique") {
                if let problem = UniqueKey.problem(key) { throw invalid("unique \(key) \(problem)") }
                push.unique = .key(key)
            }
            if json["unique_payload"]?.boolValue == true {
                guard push.unique == nil else { throw invalid("unique and unique_payload are two ways to key a job; give one") }
                push.unique = .payload
            }
            push.uniqueFor = try duration("unique_for", default: .zero)
            if push.uniqueFor > .zero && push.unique == nil { throw invalid("unique_for needs unique or unique_payload") }
            return push
        }
        switch command {
        case "push": self = .push(try push(single: false))
        case "call": self = .call(try push(single: true), timeout: try duration("timeout", default: Self.defaultTimeout))
        case "wait":
            guard let group = try text("group") else { throw invalid("needs a group") }
            self = .wait(group: group, queue: try text("queue"), timeout: try duration("timeout", default: Self.defaultTimeout))
        case "counts": self = .counts(queue: try text("queue"))
        default:
            if ControlRequest.commands.contains(command) {
                throw ControlRequest.Invalid(message: "\(command) is not allowed here: a client may only \(Self.commands.joined(separator: ", ")) (steer solo through its control socket, as root or its own user)")
            }
            throw ControlRequest.Invalid(message: "unknown command \(command) (a client may \(Self.commands.joined(separator: ", ")))")
        }
    }

    public var json: JSON {
        func fields(_ push: Push) -> [(String, JSON)] {
            var fields: [(String, JSON)] = []
            if let queue = push.queue { fields.append(("queue", .string(queue))) }
            fields.append(push.payloads.count == 1 ? ("payload", .string(push.payloads[0])) : ("payloads", .array(push.payloads.map(JSON.string))))
            if push.priority != 0 { fields.append(("priority", .number(Int64(push.priority)))) }
            if let delay = push.delay { fields.append(("delay", .string(Values.formatDuration(delay)))) }
            if let attempts = push.maxAttempts { fields.append(("max_attempts", .number(Int64(attempts)))) }
            if let group = push.group { fields.append(("group", .string(group))) }
            if let key = push.limitKey { fields.append(("key", .string(key))) }
            switch push.unique {
            case .key(let key): fields.append(("unique", .string(key)))
            case .payload: fields.append(("unique_payload", .bool(true)))
            case nil: break
            }
            if push.uniqueFor > .zero { fields.append(("unique_for", .string(Values.formatDuration(push.uniqueFor)))) }
            return fields
        }
        func timeoutField(_ timeout: Duration) -> (String, JSON) { ("timeout", .string(Values.formatDuration(timeout))) }
        switch self {
        case .push(let push): return .object([("command", .string("push"))] + fields(push))
        case .call(let push, let timeout): return .object([("command", .string("call"))] + fields(push) + [timeoutField(timeout)])
        case .wait(let group, let queue, let timeout):
            return .object([("command", .string("wait")), ("group", .string(group))] + (queue.map { [("queue", .string($0))] } ?? []) + [timeoutField(timeout)])
        case .counts(let queue): return .object([("command", .string("counts"))] + (queue.map { [("queue", .string($0))] } ?? []))
        }
    }
}
