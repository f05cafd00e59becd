/// Options and operands of a subcommand (`solo run --config FILE`, `solo check FILE`).
public struct Arguments: Equatable {
    public var operands: [String] = []
    public var values: [String: String] = [:]
    public var flags: Set<String> = []

    public init(operands: [String] = [], values: [String: String] = [:], flags: Set<String> = []) {
        self.operands = operands
        self.values = values
        self.flags = flags
    }

    /// `valued` options take a value (`--config FILE` or `--config=FILE`); `flags` do not.
    /// `short` maps one-letter options to long ones (`-n` → `lines`, `-f` → `follow`).
    public static func parse(_ arguments: [String], command: String, valued: [String], flags: [String],
                             short: [Character: String] = [:]) throws(UsageError) -> Arguments {
        var result = Arguments()
        var index = 0
        while index < arguments.count {
            var argument = arguments[index]
            index += 1
            if argument.count == 2, argument.first == "-", let long = short[argument.last!] { argument = "--" + long }
            if argument == "--" {
                result.operands += arguments[index...]
                break
            }
            guard argument.hasPrefix("--") else {
                if argument.hasPrefix("-") && argument.count > 1 {
                    throw UsageError("solo \(command): unknown option \(argument) (options are \((valued + flags).map { "--" + $0 }.joined(separator: ", ")))")
                }
                result.operands.append(argument)
                continue
            }
            var name = String(argument.dropFirst(2))
            var value: String? = nil
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if valued.contains(name) {
                if value == nil {
                    guard index < arguments.count else { throw UsageError("solo \(command): --\(name) needs a value") }
                    value = arguments[index]
                    index += 1
                }
                result.values[name] = value
            } else if flags.contains(name) {
                if value != nil { throw UsageError("solo \(command): --\(name) takes no value") }
                result.flags.insert(name)
            } else {
                let hint = Values.suggestion(for: name, among: valued + flags).map { " (did you mean --\($0)?)" } ?? ""
                throw UsageError("solo \(command): unknown option --\(name)\(hint)")
            }
        }
        return result
    }

    /// The config file: --config, else the one operand, else $SOLO_CONFIG, else the usual path.
    public func configPath(command: String) throws(UsageError) -> String {
        if let path = values["config"] {
            guard operands.isEmpty else { throw UsageError("solo \(command): give the config file once (--config or an operand)") }
            return path
        }
        if operands.count > 1 { throw UsageError("solo \(command): one config file, please (got \(operands.count) operands)") }
        if let path = operands.first { return path }
        if let fromEnvironment = Host.variable("SOLO_CONFIG") { return fromEnvironment }
        return "/etc/solo/solo.conf"
    }
}
