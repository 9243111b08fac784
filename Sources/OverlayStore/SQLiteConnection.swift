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
        // Each value straight from the statement the cursor has just stepped, into one array for
        // all rows: GRDB's generic decoding (`row[i] as DatabaseValue`, metadata lookups included)
        // and a `Data` per blob were most of reading a 5,000-member network.
        let sqlite = statement.sqliteStatement
        let count = columns.count
        var values: [SQLValue] = []
        while try cursor.next() != nil {
            for i in 0..<CInt(count) { values.append(Self.value(sqlite, i)) }
        }
        guard count > 0 else { return [] }
        return stride(from: 0, to: values.count, by: count).map {
            SQLRow(columns: columns, values: values[$0..<$0 + count])
        }
    }

    /// Column `i` of the row `statement` has just stepped to, as SQLite stores it.
    private static func value(_ statement: SQLiteStatement, _ i: CInt) -> SQLValue {
        switch sqlite3_column_type(statement, i) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, i))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, i))
        case SQLITE_TEXT: return .text(String(cString: sqlite3_column_text(statement, i)))
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
