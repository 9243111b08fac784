import Foundation
import GRDB
import GRDBSQLite

/// The SQLite engine's side of a transaction: GRDB's connection, inside `pool.write` or `pool.read`.
struct SQLiteConnection: SQLConnection {
    let db: Database

    var dialect: SQLDialect { .sqlite }

    private static func arguments(_ values: [any SQLBindable]) -> StatementArguments {
        StatementArguments(
            values.map { v -> DatabaseValue in
                switch v.sqlValue {
                case .null: .null
                case .integer(let i): i.databaseValue
                case .real(let d): d.databaseValue
                case .text(let s): s.databaseValue
                case .blob(let b): Data(b).databaseValue
                }
            })
    }

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try db.execute(sql: sql, arguments: Self.arguments(arguments))
        return db.changesCount
    }

    func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        let columns = statement.columnNames
        let cursor = try Row.fetchCursor(statement, arguments: Self.arguments(arguments))
        // Each value straight from the statement the cursor has just stepped: GRDB's generic
        // decoding (`row[i] as DatabaseValue`, metadata lookups included) and a `Data` per blob
        // were most of reading a 5,000-member network. Rows share arrays of about a thousand
        // values: one array per row cost an allocation each, one for all rows regrew (copied)
        // and faulted in megabytes of fresh pages on every read.
        let sqlite = statement.sqliteStatement
        let count = columns.count
        guard count > 0 else { return [] }
        let chunkSize = max(1, 1024 / count) * count
        var rows: [SQLRow] = []
        var chunk: [SQLValue] = []
        func flush() {
            for start in stride(from: 0, to: chunk.count, by: count) {
                rows.append(SQLRow(columns: columns, values: chunk[start..<start + count]))
            }
            chunk = []
        }
        while try cursor.next() != nil {
            if chunk.count == chunkSize {
                flush()
                chunk.reserveCapacity(chunkSize)
            }
            for i in 0..<CInt(count) { chunk.append(Self.value(sqlite, i)) }
        }
        flush()
        return rows
    }

    /// Column `i` of the row `statement` has just stepped to, as SQLite stores it.
    private static func value(_ statement: SQLiteStatement, _ i: CInt) -> SQLValue {
        switch sqlite3_column_type(statement, i) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, i))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, i))
        case SQLITE_TEXT:
            // By its length, not up to a NUL: a text holding one is read whole.
            guard let text = sqlite3_column_text(statement, i) else { return .text("") }
            let length = Int(sqlite3_column_bytes(statement, i))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
        case SQLITE_BLOB:
            // A zero-length blob has no pointer.
            guard let bytes = sqlite3_column_blob(statement, i) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(statement, i)))))
        default: return .null
        }
    }

    func tableNames() throws -> [String] {
        try String.fetchAll(
            db,
            sql: """
                SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                AND name NOT IN ('grdb_migrations', 'agent_nonces')
                """
        ).sorted()
    }
}
