import CSQLite
import Glibc

/// Why a queue cannot be used now. `busy` passes by itself (another writer holds the lock);
/// the others need someone to act, and say what (`full`: the disk has no room for a write).
public struct QueueError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Equatable, Sendable { case busy, full, unavailable }
    public let kind: Kind
    public let message: String

    public var description: String { message }

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// A queue file this user may not even look for (a directory on its path denies it): an
    /// error, never taken for a queue with no job.
    public static func unreachable(_ path: String, _ error: Errno) -> QueueError {
        QueueError(.unavailable, "\(path): \(error) (uid \(getuid())); run this as the user the supervisor runs as, or as root, or give this user access to the directories of that path")
    }

    init(_ error: DatabaseError, path: String) {
        let primary = error.primary
        if error.isBusy {
            self.init(.busy, "\(path): busy (another process is writing)")
        } else if error.isDiskFull {
            self.init(.full, "\(path): the disk is full (free some space)")
        } else if primary == SQLITE_NOTADB {
            self.init(.unavailable, "\(path) is not an SQLite database, so not a solo queue; point queue at another file")
        } else if primary == SQLITE_CORRUPT {
            self.init(.unavailable, "\(path) is corrupt (\(error.message)); restore it or point queue at another file")
        } else if primary == SQLITE_CANTOPEN || primary == SQLITE_PERM || primary == SQLITE_READONLY {
            self.init(.unavailable, "\(path): cannot open it for writing (\(error.message)); check the path and its permissions")
        } else {
            self.init(.unavailable, "\(path): \(error.message)")
        }
    }
}
