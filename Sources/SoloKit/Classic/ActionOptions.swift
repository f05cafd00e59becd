/// The options of a command whose operand is an action (`solo queue purge --id 14`): one table
/// says which action takes which option. An option the action does not take is a usage error
/// that names both, never ignored (a `purge` that ignored `--id` deleted every done job).
public struct ActionOptions: Sendable {
    public struct Action: Sendable {
        public let name: String
        /// The options it takes (without `--`).
        public let takes: [String]
        /// It needs at least one of these (empty: none).
        public let needsOneOf: [String]
        /// Pairs of options it takes but not together.
        public let exclusive: [(String, String)]

        public init(_ name: String, takes: [String], needsOneOf: [String] = [], exclusive: [(String, String)] = []) {
            self.name = name
            self.takes = takes
            self.needsOneOf = needsOneOf
            self.exclusive = exclusive
        }
    }

    public let command: String
    /// Options that take a value; every other option of the table is a flag.
    public let valued: Set<String>
    public let actions: [Action]
    /// The action when none is given.
    public let defaultAction: String

    public init(command: String, valued: Set<String>, defaultAction: String, actions: [Action]) {
        self.command = command
        self.valued = valued
        self.defaultAction = defaultAction
        self.actions = actions
    }

    /// Every option of every action, in table order, once.
    var allOptions: [String] {
        var seen: [String] = []
        for action in actions { for option in action.takes where !seen.contains(option) { seen.append(option) } }
        return seen
    }

    /// The action and its arguments; a usage error for an unknown action, an option the action
    /// does not take, two that exclude each other, or a missing one it needs.
    public func parse(_ words: [String]) throws(UsageError) -> (action: Action, arguments: Arguments) {
        let options = allOptions
        let arguments = try Arguments.parse(words, command: command, valued: options.filter { valued.contains($0) },
                                            flags: options.filter { !valued.contains($0) })
        let names = actions.map(\.name)
        let listed = names.joined(separator: ", ")
        guard arguments.operands.count <= 1 else {
            throw UsageError("solo \(command): one action, please (\(listed)); got \(arguments.operands.joined(separator: " "))")
        }
        let name = arguments.operands.first ?? defaultAction
        guard let action = actions.first(where: { $0.name == name }) else {
            let hint = Values.suggestion(for: name, among: names).map { "did you mean \($0)? " } ?? ""
            throw UsageError("solo \(command): unknown action \(name) (\(hint)actions: \(listed))")
        }
        let given = options.filter { arguments.values[$0] != nil || arguments.flags.contains($0) }
        if let stray = given.first(where: { !action.takes.contains($0) }) {
            throw UsageError("solo \(command) \(name): --\(stray) does not apply to \(name) (it takes \(action.takes.map { "--" + $0 }.joined(separator: ", ")))")
        }
        if let (a, b) = action.exclusive.first(where: { given.contains($0.0) && given.contains($0.1) }) {
            throw UsageError("solo \(command) \(name): give --\(a) or --\(b), not both")
        }
        if !action.needsOneOf.isEmpty && !action.needsOneOf.contains(where: given.contains) {
            throw UsageError("solo \(command) \(name): it needs \(action.needsOneOf.map { "--" + $0 }.joined(separator: " or "))")
        }
        return (action, arguments)
    }
}
