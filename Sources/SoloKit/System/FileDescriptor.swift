import CSoloSpawn
import Glibc

/// An open file descriptor. A plain value: whoever opened it closes it.
public struct FileDescriptor: Hashable, Sendable {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let standardInput = FileDescriptor(rawValue: 0)
    public static let standardOutput = FileDescriptor(rawValue: 1)
    public static let standardError = FileDescriptor(rawValue: 2)

    /// Opens a file, always with O_CLOEXEC: workers inherit only what they are given.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(Errno) -> FileDescriptor {
        let fd = try valueOrErrno { Glibc.open(path, flags | O_CLOEXEC, mode) }.get()
        return FileDescriptor(rawValue: fd)
    }

    /// A pipe with both ends close-on-exec.
    public static func pipe() throws(Errno) -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: (Int32, Int32) = (-1, -1)
        let result = withUnsafeMutablePointer(to: &fds) {
            $0.withMemoryRebound(to: Int32.self, capacity: 2) { solo_pipe($0) }
        }
        try check(result)
        return (FileDescriptor(rawValue: fds.0), FileDescriptor(rawValue: fds.1))
    }

    /// A non-blocking read end of the pipe this descriptor is an end of (either end), as a file
    /// description of its own: the other readers' blocking mode is left as it is.
    public func pipeReader() throws(Errno) -> FileDescriptor {
        try FileDescriptor.open("/proc/self/fd/\(rawValue)", O_RDONLY | O_NONBLOCK)
    }

    public enum ReadResult: Equatable {
        case bytes(Int)
        case wouldBlock
        case endOfFile
    }

    /// Reads what is there; EAGAIN on a non-blocking descriptor is a value, not an error.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> ReadResult {
        switch valueOrErrno({ Glibc.read(rawValue, buffer.baseAddress, buffer.count) }) {
        case .success(0): return .endOfFile
        case .success(let n): return .bytes(n)
        case .failure(let error) where error == .wouldBlock: return .wouldBlock
        case .failure(let error): throw error
        }
    }

    /// Reads into the whole of `buffer` (its count is the most it reads).
    public func read(into buffer: inout [UInt8]) throws(Errno) -> ReadResult {
        try buffer.withUnsafeMutableBytes { raw in Result { () throws(Errno) in try read(into: raw) } }.get()
    }

    public func pread(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(Errno) -> Int {
        try valueOrErrno { Glibc.pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }.get()
    }

    /// Writes every byte, looping over short writes.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            let n = try valueOrErrno { Glibc.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset) }.get()
            offset += n
        }
    }

    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        try bytes.withUnsafeBytes { raw in Result { () throws(Errno) in try writeAll(raw) } }.get()
    }

    public func writeAll(_ text: String) throws(Errno) {
        var copy = text
        try copy.withUTF8 { raw in Result { () throws(Errno) in try writeAll(UnsafeRawBufferPointer(raw)) } }.get()
    }

    /// Writes as much as the descriptor takes now (non-blocking); returns the count written.
    public func writeSome(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        switch valueOrErrno({ Glibc.write(rawValue, bytes.baseAddress, bytes.count) }) {
        case .success(let n): return n
        case .failure(let error) where error == .wouldBlock: return 0
        case .failure(let error): throw error
        }
    }

    /// Closes the descriptor. EINTR is not retried (the descriptor is gone on Linux) and
    /// other errors are ignored: there is nothing useful to do about them.
    public func close() {
        _ = Glibc.close(rawValue)
    }

    public func setNonBlocking() throws(Errno) { try check(solo_set_nonblocking(rawValue)) }

    public func setCloseOnExec(_ on: Bool) throws(Errno) { try check(solo_set_cloexec(rawValue, on ? 1 : 0)) }

    /// Moves the descriptor onto `target` (dup2) and closes the original.
    public func move(to target: Int32) throws(Errno) -> FileDescriptor {
        if rawValue == target { return self }
        _ = try valueOrErrno { dup2(rawValue, target) }.get()
        close()
        return FileDescriptor(rawValue: target)
    }

    public var isTerminal: Bool { isatty(rawValue) == 1 }
}
