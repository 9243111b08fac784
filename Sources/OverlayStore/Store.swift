import Foundation
import GRDB
import OverlayModel
import SystemCalls

/// The desired state: in one SQLite file (WAL mode), or in a PostgreSQL database that several
/// controller replicas share. Every command runs in one write transaction; an error anywhere rolls
/// the whole command back.
public final class Store: Sendable {
    enum Engine: Sendable {
        case sqlite(DatabasePool)
        case postgres(PostgresEngine)
    }

    let engine: Engine

    /// Opens the store at `location` and migrates it to the current schema.
    public convenience init(_ location: StoreLocation) throws {
        switch location {
        case .sqlite(let path): try self.init(path: path)
        case .postgres(let p): try self.init(postgres: p)
        }
    }

    /// Connects to a PostgreSQL database (which must exist) and migrates it to the current schema.
    public init(postgres location: PostgresLocation) throws {
        let pg = PostgresEngine(location)
        try pg.migrate(Schema.migrations)
        engine = .postgres(pg)
        try assignMissingRelayPorts()
    }

    /// Creates an empty database `name` on the server of `server` (its own database is only
    /// used to connect). For provisioning and tests.
    public static func createPostgresDatabase(_ name: String, server: PostgresLocation) throws {
        try PostgresEngine(server).statement("CREATE DATABASE \(try Self.identifier(name))")
    }

    /// Drops database `name`, closing the connections still open to it.
    public static func dropPostgresDatabase(_ name: String, server: PostgresLocation) throws {
        try PostgresEngine(server).statement("DROP DATABASE IF EXISTS \(try Self.identifier(name)) WITH (FORCE)")
    }

    private static func identifier(_ name: String) throws(StoreLocationError) -> String {
        guard !name.isEmpty, name.utf8.count <= 63,
            name.utf8.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5f })
        else { throw StoreLocationError(name, "a database name of lowercase letters, digits and _ (at most 63)") }
        return name
    }

    /// Opens (creating when missing) the SQLite database at `path` and migrates it to the current schema.
    public init(path: String) throws {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        // Reads are short; each reader connection keeps its own page cache (up to 2 MB), so two
        // in parallel are enough and keep the controller's memory what it was with one thread.
        config.maximumReaderCount = 2
        try Self.prepareFile(path)
        let pool = try DatabasePool(path: path, configuration: config)
        try Schema.migrator.migrate(pool)
        engine = .sqlite(pool)
        try assignMissingRelayPorts()
    }

    /// The database holds sealed keys and token hashes. Missing parent directories are made
    /// 0700 and a new file 0600 before SQLite opens it (its -wal and -shm files take the file's
    /// mode), whatever the umask; an existing file that others may read is refused.
    static func prepareFile(_ path: String) throws(StoreFileError) {
        let parent = (path as NSString).deletingLastPathComponent
        var dir = parent.hasPrefix("/") ? "/" : ""
        for part in parent.split(separator: "/") {
            dir += part
            do throws(SystemCallError) { try systemCall("mkdir", dir) { mkdir(dir, 0o700) } } catch
                where error.errno == .EEXIST
            {} catch {
                throw .io(error)
            }
            dir += "/"
        }
        do throws(SystemCallError) {
            let fd = try systemCall("create", path) { open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
            close(fd)
            return
        } catch  where error.errno == .EEXIST {
        } catch {
            throw .io(error)
        }
        var st = stat()
        do throws(SystemCallError) { try systemCall("stat", path) { stat(path, &st) } } catch { throw .io(error) }
        guard st.st_mode & 0o077 == 0 else { throw .exposed(path, mode: st.st_mode & 0o7777) }
    }

    /// Runs `body` in one write transaction. On PostgreSQL it is serializable, and `body` runs
    /// again when a concurrent transaction (another replica's) forced it to abort: it must do
    /// nothing outside the transaction that cannot be done twice.
    /// Opening the store gives old hub memberships their relay ports: a read finds there are none
    /// to give on every later open, so no open takes the writers' turn (and PostgreSQL's lock) for
    /// nothing.
    private func assignMissingRelayPorts() throws {
        guard try read({ try !$0.membershipsMissingRelayPorts().isEmpty }) else { return }
        try write { tx in try tx.assignMissingRelayPorts() }
    }

    public func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        switch engine {
        case .sqlite(let pool): try pool.write { db in try body(Transaction(conn: SQLiteConnection(db: db))) }
        case .postgres(let pg): try pg.write(body)
        }
    }

    /// The answer of one query, which PostgreSQL gives in one statement: consistent without a
    /// transaction around it (one round trip, where a transaction takes three statements).
    public func fetch<T>(_ query: (Transaction) -> Transaction.Query<T>) throws -> T {
        switch engine {
        case .sqlite(let pool):
            try pool.read { db in
                let tx = Transaction(conn: SQLiteConnection(db: db))
                return try tx.fetch(query(tx))
            }
        case .postgres(let pg):
            try pg.autocommit { session in
                let tx = Transaction(conn: session)
                return try tx.fetch(query(tx))
            }
        }
    }

    /// Runs `body` on one consistent snapshot.
    public func read<T>(_ body: (Transaction) throws -> T) throws -> T {
        switch engine {
        case .sqlite(let pool): try pool.read { db in try body(Transaction(conn: SQLiteConnection(db: db))) }
        case .postgres(let pg): try pg.read(body)
        }
    }

    /// How many statements this store sent to PostgreSQL, and how many times it waited for an
    /// answer, since it was opened (nil on SQLite). For the benchmarks.
    public var statementCounts: (sent: Int, waits: Int)? {
        guard case .postgres(let pg) = engine else { return nil }
        return (pg.counter.sent.load(ordering: .relaxed), pg.counter.waits.load(ordering: .relaxed))
    }

    /// Which engine holds the store.
    public var isPostgres: Bool {
        if case .postgres = engine { return true }
        return false
    }
}

/// Why the database file could not be opened safely.
public enum StoreFileError: Error, CustomStringConvertible {
    case io(SystemCallError)
    /// Others may read it: it holds sealed keys and token hashes.
    case exposed(String, mode: mode_t)

    public var description: String {
        switch self {
        case .io(let e): e.description
        case .exposed(let path, let mode):
            "database \(path) is open to other users (mode \(String(mode, radix: 8))); it holds sealed keys and "
                + "token hashes: chmod 600 \(path) (and its -wal and -shm files)"
        }
    }
}

/// One transaction's view of the store: typed reads and writes.
public struct Transaction {
    let conn: any SQLConnection

    func rows(_ sql: String, _ arguments: any SQLBindable...) throws -> [SQLRow] {
        try conn.fetchAll(sql, arguments)
    }

    func row(_ sql: String, _ arguments: any SQLBindable...) throws -> SQLRow? {
        try conn.fetchAll(sql, arguments).first
    }

    @discardableResult
    func execute(_ sql: String, _ arguments: any SQLBindable...) throws -> Int {
        try conn.execute(sql, arguments)
    }

    /// A write whose answer nothing reads: PostgreSQL's goes out with the next statement (its
    /// failure is thrown there, or by the commit).
    func executeDeferred(_ sql: String, _ arguments: any SQLBindable...) throws {
        try conn.executeDeferred(sql, arguments)
    }
}
