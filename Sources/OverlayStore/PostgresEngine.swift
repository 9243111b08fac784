import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// The PostgreSQL engine: a small set of connections reused one transaction at a time. Store
/// calls already run on threads of their own (the controller's database executor), never on an
/// event loop, so each statement waits for its answer.
final class PostgresEngine: Sendable {
    let location: PostgresLocation
    let logger: Logger
    /// This process's id in the notices it sends, so it skips its own.
    let origin = UUID().uuidString
    private let idle = Mutex<[PostgresConnection]>([])
    private let nextID = Atomic<Int>(0)
    let counter = StatementCounter()
    /// How many times a write is tried when PostgreSQL aborts it for a concurrent one.
    static let writeAttempts = 10
    /// The advisory lock writers take turns through (any number of this store's own).
    static let writersLock = 0x6f76_6c79

    init(_ location: PostgresLocation) {
        self.location = location
        var l = Logger(label: "overlay.store.postgres")
        l.logLevel = .critical
        logger = l
    }

    deinit {
        for c in idle.withLock({ $0 }) { try? c.close().wait() }
    }

    var configuration: PostgresConnection.Configuration {
        var c = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: location.password,
            database: location.database, tls: .disable)
        c.options.connectTimeout = .seconds(5)
        return c
    }

    /// A new connection of its own (the listener keeps one for as long as it lives).
    func connect() throws -> PostgresConnection {
        do {
            return try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                id: nextID.add(1, ordering: .relaxed).newValue, logger: logger
            ).wait()
        } catch {
            throw PostgresSession.translate(error, location: location)
        }
    }

    /// Runs `body` on an idle connection (or a new one); a connection that broke is dropped.
    private func withConnection<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        var connection: PostgresConnection
        repeat {
            connection = try idle.withLock { $0.popLast() } ?? connect()
        } while connection.isClosed
        let session = PostgresSession(
            connection: connection, logger: logger, location: location, origin: origin, counter: counter)
        defer {
            if connection.isClosed {
                _ = connection.close() as EventLoopFuture<Void>
            } else {
                idle.withLock { $0.append(connection) }
            }
        }
        return try body(session)
    }

    /// One transaction. A connection that was idle may have been closed by the server meanwhile
    /// (a restart): its first statement fails before anything ran, so the transaction starts
    /// over once on a new connection.
    ///
    /// Writers take turns through a session advisory lock taken before the transaction starts, so
    /// each one's snapshot already holds the previous one's commit: every command moves the one
    /// store revision, and writers that all ran at once would abort each other over it. The lock
    /// and BEGIN are not waited for: they go out with the transaction's first statement, whose
    /// answer comes after theirs.
    private func transaction<T>(_ begin: String, exclusive: Bool = false, _ body: (Transaction) throws -> T) throws -> T
    {
        var fresh = false
        while true {
            do {
                return try withConnection { session in
                    if exclusive { try session.executeDeferred("SELECT pg_advisory_lock(\(Self.writersLock))", []) }
                    try session.executeDeferred(begin, [])
                    // Not waited for: the connection runs it before anything sent after it, and
                    // a connection lost meanwhile releases the lock with it.
                    defer { if exclusive { _ = session.send("SELECT pg_advisory_unlock(\(Self.writersLock))", []) } }
                    do {
                        let result = try body(Transaction(conn: session))
                        try session.commit()
                        return result
                    } catch {
                        _ = try? session.execute("ROLLBACK", [])
                        if let e = error as? StoreUnavailableError, !session.pending.answered {
                            throw StaleConnection(underlying: e)
                        }
                        throw error
                    }
                }
            } catch let e as StaleConnection {
                if fresh { throw e.underlying }
                fresh = true
            }
        }
    }

    private struct StaleConnection: Error { var underlying: StoreUnavailableError }

    /// A serializable write, tried again (up to `writeAttempts` times, after a growing random
    /// pause) when PostgreSQL aborts it for a concurrent transaction; the caller never sees those.
    func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try transaction("BEGIN ISOLATION LEVEL SERIALIZABLE", exclusive: true, body)
            } catch let e as PostgresRetryableError {
                guard attempt < Self.writeAttempts else {
                    throw StoreBusyError(attempts: attempt, reason: e.message)
                }
                let ceiling = UInt32(min(2 << attempt, 200)) * 1000
                usleep(UInt32.random(in: ceiling / 4...ceiling))
                attempt += 1
            }
        }
    }

    func read<T>(_ body: (Transaction) throws -> T) throws -> T {
        try transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// One statement outside any transaction (CREATE DATABASE cannot run inside one).
    func statement(_ sql: String) throws {
        try withConnection { session in _ = try session.execute(sql, []) }
    }

    /// `body`'s statements each committed on their own, without the writers' lock: for what
    /// one statement decides alone. Started over once on a new connection when an idle one
    /// turns out to be closed, as a transaction is.
    func autocommit<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        do {
            return try withConnection(body)
        } catch is StoreUnavailableError {
            return try withConnection(body)
        }
    }

    /// Applies the migrations not yet applied, in order, in one transaction (PostgreSQL's DDL is
    /// transactional). Replicas starting together take turns through an advisory lock.
    func migrate(_ migrations: [Schema.Migration]) throws {
        _ = try transaction("BEGIN") { tx in
            let session = tx.conn as! PostgresSession
            try session.execute("SELECT pg_advisory_xact_lock(7203)", [])
            try session.execute("CREATE TABLE IF NOT EXISTS schema_migrations (identifier TEXT PRIMARY KEY)", [])
            let applied = Set(
                try session.fetchAll("SELECT identifier FROM schema_migrations", []).map { try $0.string(0) })
            for m in migrations where !applied.contains(m.name) {
                // One statement at a time: PostgreSQL's extended protocol takes no scripts (and the
                // schema's text holds no ';' but between statements).
                for statement in m.postgres.split(separator: ";")
                where !statement.allSatisfy({ $0.isWhitespace }) {
                    try session.execute(String(statement), [])
                }
                try session.execute("INSERT INTO schema_migrations (identifier) VALUES (?)", [m.name])
            }
        }
    }
}

