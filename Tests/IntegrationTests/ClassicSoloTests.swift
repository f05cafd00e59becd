import Foundation
import Glibc
import SoloKit
import Testing

/// `solo -port=PORT COMMAND`, as the Perl original, with its faults fixed.
@Suite struct ClassicSoloTests {
    @Test func aHeldPortExits98OrSilently() throws {
        let scratch = Scratch()
        let port = try freePort()
        let holder = try Child(["-port=\(port)", "sleep", "30"], in: scratch, name: "holder")
        try waitFor("the holder to take port \(port)") { isHeld(port) }

        let refused = try runSolo(["-port=\(port)", "true"], in: scratch)
        #expect(refused.status == 98)
        #expect(refused.stderr == "solo(\(port)): Address already in use\n")
        #expect(refused.stdout.isEmpty)

        let silent = try runSolo(["-silent", "-port=\(port)", "true"], in: scratch)
        #expect(silent.status == 0 && silent.stdout.isEmpty && silent.stderr.isEmpty)
        holder.signal(SIGKILL)
    }

    @Test func theCommandHoldsTheLockForItsWholeLifeAndNoLonger() throws {
        let scratch = Scratch()
        let port = try freePort()
        // exec: the pid that holds the lock is the command's own. (Spawned without Foundation,
        // whose Process hands every child a socket of its own.)
        let holder = try spawn(SpawnRequest(path: soloBinary, arguments: [soloBinary, "-port=\(port)", "sleep", "30"],
                                            environment: ["PATH=/usr/bin:/bin"], descriptors: [nil, nil, FileDescriptor.standardError]))
        defer { Processes.signal(holder, SIGKILL); _ = Processes.wait(for: holder) }
        try waitFor("port \(port) to be held") { isHeld(port) }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(holder)/fd")) ?? []
        let sockets = fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(holder)/fd/\($0)") }
            .filter { $0.hasPrefix("socket:") }
        #expect(sockets.count == 1, "the exec'd command holds the bound socket")
        try waitFor("solo to become the command (same pid)") { (try? String(contentsOfFile: "/proc/\(holder)/comm", encoding: .utf8)) == "sleep\n" }

        // Bound, never listening: nothing can connect to it.
        let attempt = connectLoopback(port)
        if let socket = attempt.socket { close(socket) }
        #expect(attempt.socket == nil && attempt.error == ECONNREFUSED)

        Processes.signal(holder, SIGKILL)
        try waitFor("the kernel to free port \(port) after SIGKILL", seconds: 2) { !isHeld(port) }

        let short = try runSolo(["-port=\(port)", "sh", "-c", "exit 3"], in: scratch)
        #expect(short.status == 3, "the command's own exit status")
        #expect(!isHeld(port))
    }

    @Test func verboseAndNoCommandOnlyTestTheLock() throws {
        let scratch = Scratch()
        let port = try freePort()
        let result = try runSolo(["-verbose", "-port=\(port)"], in: scratch)
        #expect(result.status == 0)
        #expect(result.stdout == "solo: bind 127.0.0.1:\(port)\n")
    }

    @Test func timeoutEndsTheRunAndSurvivesExec() throws {
        let scratch = Scratch()
        let port = try freePort()
        let started = Date()
        let result = try runSolo(["-port=\(port)", "-timeout=1", "sleep", "30"], in: scratch)
        #expect(result.status == 128 + SIGALRM)
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(!isHeld(port))
    }

    @Test func sleepWaitsWithTheLockHeld() throws {
        let scratch = Scratch()
        let port = try freePort()
        let sleeper = try Child(["-port=\(port)", "-sleep=0.5", "true"], in: scratch)
        try waitFor("the lock to be held while sleeping") { isHeld(port) || !sleeper.process.isRunning }
        #expect(isHeld(port))
        #expect(try sleeper.wait() == 0)
    }

    @Test func aCommandThatCannotRunExits127WithAReason() throws {
        let scratch = Scratch()
        let port = try freePort()
        let missing = try runSolo(["-port=\(port)", "/nonexistent/worker"], in: scratch)
        #expect(missing.status == 127)
        #expect(missing.stderr == "solo: /nonexistent/worker: command not found\n")
        let notInPath = try runSolo(["-port=\(port)", "no-such-command-xyz"], in: scratch)
        #expect(notInPath.status == 127)
        scratch.write("plain.txt", "not a program")
        let notExecutable = try runSolo(["-port=\(port)", "./plain.txt"], in: scratch)
        #expect(notExecutable.status == 127)
        #expect(notExecutable.stderr == "solo: ./plain.txt: permission denied\n")
        #expect(!isHeld(port))
    }

    @Test func badSwitchesAreUsageErrors() throws {
        let scratch = Scratch()
        let unknown = try runSolo(["-prot=3801", "true"], in: scratch)
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("unknown switch -prot=3801 (did you mean -port?)"))
        let spaced = try runSolo(["-port", "3801", "true"], in: scratch)
        #expect(spaced.status == 2 && spaced.stderr.contains("write -port=VALUE"))
        let noport = try runSolo(["-noport", "sh", "-c", "exit 4"], in: scratch)
        #expect(noport.status == 4)
    }

    @Test func worksFromCronsBareEnvironment() throws {
        let scratch = Scratch()
        let port = try freePort()
        let result = try runSolo(["-port=\(port)", "sh", "-c", "echo ran"], in: scratch, environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status == 0 && result.stdout == "ran\n")
    }

    @Test(.enabled(if: getuid() == 0, "needs root to run as two users"))
    func eachUserHasItsOwnAddressUnlessAddrIsGiven() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o755)
        let port = try freePort()
        let holder = try Child(["-port=\(port)", "sleep", "30"], in: scratch, name: "holder")
        try waitFor("root's lock") { isHeld(port) }

        func asNobody(_ arguments: [String]) throws -> SoloKit.ExitStatus? {
            var request = SpawnRequest(path: soloBinary, arguments: [soloBinary] + arguments,
                                       environment: ["PATH=/usr/bin:/bin"], directory: "/",
                                       descriptors: [nil, FileDescriptor.standardError, FileDescriptor.standardError])
            request.credentials = Credentials(uid: 65534, gid: 65534, groups: [65534])
            return Processes.wait(for: try spawn(request))
        }
        // uid 65534 binds 127.255.254.1: root's lock on the same port is another lock.
        #expect(try asNobody(["-port=\(port)", "true"]) == .exited(0))
        #expect(try asNobody(["-addr=127.0.0.1", "-port=\(port)", "true"]) == .exited(98))
        holder.signal(SIGKILL)
    }
}
