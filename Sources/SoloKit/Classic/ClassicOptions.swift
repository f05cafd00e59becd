/// The switches of the classic Perl `solo` (`perl -s` style: `-name` or `-name=value`, before
/// the command): `solo -port=3801 [-addr=A] [-verbose] [-silent] [-timeout=SEC] [-sleep=SEC]
/// [-noport] COMMAND [ARGS...]`, and solo's own `-lock=redis://HOST:PORT/NAME [-ttl=SEC]`:
/// one run of COMMAND in the whole fleet at a time.
public struct ClassicOptions: Equatable, Sendable {
    public var port: UInt16?
    public var address: UInt32?
    public var verbose = false
    public var silent = false
    public var noport = false
    public var timeout: UInt32?
    public var sleep: Duration?
    /// The fleet lock in Redis, and its time to live.
    public var lock: RedisURL?
    public var lockTTL: Duration = .seconds(30)
    public var command: [String] = []

    static let switches = ["port", "addr", "verbose", "silent", "timeout", "sleep", "noport", "lock", "ttl"]

    /// Whether a command line is the classic form: its first word is a switch (any but the
    /// help and version options), so that a mistyped switch gets the classic usage message.
    public static func isClassic(_ arguments: [String]) -> Bool {
        guard let first = arguments.first, first.hasPrefix("-"), first != "-" else { return false }
        return !["help", "h", "version", "V"].contains(switchName(first))
    }

    static func switchName(_ argument: String) -> String {
        var text = Substring(argument)
        while text.hasPrefix("-") { text = text.dropFirst() }
        return String(text.prefix { $0 != "=" })
    }

    public static func parse(_ arguments: [String]) throws(UsageError) -> ClassicOptions {
        var options = ClassicOptions()
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { index += 1; break }
            guard argument.hasPrefix("-"), argument != "-" else { break }
            let name = switchName(argument)
            let value: String? = argument.firstIndex(of: "=").map { String(argument[argument.index(after: $0)...]) }
            func required() throws(UsageError) -> String {
                guard let value, !value.isEmpty else { throw UsageError("-\(name) needs a value: write -\(name)=VALUE (no space)") }
                return value
            }
            func noValue() throws(UsageError) {
                if value != nil { throw UsageError("-\(name) takes no value") }
            }
            switch name {
            case "port":
                let text = try required()
                guard let port = UInt16(text), port > 0, text.allSatisfy(\.isNumber) else {
                    throw UsageError("-port=\(text) is not a port number (1 to 65535)")
                }
                options.port = port
            case "addr":
                let text = try required()
                guard let address = LockAddress.parse(text), address >> 24 == 127 else {
                    throw UsageError("-addr=\(text) is not a loopback address (try -addr=127.0.0.1)")
                }
                options.address = address
            case "verbose": try noValue(); options.verbose = true
            case "silent": try noValue(); options.silent = true
            case "noport": try noValue(); options.noport = true
            case "timeout":
                let text = try required()
                // alarm(2) takes an unsigned int of seconds.
                guard let seconds = UInt32(text), seconds > 0 else {
                    throw UsageError("-timeout=\(text) is not a number of seconds from 1 to \(UInt32.max) (like -timeout=3600)")
                }
                options.timeout = seconds
            case "sleep":
                let text = try required()
                guard let seconds = Double(text), seconds >= 0, seconds < 1e9 else {
                    throw UsageError("-sleep=\(text) is not a number of seconds (like -sleep=5)")
                }
                options.sleep = .nanoseconds(Int64(seconds * 1e9))
            case "lock":
                let text = try required()
                do { options.lock = try RedisURL.parse(text, named: true) } catch { throw UsageError("-lock: \(error.message)") }
            case "ttl":
                let text = try required()
                guard let seconds = UInt32(text), seconds >= 3, seconds <= 600 else {
                    throw UsageError("-ttl=\(text) is not a number of seconds from 3 to 600 (like -ttl=30)")
                }
                options.lockTTL = .seconds(Int64(seconds))
            default:
                let hint = Values.suggestion(for: name, among: switches).map { " (did you mean -\($0)?)" } ?? ""
                throw UsageError("unknown switch \(argument)\(hint); switches are -port=PORT -addr=ADDR -verbose -silent -timeout=SEC -sleep=SEC -noport -lock=redis://HOST:PORT/NAME -ttl=SEC")
            }
            index += 1
        }
        options.command = Array(arguments[index...])
        if options.port == nil && !options.noport && options.lock == nil {
            throw UsageError("Usage: solo -port=PORT COMMAND (or -lock=redis://HOST:PORT/NAME COMMAND, or -noport)")
        }
        if options.lock != nil && options.command.isEmpty {
            throw UsageError("-lock needs a command to run while it holds the lock (solo -lock=redis://HOST:PORT/NAME COMMAND)")
        }
        if options.noport { options.port = nil }
        return options
    }
}
