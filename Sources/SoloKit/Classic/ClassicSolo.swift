/// Classic solo: take the port lock, then become the command, which inherits the bound
/// socket and so holds the lock for exactly as long as it lives.
public enum ClassicSolo {
    /// Runs the classic form; returns only to exit with the status it gives.
    public static func run(_ options: ClassicOptions) -> Int32 {
        // The command starts with a clean signal mask, whatever solo was started with: a
        // blocked SIGALRM would void -timeout, a blocked SIGTERM would make it unstoppable.
        Signals.unblockAll()
        // Before the bind, as the original does: the alarm survives exec and ends the run.
        if let timeout = options.timeout { Signals.alarm(after: timeout) }

        if let port = options.port {
            let address: UInt32
            if let given = options.address {
                address = given
            } else {
                do { address = try LockAddress.forUser(Accounts.ownUID) } catch {
                    complain("solo(\(port)): \(error)")
                    return 2
                }
            }
            if options.verbose { say("solo: bind \(LockAddress.format(address)):\(port)\n") }
            do {
                // Inheritable on purpose: the lock is the command's to hold (with -lock, solo
                // stays to renew the fleet lock, and holds the port itself).
                _ = try PortLock.acquire(address: address, port: port, inheritable: options.lock == nil)
            } catch Errno.addressInUse where options.silent {
                return 0
            } catch {
                // Like the original's `die`: the errno is the exit status (98: address in use).
                complain("solo(\(port)): \(error)")
                return error.rawValue
            }
        }

        if let pause = options.sleep { Moment.sleep(for: pause) }

        guard let program = options.command.first else { return 0 }
        guard let path = resolve(program) else { return 127 }
        if let lock = options.lock { return ClassicLock.run(options, lock: lock, program: path) }
        let error = Processes.become(path, arguments: options.command)
        complain("solo: \(program): \(error)")
        return 127
    }

    /// The command's program on PATH, or nil after saying why not.
    static func resolve(_ program: String) -> String? {
        let searchPath = Host.variable("PATH") ?? ProgramPath.defaultSearchPath
        guard let path = ProgramPath.resolve(program, searchPath: searchPath, directory: Files.currentDirectory()) else {
            let reason = program.contains("/") && Files.exists(program) ? "permission denied" : "command not found"
            complain("solo: \(program): \(reason)")
            return nil
        }
        return path
    }

    static func say(_ text: String) { try? FileDescriptor.standardOutput.writeAll(text) }
    static func complain(_ text: String) { try? FileDescriptor.standardError.writeAll(text + "\n") }
}
