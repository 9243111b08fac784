import Foundation
import GRDB

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
        // Each value straight from the statement the cursor has just stepped: `row[i] as
        // DatabaseValue` went through GRDB's generic decoding, metadata lookups included, for every
        // cell (two thirds of reading a 5,000-member network).
        let sqlite = statement.sqliteStatement
        let count = CInt(columns.count)
        var rows: [SQLRow] = []
        while try cursor.next() != nil {
            var values: [SQLValue] = []
            values.reserveCapacity(columns.count)
            for i in 0..<count {
                switch DatabaseValue(sqliteStatement: sqlite, index: i).storage {
                case .null: values.append(.null)
                case .int64(let v): values.append(.integer(v))
                case .double(let v): values.append(.real(v))
                case .string(let v): values.append(.text(v))
                case .blob(let v): values.append(.blob(v.withUnsafeBytes { [UInt8]($0) }))
                }
            }
            rows.append(SQLRow(columns: columns, values: values))
        }
        return rows
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
