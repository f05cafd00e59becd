import Glibc

/// A log destination: a file opened for appending (reopened on SIGUSR1, after logrotate has
/// moved it) or the supervisor's standard error.
public final class LogSink {
    public let path: String?
    private var descriptor: FileDescriptor

    /// Why a log file was not opened: a system error, or a path root must not write through.
    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Standard error.
    public init() {
        path = nil
        descriptor = .standardError
    }

    public init(path: String) throws(OpenError) {
        self.path = path
        descriptor = try Self.open(path)
    }

    /// Opens the file anew (logrotate moved the old one away; a deleted directory is made
    /// again). On failure the old descriptor stays in use, so nothing is lost.
    public func reopen() throws(OpenError) {
        guard let path else { return }
        let fresh = try Self.open(path)
        descriptor.close()
        descriptor = fresh
    }

    /// Opens a log file for appending, safely as root (see LogPath): walked from / a directory
    /// at a time, each held open and checked, missing ones made (`directoryMode`), never through
    /// a link; the file is opened in the last one and checked too.
    public static func open(_ path: String, directoryMode: mode_t = 0o755) throws(OpenError) -> FileDescriptor {
        let absolute = path.hasPrefix("/") ? path : Files.currentDirectory() + "/" + path
        let trust = LogPath.Trust(users: [0, Accounts.effectiveUID], groups: [0, Accounts.effectiveGID])
        var names = LogPath.names(of: absolute)
        guard let fileName = names.popLast() else { throw OpenError(description: "\(path) is a directory, not a log file") }
        var directory: FileDescriptor
        do { directory = try Files.openDirectory("/", in: nil) } catch { throw OpenError(description: "/: \(error)") }
        defer { directory.close() }
        var walked = ""
        for index in 0...names.count {
            if index > 0 {
                let name = names[index - 1]
                walked += "/" + name
                let next = try enter(name, in: directory, at: walked, mode: directoryMode)
                directory.close()
                directory = next
            }
            let status: Files.Status
            do { status = try Files.status(of: directory) } catch { throw OpenError(description: "\(walked.isEmpty ? "/" : walked): \(error)") }
            if let problem = LogPath.problem(with: status, at: walked.isEmpty ? "/" : walked, holdsTheFile: index == names.count, trust: trust) {
                throw OpenError(description: problem)
            }
        }
        let file: FileDescriptor
        do { file = try Files.openForAppend(fileName, in: directory) } catch {
            if error.rawValue == ELOOP { throw OpenError(description: LogPath.linkOnTheWay(path, isTheFile: true, realPath: nil)) }
            throw OpenError(description: "\(error)")
        }
        let status: Files.Status
        do { status = try Files.status(of: file) } catch {
            file.close()
            throw OpenError(description: "\(error)")
        }
        if let problem = LogPath.problem(withFile: status, at: path) {
            file.close()
            throw OpenError(description: problem)
        }
        return file
    }

    /// The directory `name` in `parent` (`path`, for messages), made when missing.
    private static func enter(_ name: String, in parent: FileDescriptor, at path: String, mode: mode_t) throws(OpenError) -> FileDescriptor {
        do { return try Files.openDirectory(name, in: parent) } catch {
            if error == .noSuchFile {
                do {
                    try Files.makeDirectory(name, in: parent, mode: mode)
                    return try Files.openDirectory(name, in: parent)
                } catch { throw OpenError(description: "\(path): \(error)") }
            }
            if (try? Files.linkStatus(name, in: parent))?.kind == .link {
                throw OpenError(description: LogPath.linkOnTheWay(path, isTheFile: false, realPath: try? Files.realPath(path)))
            }
            throw OpenError(description: "\(path): \(error)")
        }
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