/// Statements of a transaction sent without waiting for their answers.
final class PendingStatements {
    var futures: [EventLoopFuture<PostgresQueryResult>] = []
    /// Whether any statement was answered: until then, a lost connection may be one that was
    /// closed while idle, and nothing ran.
    var answered = false
}

/// How many statements this process sent, and how many times it waited for an answer (for the
/// benchmarks: each is a cost a command pays one by one).
final class StatementCounter: Sendable {
    let sent = Atomic<Int>(0)
    let waits = Atomic<Int>(0)
}

/// A connection inside one transaction.
struct PostgresSession: SQLConnection {
    let connection: PostgresConnection
    let logger: Logger
    let location: PostgresLocation
    let origin: String
    let counter: StatementCounter
    let pending = PendingStatements()

    var dialect: SQLDialect { .postgres }

    private func run(_ sql: String, _ arguments: [any SQLBindable]) throws -> PostgresQueryResult {
        try wait(send(sql, arguments))
    }

    /// The statement's answer, as the store's errors. The deferred statements sent before it are
    /// answered first: a failed one has aborted the transaction, and its error is the one thrown.
    func wait(_ answer: EventLoopFuture<PostgresQueryResult>) throws -> PostgresQueryResult {
        counter.waits.add(1, ordering: .relaxed)
        do {
            let deferred = pending.futures
            pending.futures = []
            for f in deferred { _ = try f.wait() }
            let result = try answer.wait()
            pending.answered = true
            return result
        } catch {
            throw Self.translate(error, location: location)
        }
    }

    /// Sends `sql` now and checks its answer with the next statement's or at commit: for a
    /// statement whose result nothing in the transaction reads. Its failure aborts the
    /// transaction, so whatever comes after it fails with it.
    func executeDeferred(_ sql: String, _ arguments: [any SQLBindable]) throws {
        pending.futures.append(send(sql, arguments))
    }

    /// Commits, sent behind the statements still unanswered: one wait for all of them.
    func commit() throws {
        _ = try wait(send("COMMIT", []))
    }

