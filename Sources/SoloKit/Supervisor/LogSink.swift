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

    /// Opens a log file for appending, safely as root (see LogPath): the directories on the
    /// way are checked, missing ones made (`directoryMode`), and the file is opened only where
    /// it is, never through a link.
    public static func open(_ path: String, directoryMode: mode_t = 0o755) throws(OpenError) -> FileDescriptor {
        let absolute = path.hasPrefix("/") ? path : Files.currentDirectory() + "/" + path
        let trust = LogPath.Trust(users: [0, geteuid()], groups: [0, getegid()])
        let directories = LogPath.directories(of: absolute)
        for (index, directory) in directories.enumerated() {
            let status: Files.Status
            do { status = try Files.linkStatus(directory) } catch {
                if error == .noSuchFile { break }  // made below, by solo
                throw OpenError(description: "\(directory): \(error)")
            }
            if let problem = LogPath.problem(with: status, at: directory, holdsTheFile: index == directories.count - 1, trust: trust) {
                throw OpenError(description: problem)
            }
        }
        let file: FileDescriptor
        do {
            try Files.makeDirectories(Path.directory(of: absolute), mode: directoryMode)
            file = try Files.openForAppend(absolute)
        } catch {
            if error.rawValue == ELOOP {
                throw OpenError(description: "\(path) is a symbolic link; solo opens a log file only where it is, never through a link (remove the link)")
            }
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
