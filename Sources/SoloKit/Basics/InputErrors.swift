/// What a person wrote is wrong. Both errors carry a message that says what would be right; they
/// live here, below every layer, because a value is parsed (a Redis URL, a size) and a command
/// line is checked (a queue name, a pool list) in several layers.

/// A value that does not parse (a config value, a URL, a switch's argument).
public struct ValueError: Error, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// A command line that is wrong, with what to write instead; exits 2.
public struct UsageError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
