import Foundation
import Glibc
import SoloKit
import Testing

/// Helpers for tests that run the real `solo` binary with real processes, pipes and signals.
/// Every wait has a deadline and fails with what it was waiting for.

struct Timeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every `interval` (10 ms) until it holds or `seconds` pass.
func waitFor(_ what: String, seconds: Double = 10, interval: useconds_t = 10_000, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() > deadline { throw Timeout(what: what) }
        usleep(interval)
    }
}

/// The built `solo`, next to the test bundle.
let soloBinary: String = {
    let bundle = (try? Files.realPath("/proc/self/exe")) ?? CommandLine.arguments[0]
    return Path.directory(of: bundle) + "/solo"
}()

/// A free TCP port on 127.0.0.1 (the kernel picks one; released before use).
func freePort() throws -> UInt16 {
    let lock = try PortLock.acquire(address: 0x7f00_0001, port: 0, inheritable: false)
    defer { lock.release() }
    return try lock.boundPort()
}

func isHeld(_ port: UInt16, address: UInt32 = 0x7f00_0001) -> Bool {
    (try? PortLock.isHeld(address: address, port: port)) ?? false
}

/// Calls `body` with 127.0.0.1:`port` as a socket address (for connect, bind).
func withLoopbackAddress<T>(_ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// A TCP socket connected to 127.0.0.1:`port`, or the errno of the attempt (the socket then closed).
func connectLoopback(_ port: UInt16) -> (socket: Int32?, error: Int32) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return (nil, errno) }
    let connected = withLoopbackAddress(port) { connect(fd, $0, $1) }
    guard connected == 0 else {
        let error = errno
        close(fd)
        return (nil, error)
    }
    return (fd, 0)
}

/// Whether a process runs (a zombie does not).
func isRunning(_ pid: pid_t) -> Bool {
    guard pid > 0, let stat = ProcFS.stat(of: pid) else { return false }
    return stat.state != "Z" && stat.state != "X"
}

/// A scratch directory, removed at the end.
/// The test process writes to pipes and sockets whose other end may be gone by then (a worker,
/// a supervisor, a server a test just killed): that is EPIPE to the write, as in solo itself,
/// never a SIGPIPE that ends every test at once (seen in CI). The solo processes a test starts
/// (Foundation's Process) inherit the ignore, which `solo run` sets itself anyway; what solo
/// spawns starts with every signal at its default (spawn.c).
let ignoringSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

final class Scratch {
    let path: String

    init() {
        _ = ignoringSIGPIPE
        var template = Array("/tmp/solo-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ text: String, executable: Bool = false) -> String {
        let target = file(name)
        try? FileManager.default.createDirectory(atPath: Path.directory(of: target), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: target, contents: Data(text.utf8),
                                       attributes: [.posixPermissions: executable ? 0o755 : 0o644])
        return target
    }

    func read(_ name: String) -> String {
        (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? ""
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }

    func list(_ name: String = ".") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: file(name))) ?? []).sorted()
    }

    /// A solo.conf with a [global] section on `port` and the given pool sections.
    @discardableResult
    func config(port: UInt16, global: String = "", _ pools: String) -> String {
        write("solo.conf", "[global]\nlock_port = \(port)\nstate_dir = state\n\(global)\n\(pools)\n")
    }
}

/// A child process with its output in files; killed at the end if still running.
final class Child {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(_ arguments: [String], in scratch: Scratch, name: String = "child", environment: [String: String]? = nil,
         executable: String = soloBinary, input: [UInt8]? = nil) throws {
        stdoutPath = scratch.file("\(name).out")
        stderrPath = scratch.file("\(name).err")
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: scratch.path)
        if let environment { process.environment = environment }
        if let input {
            let path = scratch.file("\(name).in")
            FileManager.default.createFile(atPath: path, contents: Data(input))
            process.standardInput = FileHandle(forReadingAtPath: path)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    var pid: pid_t { process.processIdentifier }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { kill(pid, signal) }

    /// The exit status, or 128 + the signal that ended it (as a shell reports it).
    @discardableResult
    func wait(seconds: Double = 10) throws -> Int32 {
        try waitFor("\(process.arguments?.joined(separator: " ") ?? "child") to exit", seconds: seconds) { !process.isRunning }
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }
}

/// Runs a short command to completion.
func runSolo(_ arguments: [String], in scratch: Scratch, environment: [String: String]? = nil, input: [UInt8]? = nil,
             seconds: Double = 15) throws -> (status: Int32, stdout: String, stderr: String) {
    let child = try Child(arguments, in: scratch, name: "run-\(UUID().uuidString.prefix(8))", environment: environment, input: input)
    let status = try child.wait(seconds: seconds)
    return (status, child.stdout, child.stderr)
}

/// Runs another program (by absolute path) to completion; its exit status.
func runCommand(_ arguments: [String], in scratch: Scratch, seconds: Double = 15) throws -> Int32 {
    let child = try Child(Array(arguments.dropFirst()), in: scratch, name: "cmd-\(UUID().uuidString.prefix(8))", executable: arguments[0])
    return try child.wait(seconds: seconds)
}

/// A `solo run` in the foreground, with its log (standard error) in a file.
final class RunningSupervisor {
    let child: Child
    let scratch: Scratch

    /// `name` names its log file: supervisors that share a scratch directory need their own.
    init(_ scratch: Scratch, config: String = "solo.conf", environment: [String: String]? = nil, name: String = "supervisor") throws {
        self.scratch = scratch
        child = try Child(["run", config], in: scratch, name: name, environment: environment)
    }

    var pid: pid_t { child.pid }
    var log: String { child.stderr }

    func lines(containing text: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { $0.contains(text) }
    }

    func waitForLog(_ text: String, count: Int = 1, seconds: Double = 10) throws {
        try waitFor("\(count) log line(s) with \"\(text)\"; log so far:\n\(log)", seconds: seconds) {
            lines(containing: text).count >= count
        }
    }

    /// SIGTERM, then the exit status.
    func stop(seconds: Double = 15) throws -> Int32 {
        child.signal(SIGTERM)
        return try child.wait(seconds: seconds)
    }
}

/// A pool `talk` whose worker prints a numbered line (and one to stderr) every 50 ms, into
/// logs/talk.log (log_dir = logs).
func writeTalkerConfig(_ scratch: Scratch) throws {
    scratch.write("talk.sh", "#!/bin/sh\nn=0\nwhile :; do n=$((n + 1)); echo \"line $n\"; echo \"err $n\" >&2; sleep 0.05; done\n", executable: true)
    scratch.config(port: try freePort(), global: "log_dir = logs", "[talk]\nqueue = none\ncommand = ./talk.sh\n")
}

/// The talker's supervisor, once its log file has a few lines.
func startTalker(_ scratch: Scratch) throws -> RunningSupervisor {
    try writeTalkerConfig(scratch)
    let supervisor = try RunningSupervisor(scratch)
    try waitFor("the pool's log file") { scratch.read("logs/talk.log").contains("line 3") }
    return supervisor
}
