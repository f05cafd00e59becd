import CSoloSpawn
import Glibc

/// Who a worker runs as, when solo runs as root.
public struct Credentials: Equatable, Sendable {
    public var uid: uid_t
    public var gid: gid_t
    public var groups: [gid_t]

    public init(uid: uid_t, gid: gid_t, groups: [gid_t]) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
}

/// A resource limit to set in the child; `UInt64.max` is unlimited.
public struct ResourceLimit: Equatable, Sendable {
    public var resource: Int32
    public var soft: UInt64
    public var hard: UInt64

    public init(resource: Int32, soft: UInt64, hard: UInt64) {
        self.resource = resource
        self.soft = soft
        self.hard = hard
    }

    public static let unlimited = UInt64.max
}

/// Everything the child does between fork and exec, as data.
public struct SpawnRequest {
    public var path: String
    public var arguments: [String]
    public var environment: [String]
    public var directory: String?
    /// The child's descriptor i is a copy of `descriptors[i]`; nil leaves it closed.
    public var descriptors: [FileDescriptor?]
    public var newSession = true
    /// The guardian's pipe, to which the child registers its session before exec.
    public var guardian: FileDescriptor?
    public var deathSignal: Int32 = 0
    public var umask: mode_t?
    public var credentials: Credentials?
    public var limits: [ResourceLimit] = []

    public init(path: String, arguments: [String], environment: [String], directory: String? = nil,
                descriptors: [FileDescriptor?]) {
        self.path = path
        self.arguments = arguments
        self.environment = environment
        self.directory = directory
        self.descriptors = descriptors
    }
}

/// A spawn that failed, and the step of the child that failed.
public struct SpawnError: Error, Equatable, CustomStringConvertible {
    public enum Stage: Int32, Sendable {
        case none = 0, signals, session, deathSignal, descriptors, limits, groups, setgid, setuid, directory, exec, clone
    }

    public let stage: Stage
    public let errno: Errno
    public let path: String
    public let directory: String?

    public var description: String {
        switch stage {
        case .exec: return "cannot execute \(path): \(errno)"
        case .directory: return "cannot enter directory \(directory ?? "?"): \(errno)"
        case .setuid, .setgid, .groups: return "cannot switch user (\(stage)): \(errno)"
        case .limits: return "cannot set a resource limit: \(errno)"
        case .clone: return "cannot start a process: \(errno)"
        default: return "cannot prepare the process (\(stage)): \(errno)"
        }
    }
}

/// Starts a process as `request` says; returns its pid.
public func spawn(_ request: SpawnRequest) throws(SpawnError) -> pid_t {
    let argv = request.arguments.map { strdup($0) } + [nil]
    let envp = request.environment.map { strdup($0) } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    let fds = request.descriptors.map { $0?.rawValue ?? -1 }
    let fdStorage = fds.isEmpty ? [-1] : fds  // a valid pointer even for none; nfds says 0
    let groups = request.credentials?.groups ?? []
    let limits = request.limits.map { solo_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
    var pid: pid_t = -1
    var stage: Int32 = 0

    let result: Int32 = request.path.withCString { path in
        withOptionalCString(request.directory) { directory in
            argv.withUnsafeBufferPointer { argvBuffer in
                envp.withUnsafeBufferPointer { envpBuffer in
                    fdStorage.withUnsafeBufferPointer { fdBuffer in
                        groups.withUnsafeBufferPointer { groupBuffer in
                            limits.withUnsafeBufferPointer { limitBuffer in
                                let credentials = request.credentials
                                var raw = solo_spawn_request(
                                    path: path,
                                    argv: argvBuffer.baseAddress!,
                                    envp: envpBuffer.baseAddress!,
                                    directory: directory,
                                    fds: fdBuffer.baseAddress!,
                                    nfds: Int32(fds.count),
                                    new_session: request.newSession ? 1 : 0,
                                    guardian_fd: request.guardian?.rawValue ?? -1,
                                    death_signal: request.deathSignal,
                                    umask: request.umask.map { Int32($0) } ?? -1,
                                    set_ids: credentials == nil ? 0 : 1,
                                    uid: credentials?.uid ?? 0,
                                    gid: credentials?.gid ?? 0,
                                    groups: groupBuffer.baseAddress,
                                    ngroups: Int32(groupBuffer.count),
                                    rlimits: limitBuffer.baseAddress,
                                    nrlimits: Int32(limitBuffer.count))
                                return solo_spawn(&raw, &pid, &stage)
                            }
                        }
                    }
                }
            }
        }
    }
    if result != 0 {
        throw SpawnError(stage: SpawnError.Stage(rawValue: stage) ?? .none, errno: Errno(result),
                         path: request.path, directory: request.directory)
    }
    return pid
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