    /// Sends one statement; the answer comes in the future (the connection runs its statements
    /// in the order they were sent).
    func send(_ sql: String, _ arguments: [any SQLBindable]) -> EventLoopFuture<PostgresQueryResult> {
        counter.sent.add(1, ordering: .relaxed)
        var binds = PostgresBindings(capacity: arguments.count)
        for a in arguments {
            switch a.sqlValue {
            case .null: binds.appendNull()
            case .integer(let i): binds.append(i)
            case .real(let d): binds.append(d)
            case .text(let s): binds.append(s)
            case .blob(let b): binds.append(ByteBuffer(bytes: b))
            }
        }
        return connection.query(
            PostgresQuery(unsafeSQL: SQLDialect.postgres.placeholders(sql), binds: binds), logger: logger)
    }

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        try Self.rows(try run(sql, arguments))
    }

    func fetchDeferred(_ sql: String, _ arguments: [any SQLBindable]) throws -> () throws -> [SQLRow] {
        let answer = send(sql, arguments)
        pending.futures.append(answer)
        return {
            // Answered already when a later statement was waited for.
            if pending.futures.contains(where: { $0 === answer }) { return try Self.rows(try wait(answer)) }
            do { return try Self.rows(try answer.wait()) } catch { throw Self.translate(error, location: location) }
        }
    }

    static func rows(_ result: PostgresQueryResult) throws -> [SQLRow] {
        var columns: [String]?
        return try result.rows.map { row in
            var values: [SQLValue] = []
            var names: [String] = []
            for cell in row {
                if columns == nil { names.append(cell.columnName) }
                values.append(try Self.value(cell))
            }
            if columns == nil { columns = names }
            return SQLRow(columns: columns ?? names, values: values)
        }
    }

    /// The reads in one statement, their rows folded into one JSON document by the server:
    /// decoding a row cell by cell costs the client far more than the server's JSON does.
    func fetchBatch(_ statements: [SQLStatement]) throws -> [[SQLRow]] {
        let parts = statements.map { s in
            let columns = (0..<s.columns).map { "c\($0)" }
            return "(SELECT coalesce(json_agg(json_build_array("
                + columns.map { "q." + $0 }.joined(separator: ", ") + ")), CAST('[]' AS json)) FROM ("
                + s.sql + ") AS q(" + columns.joined(separator: ", ") + "))"
        }
        let sql = "SELECT CAST(json_build_array(" + parts.joined(separator: ", ") + ") AS text)"
        guard let text = try fetchAll(sql, statements.flatMap(\.arguments)).first?.string(0),
            let results = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[[Any]]],
            results.count == statements.count
        else { throw StoredDataError(inconsistent: "the server's batch answer is not a list per query") }
        return try zip(statements, results).map { statement, rows in
            try rows.map { row in
                guard row.count == statement.columns else {
                    throw StoredDataError(
                        inconsistent: "a batch row holds \(row.count) columns, not \(statement.columns)")
                }
                return SQLRow(columns: [], values: try row.map(Self.value(json:)))
            }
        }
    }

    /// A value of a JSON row: bytea arrives as its hex text (`SQLRow.bytes` reads it).
    static func value(json: Any) throws -> SQLValue {
        switch json {
        case is NSNull: return .null
        case let s as String: return .text(s)
        case let i as Int64: return .integer(i)
        case let d as Double: return .real(d)
        default: throw StoredDataError(inconsistent: "a batch row holds \(json), not a column value")
        }
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard var bytes = cell.bytes else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bytea: return .blob(bytes.readBytes(length: bytes.readableBytes) ?? [])
        default: return .text(try cell.decode(String.self))
        }
    }

    func tableNames() throws -> [String] {
        try fetchAll(
            """
            SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
            AND table_type = 'BASE TABLE' AND table_name NOT IN ('schema_migrations', 'agent_nonces')
            """, []
        ).map { try $0.string(0) }.sorted()
    }

    /// PostgreSQL's answer as the store's errors: a lost server is "unavailable", a conflict with a
    /// concurrent transaction is retried, anything else keeps the server's own message.
    static func translate(_ error: any Error, location: PostgresLocation) -> any Error {
        guard let e = error as? PSQLError else {
            if error is ChannelError || error is IOError {
                return StoreUnavailableError(location: location.description, reason: "\(error)")
            }
            return error
        }
        switch e.code {
        case .server:
            let state = e.serverInfo?[.sqlState] ?? ""
            let message = e.serverInfo?[.message] ?? "unknown error"
            if state == "40001" || state == "40P01" { return PostgresRetryableError(message: message) }
            // Class 08 (connection), 57P (shutdown, crash), 53 (out of resources).
            if state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") {
                return StoreUnavailableError(location: location.description, reason: message)
            }
            return DatabaseEngineError(state: state, message: message)
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown,
            .sslUnsupported, .failedToAddSSLHandler:
            let reason = e.underlying.map { "\($0)" } ?? "\(e.code)"
            return StoreUnavailableError(location: location.description, reason: reason)
        case .authMechanismRequiresPassword:
            return DatabaseEngineError(
                state: "28P01", message: "the server asks for a password: set PGPASSWORD or --db-password-file")
        default:
            return DatabaseEngineError(state: "", message: "\(e.code)")
        }
    }
}

/// PostgreSQL aborted a transaction for a concurrent one (serialization failure or deadlock).
struct PostgresRetryableError: Error {
    var message: String
}

/// The database cannot be reached (connection refused or lost, server shutting down). Nothing
/// was changed, or the change's outcome is unknown; the request may be repeated once it is back.
public struct StoreUnavailableError: Error, Sendable, CustomStringConvertible {
    public var location: String
    public var reason: String

    public var description: String { "the database \(location) is unavailable (\(reason)); try again shortly" }
}

/// Concurrent writers kept aborting this one, past every retry.
public struct StoreBusyError: Error, Sendable, CustomStringConvertible {
    public var attempts: Int
    public var reason: String

    public var description: String {
        "the database stayed busy with concurrent changes (\(attempts) attempts, last: \(reason)); try again"
    }
}

/// An error PostgreSQL reported, with its SQLSTATE.
public struct DatabaseEngineError: Error, Sendable, CustomStringConvertible {
    public var state: String
    public var message: String

    public var description: String { "database error \(state): \(message)" }
}
