import Glibc

/// A log destination: a file opened for appending (reopened on SIGUSR1, after logrotate has
/// moved it) or the supervisor's standard error.
public final class LogSink {
    public let path: String?
    private var descriptor: FileDescriptor

    /// Standard error.
    public init() {
        path = nil
        descriptor = .standardError
    }

    public init(path: String) throws(Errno) {
        self.path = path
        try Files.makeDirectories(Path.directory(of: path))
        descriptor = try Files.openForAppend(path)
    }

    /// Opens the file anew (logrotate moved the old one away). On failure the old descriptor
    /// stays in use, so nothing is lost.
    public func reopen() throws(Errno) {
        guard let path else { return }
        let fresh = try Files.openForAppend(path)
        descriptor.close()
        descriptor = fresh
    }

    /// Writes whole lines; a failing log never stops the supervisor.
    public func write(_ bytes: [UInt8]) {
        try? descriptor.writeAll(bytes)
    }

    public func close() {
        if path != nil { descriptor.close() }
    }
}

/// Formats log lines: `2026-11-23T05:54:19.168+0000 mailer[2] 4301: text`.
public final class LogFormatter {
    private let clock = Timestamper()

    public init() {}

    /// Workers' output and solo's lines about them (which quote what workers wrote) alike:
    /// control characters escaped, so that a log read on a terminal cannot drive it.
    public func append(_ text: UnsafeRawBufferPointer, prefix: String, to output: inout [UInt8]) {
        clock.append(to: &output)
        output.append(UInt8(ascii: " "))
        output.append(contentsOf: prefix.utf8)
        Printable.append(text, to: &output)
        output.append(UInt8(ascii: "\n"))
    }

    public func line(_ text: String, prefix: String) -> [UInt8] {
        var output: [UInt8] = []
        var copy = text
        copy.withUTF8 { append(UnsafeRawBufferPointer($0), prefix: prefix, to: &output) }
        return output
    }
}
