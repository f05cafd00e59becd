import Glibc

/// A startup problem that stops the supervisor before it runs anything.
public struct StartupError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// How a pool's workers are started, resolved once at startup: who they run as, their
/// limits, and where their output goes.
struct LaunchPlan {
    let pool: PoolConfig
    let credentials: Credentials?
    let account: UserAccount?
    let limits: [ResourceLimit]

    /// Resolves users and limits; fails with a message that says what to change.
    init(pool: PoolConfig, inheritedOpenFiles: (soft: UInt64, hard: UInt64)) throws(StartupError) {
        self.pool = pool
        let uid = Accounts.ownUID
        var account: UserAccount? = nil
        var credentials: Credentials? = nil
        if let userName = pool.user {
            guard let user = Accounts.user(userName) else {
                throw StartupError("pool \(pool.name): no user \(quoted(userName)) on this machine")
            }
            account = user
            var gid = user.gid
            if let groupName = pool.group {
                guard let group = Accounts.group(groupName) else { throw StartupError("pool \(pool.name): no group \(quoted(groupName))") }
                gid = group.gid
            }
            if uid == 0 {
                credentials = Credentials(uid: user.uid, gid: gid,
                                          groups: Accounts.supplementaryGroups(of: user, primary: gid, in: Accounts.groups()))
            } else if user.uid != uid || gid != Accounts.ownGID {
                throw StartupError("pool \(pool.name): user = \(userName) needs solo to run as root (it runs as uid \(uid)); remove the key or start solo as root")
            }
        } else if let groupName = pool.group {
            guard let group = Accounts.group(groupName) else { throw StartupError("pool \(pool.name): no group \(quoted(groupName))") }
            if uid == 0 {
                credentials = Credentials(uid: 0, gid: group.gid, groups: [group.gid])
            } else if group.gid != Accounts.ownGID {
                throw StartupError("pool \(pool.name): group = \(groupName) needs solo to run as root; remove the key or start solo as root")
            }
        }
        self.account = account
        self.credentials = credentials

        var limits: [ResourceLimit] = []
        for setting in pool.limits {
            guard let resource = Resources.byName.first(where: { $0.0 == setting.name })?.1 else { continue }
            limits.append(ResourceLimit(resource: resource, soft: setting.soft, hard: setting.hard))
        }
        // The supervisor raised its own open-file limit; workers get back the one solo was given.
        if !pool.limits.contains(where: { $0.name == "nofile" }) {
            limits.append(ResourceLimit(resource: Resources.byName.first { $0.0 == "nofile" }!.1,
                                        soft: inheritedOpenFiles.soft, hard: inheritedOpenFiles.hard))
        }
        self.limits = limits
    }

    /// The spawn request for one worker; `descriptors` are its stdin, stdout, stderr and fd 3.
    func request(for order: SpawnOrder, descriptors: [FileDescriptor?], inherited: [String], extra: [(String, String)]) throws(SpawnError) -> SpawnRequest {
        let environment = WorkerEnvironment.build(pool: pool, slot: order.slot, jobLimit: order.jobLimit,
                                                  inherited: inherited, account: account, extra: extra)
        let program = pool.command[0]
        guard let path = ProgramPath.resolve(program, searchPath: pool.searchPath, directory: pool.directory) else {
            let why: Errno = program.contains("/") && Files.exists(Path.resolve(program, against: pool.directory)) ? .permissionDenied : .noSuchFile
            throw SpawnError(stage: .exec, errno: why, path: program, directory: pool.directory)
        }
        var request = SpawnRequest(path: path, arguments: pool.command, environment: environment,
                                   directory: pool.directory, descriptors: descriptors)
        request.newSession = true
        request.deathSignal = SIGKILL
        request.umask = pool.umask.map { mode_t($0) }
        request.credentials = credentials
        request.limits = limits
        return request
    }
}

/// The supervisor's side of one worker process: its pipes and what is half-read on them.
final class WorkerProcess {
    let id: UInt64
    let pid: pid_t
    let pool: Pool
    let prefix: String
    /// The write end of the worker's stdin: held open and unused in poll mode.
    var input: FileDescriptor?
    var output: FileDescriptor?
    var control: FileDescriptor?
    var outputLines = LineBuffer(maximumLine: 16 * 1024, overflow: .split)
    var controlLines = LineBuffer(maximumLine: WorkerMessage.maximumLine, overflow: .truncate)
    let memory: ResidentMemoryReader?
    /// Set once the process is reaped: its pid no longer names it.
    var reaped = false
    /// Feed mode: job lines not yet taken by the worker's stdin pipe.
    var inputPending: [UInt8] = []
    /// Feed mode: what could not be written because the worker's stdin was closed: never read.
    var inputLost: [UInt8] = []
    /// Feed mode: a job line held back until the store has noted the worker for its group (no
    /// line may pass it).
    var lineHeld = false
    var inputWatched = false
    var closeInputWhenWritten = false

    init(id: UInt64, pid: pid_t, pool: Pool, slot: Int, input: FileDescriptor, output: FileDescriptor, control: FileDescriptor) {
        self.id = id
        self.pid = pid
        self.pool = pool
        self.input = input
        self.output = output
        self.control = control
        prefix = "\(pool.name)[\(slot)] \(pid): "
        memory = pool.samplesMemory ? ResidentMemoryReader(pid: pid) : nil
    }

    func closeAll() {
        input?.close()
        output?.close()
        control?.close()
        input = nil
        output = nil
        control = nil
    }
}
