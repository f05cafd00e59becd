/// Where the supervisor (root, often) may open a log file. A log lives where workers may reach
/// it: a worker that can write the file's directory, or rename a directory above it, can put
/// a link there and have root append to any file, or create one, at the next SIGUSR1 or
/// restart (nginx's CVE-2016-1247, with /etc/ld.so.preload as the prize). So the path is walked
/// from / one directory at a time, each held open while the next name is taken from it (no
/// rename can redirect the walk between a check and the open), never through a symbolic link
/// (write the real path instead), and each directory must pass `problem(with:)`:
/// - it belongs to root or solo's own user;
/// - it is writable by every user only when sticky (as /tmp is: others cannot rename or replace
///   what is not theirs there), and never when it holds the file (anyone could put their own
///   file in the log's place before it is made);
/// - a group may write it only when the group is root's or solo's, or the directory is above
///   the file's own: there that group could only swap the next name for another directory
///   already in it, which must itself be root's or solo's and pass the same rules (a link, or a
///   directory of theirs, is refused), so it cannot lead the log anywhere of its choosing
///   (/var/log is root:syslog 0775 on Ubuntu). In the file's own directory it could put a file of
///   its own, or a hard link, in the log's place.
/// The file itself is opened only where it is (never through a link) and only when it is a plain
/// file with no other name, or a character device (/dev/null).
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

    /// The names to walk from / to `file` (an absolute path): its directories', then its own.
    public static func names(of file: String) -> [String] {
        file.split(separator: "/").filter { $0 != "." }.map(String.init)
    }

    /// Why the walk stops at a symbolic link named `path` (a directory on the way, or the file
    /// itself when `isTheFile`); `realPath`: where it leads, when that can be told.
    public static func linkOnTheWay(_ path: String, isTheFile: Bool, realPath: String?) -> String {
        if isTheFile {
            return "\(path) is a symbolic link; solo opens a log file only where it is, never through a link (remove the link)"
        }
        let real = realPath.map { " (\($0))" } ?? ""
        return "\(path) is a symbolic link; solo reaches a log file only through real directories, never through a link "
            + "(whoever may change where it leads could redirect the log): write the real path\(real) in log_file or log_dir"
    }

    /// What makes the directory `status` (opened at `path`) unsafe to pass on the way to a log
    /// file; nil when it is safe. `holdsTheFile`: `path` is the file's own directory.
    public static func problem(with status: Files.Status, at path: String, holdsTheFile: Bool, trust: Trust) -> String? {
        guard status.kind == .directory else { return "\(path) is not a directory" }
        guard trust.users.contains(status.owner) else {
            return "\(path) is a directory of uid \(status.owner), who could redirect the log to any file; \(fix)"
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
