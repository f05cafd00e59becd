/// Where the supervisor (root, often) may open a log file. A log lives where workers may reach
/// it: a worker that can write the file's directory, or rename a directory above it, can put
/// a link there and have root append to any file, or create one, at the next SIGUSR1 or
/// restart (nginx's CVE-2016-1247, with /etc/ld.so.preload as the prize). So every directory on
/// the way must belong to root or solo's own user, the file's own directory must be writable
/// by no one else, a directory above it only when sticky (as /tmp is: others cannot replace what
/// is not theirs there), and the file itself is opened only where it is (never through a link)
/// and only when it is a plain file with no other name.
public enum LogPath {
    /// Who may own what the log's path goes through: root and solo's own user (and groups).
    public struct Trust {
        public var users: Set<UInt32>
        public var groups: Set<UInt32>

        public init(users: Set<UInt32>, groups: Set<UInt32>) {
            self.users = users
            self.groups = groups
        }
    }

    static let fix = "make each directory belong to root (or solo's user) and writable only by it, or put the log elsewhere"

    /// The directories from / down to the one that holds `file` (an absolute path), each once.
    public static func directories(of file: String) -> [String] {
        let parts = file.split(separator: "/").dropLast()
        var result = ["/"]
        var path = ""
        for part in parts where part != "." {
            path += "/" + part
            result.append(path)
        }
        return result
    }

    /// What makes `status` (of `path`, not following a link) unsafe to pass on the way to a log
    /// file; nil when it is safe. `holdsTheFile`: `path` is the file's own directory.
    public static func problem(with status: Files.Status, at path: String, holdsTheFile: Bool, trust: Trust) -> String? {
        guard trust.users.contains(status.owner) else {
            let what = status.kind == .link ? "a symbolic link" : "a directory"
            return "\(path) is \(what) of uid \(status.owner), who could redirect the log to any file; \(fix)"
        }
        switch status.kind {
        case .link: return nil  // root's own (/var/run -> /run): what it leads to is checked next
        case .directory: break
        default: return "\(path) is not a directory"
        }
        if status.mode & 0o002 != 0, holdsTheFile || status.mode & 0o1000 == 0 {
            return "\(path) is writable by every user, who could put a link in place of the log; \(fix)"
        }
        if holdsTheFile, status.mode & 0o020 != 0, !trust.groups.contains(status.group) {
            return "\(path) is writable by group \(status.group), whose members could put a link in place of the log; \(fix)"
        }
        return nil
    }

    /// What makes an opened log file unsafe to write; nil for a plain file of one name (or a
    /// character device, such as /dev/null).
    public static func problem(withFile status: Files.Status, at path: String) -> String? {
        switch status.kind {
        case .regular where status.links > 1:
            return "\(path) has \(status.links) names (a hard link to another file?); remove it and let solo create it anew"
        case .regular, .characterDevice: return nil
        default: return "\(path) is not a plain file"
        }
    }
}
