import CSQLite
import Glibc

/// An SQLite error, with the result code and SQLite's own message.
public struct DatabaseError: Error, CustomStringConvertible, Equatable {
    public let code: Int32
    public let message: String
    /// The errno of the system call that failed, for an I/O error (0 when none is known).
    public var systemErrno: Int32 = 0

    public var description: String { message }

    /// The primary result code (SQLITE_BUSY, SQLITE_FULL, ...), without extended bits.
    public var primary: Int32 { code & 0xff }
    public var isBusy: Bool { primary == SQLITE_BUSY || primary == SQLITE_LOCKED }
    /// No room for a write: SQLITE_FULL, or an I/O error whose call failed with ENOSPC or
    /// EDQUOT (growing the -shm or the -wal on a full disk, say).
    public var isDiskFull: Bool {
        primary == SQLITE_FULL || primary == SQLITE_IOERR && (systemErrno == ENOSPC || systemErrno == EDQUOT)
    }
}

/// A thin, typed layer over one SQLite connection: statements are prepared once and reused.
public final class Database {
    /// Memory SQLite holds in this process (page caches, statements, temporary tables).
    public static var memoryInUse: Int64 { sqlite3_memory_used() }

    let handle: OpaquePointer
    public let path: String

    /// Opens (and with `create`, creates) a database file. Never through a symbolic link: a
    /// queue's directory is writable by the programs that push (see solo-queue(5)), and one of
    /// them could otherwise make a root supervisor create or write any file. SQLite refuses a
    /// link anywhere in the name (NOFOLLOW), so the directory's own links (root's, such as
    /// /var/run) are resolved first.
    public init(path: String, create: Bool, readOnly: Bool = false) throws(DatabaseError) {
        var db: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW
        flags |= readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        let resolved = path.contains("/") ? (try? Files.realPath(Path.directory(of: path))).map { $0 + "/" + Path.lastComponent(path) } ?? path : path
        let rc = sqlite3_open_v2(resolved, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            if (try? Files.linkStatus(path))?.kind == .link {
                if let db { sqlite3_close_v2(db) }
                throw DatabaseError(code: rc, message: "\(path) is a symbolic link; solo opens a queue file only where it is, never through a link (remove the link)")
            }
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let systemErrno = db.map { sqlite3_system_errno($0) } ?? 0
            if let db { sqlite3_close_v2(db) }
            throw DatabaseError(code: rc, message: message, systemErrno: systemErrno)
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    func error(_ code: Int32) -> DatabaseError {
        DatabaseError(code: code, message: String(cString: sqlite3_errmsg(handle)), systemErrno: sqlite3_system_errno(handle))
    }

    /// Runs SQL without results (several statements allowed).
    public func execute(_ sql: String) throws(DatabaseError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(rc) }
    }

    public func prepare(_ sql: String) throws(DatabaseError) -> Statement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc) }
        return Statement(database: self, handle: statement)
    }

    /// Milliseconds SQLite waits for a lock before SQLITE_BUSY (0: never waits).
    public func setBusyTimeout(milliseconds: Int32) { sqlite3_busy_timeout(handle, milliseconds) }

    /// Runs `body` in a transaction (BEGIN IMMEDIATE: the write lock is taken at once, so a
    /// busy database fails here, not halfway); rolls back when it throws.
    public func transaction<T>(_ body: () throws(DatabaseError) -> T) throws(DatabaseError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    /// Rows changed through this connection since it opened.
    public var totalChanges: Int { Int(sqlite3_total_changes(handle)) }
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// A number that changes whenever another connection commits (PRAGMA data_version).
    public func dataVersion() throws(DatabaseError) -> Int64 {
        let statement = try prepare("PRAGMA data_version")
        guard try statement.step() else { return 0 }
        return statement.int64(0)
    }

    public func scalarInt(_ sql: String) throws(DatabaseError) -> Int64? {
        let statement = try prepare(sql)
        guard try statement.step(), !statement.isNull(0) else { return nil }
        return statement.int64(0)
    }
}

/// A prepared statement: bind, step, read columns, reset.
public final class Statement {
    let database: Database
    let handle: OpaquePointer

    init(database: Database, handle: OpaquePointer) {
        self.database = database
        self.handle = handle
    }

    deinit { sqlite3_finalize(handle) }

    @discardableResult
    public func bind(_ values: [SQLValue]) throws(DatabaseError) -> Statement {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(handle, position)
            case .integer(let n): rc = sqlite3_bind_int64(handle, position, n)
            case .real(let x): rc = sqlite3_bind_double(handle, position, x)
            case .text(let text): rc = sqlite3_bind_text(handle, position, text, -1, solo_sqlite_transient())
            case .textBytes(let bytes): rc = bytes.withUnsafeBytes { bindText(position, $0, copy: true) }
            }
            if rc != SQLITE_OK { throw database.error(rc) }
        }
        return self
    }

    /// Steps once: true with a row, false when done.
    @discardableResult
    public func step() throws(DatabaseError) -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let failure = database.error(rc)
        sqlite3_reset(handle)
        throw failure
    }

    /// Runs to completion, ignoring rows.
    public func run(_ values: [SQLValue] = []) throws(DatabaseError) {
        try bind(values)
        while try step() {}
        sqlite3_reset(handle)
    }

    public func reset() { sqlite3_reset(handle) }

    /// Binds one parameter, keeping the others (for statements run many times with most
    /// parameters the same). `bytes` is copied.
    public func bind(_ index: Int32, _ value: SQLValue) throws(DatabaseError) {
        let rc: Int32
        switch value {
        case .null: rc = sqlite3_bind_null(handle, index)
        case .integer(let n): rc = sqlite3_bind_int64(handle, index, n)
        case .real(let x): rc = sqlite3_bind_double(handle, index, x)
        case .text(let text): rc = sqlite3_bind_text(handle, index, text, -1, solo_sqlite_transient())
        case .textBytes(let bytes):
            rc = bytes.withUnsafeBytes { bindText(index, $0, copy: true) }
        }
        if rc != SQLITE_OK { throw database.error(rc) }
    }

    /// Binds text from a buffer; without `copy`, the buffer must outlive the next step.
    @discardableResult
    public func bindText(_ index: Int32, _ bytes: UnsafeRawBufferPointer, copy: Bool) -> Int32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return sqlite3_bind_text(handle, index, "", 0, solo_sqlite_transient()) }
        return sqlite3_bind_text(handle, index, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                                 copy ? solo_sqlite_transient() : nil)
    }

    /// Steps a statement that returns no row, then resets it (its bindings stay).
    public func execute() throws(DatabaseError) {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    public func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }
    public func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }

    /// A text or blob column's bytes, valid until the next step or reset.
    public func bytes(_ column: Int32) -> UnsafeRawBufferPointer {
        guard let pointer = sqlite3_column_blob(handle, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, column)))
    }

    public func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }
}

public enum SQLValue: Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case textBytes([UInt8])

    public static func optional(_ text: String?) -> SQLValue { text.map { .text($0) } ?? .null }
    public static func optional(_ number: Int?) -> SQLValue { number.map { .integer(Int64($0)) } ?? .null }
}
