import Foundation

/// One value in or out of a statement. Both engines store the same five kinds; booleans are
/// integers 0 and 1 on both, so a row reads back the same whichever engine wrote it.
enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// What a statement argument can be.
protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension String: SQLBindable { var sqlValue: SQLValue { .text(self) } }
extension Int: SQLBindable { var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { var sqlValue: SQLValue { .integer(self) } }
extension Bool: SQLBindable { var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension Data: SQLBindable { var sqlValue: SQLValue { .blob([UInt8](self)) } }
extension SQLValue: SQLBindable { var sqlValue: SQLValue { self } }

extension Optional: SQLBindable where Wrapped: SQLBindable {
    var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// One result row: its values by position, and the column names (for the dump and the copy).
struct SQLRow: Sendable {
    var columns: [String]
    /// A slice of one array holding every row of the result: one allocation per result rather
    /// than one per row (a network's snapshot reads thousands of rows).
    var values: ArraySlice<SQLValue>

    init(columns: [String], values: ArraySlice<SQLValue>) {
        self.columns = columns
        self.values = values
    }

    init(columns: [String], values: [SQLValue]) {
        self.init(columns: columns, values: values[...])
    }

    /// The value in column `i` of this row.
    private subscript(_ i: Int) -> SQLValue { values[values.startIndex + i] }

    private func mismatch(_ index: Int, _ expected: String) -> StoredDataError {
        StoredDataError(
            inconsistent: "column \(columns.indices.contains(index) ? columns[index] : String(index)) holds "
                + "\(index >= 0 && index < values.count ? "\(self[index])" : "nothing"), expected \(expected)")
    }

    func string(_ i: Int) throws -> String {
        guard case .text(let s) = self[i] else { throw mismatch(i, "text") }
        return s
    }

    func optionalString(_ i: Int) throws -> String? {
        if case .null = self[i] { return nil }
        return try string(i)
    }

    func int64(_ i: Int) throws -> Int64 {
        guard case .integer(let v) = self[i] else { throw mismatch(i, "an integer") }
        return v
    }

    func optionalInt64(_ i: Int) throws -> Int64? {
        if case .null = self[i] { return nil }
        return try int64(i)
    }

    func int(_ i: Int) throws -> Int {
        let v = try int64(i)
        guard let n = Int(exactly: v) else { throw mismatch(i, "a machine integer") }
        return n
    }

    func bool(_ i: Int) throws -> Bool { try int64(i) != 0 }

    /// A blob's bytes; NULL reads as empty (a node that has not joined has no identity). Rows
    /// that PostgreSQL sent as JSON (`fetchBatch`) hold them as its hex text, `\x` and two digits
    /// a byte.
    func bytes(_ i: Int) throws -> [UInt8] {
        switch self[i] {
        case .null: return []
        case .blob(let b): return b
        case .text(let t): if let b = Self.postgresHex(t) { return b }
        default: break
        }
        throw mismatch(i, "bytes")
    }

    /// The bytes of PostgreSQL's hex form of a bytea (`\x0a1b...`), nil for any other text.
    static func postgresHex(_ text: String) -> [UInt8]? {
        var utf8 = text.utf8.makeIterator()
        guard utf8.next() == UInt8(ascii: "\\"), utf8.next() == UInt8(ascii: "x") else { return nil }
        func digit(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        while let high = utf8.next() {
            guard let h = digit(high), let low = utf8.next(), let l = digit(low) else { return nil }
            out.append(h << 4 | l)
        }
        return out
    }

    func optionalBytes(_ i: Int) throws -> [UInt8]? {
        if case .null = self[i] { return nil }
        return try bytes(i)
    }
}

/// The few places where the two engines' SQL differs. Queries are written once with `?`
/// placeholders and SQLite's spelling of the rest; each difference is asked of the dialect.
enum SQLDialect: Sendable {
    case sqlite
    case postgres

    /// The largest of several values in one row (SQLite's scalar `max`).
    var greatest: String {
        switch self {
        case .sqlite: "max"
        case .postgres: "greatest"
        }
    }

    /// A subquery yielding the strings of a JSON array passed as the one argument.
    var jsonStrings: String {
        switch self {
        case .sqlite: "SELECT value FROM json_each(?)"
        case .postgres: "SELECT json_array_elements_text(CAST(? AS json))"
        }
    }

    /// `sql` with PostgreSQL's numbered placeholders (`$1`, `$2`...) for `?`. Queries never hold a
    /// `?` inside a string literal.
    func placeholders(_ sql: String) -> String {
        guard self == .postgres, sql.utf8.contains(UInt8(ascii: "?")) else { return sql }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 8)
        var n = 0
        for c in sql {
            if c == "?" {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// One query of a batch: its text, arguments and how many columns it selects.
struct SQLStatement {
    var sql: String
    var arguments: [any SQLBindable]
    var columns: Int
}

/// One engine's connection inside a transaction: statements with positional arguments.
protocol SQLConnection {
    var dialect: SQLDialect { get }
    /// Runs one statement; returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int
    func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow]
    /// The tables holding state (not the migrations' bookkeeping, nor the nonces of agent requests).
    func tableNames() throws -> [String]
    /// The rows of several independent reads. A local engine runs them one by one; a server
    /// answers them all at once.
    func fetchBatch(_ statements: [SQLStatement]) throws -> [[SQLRow]]
    /// Runs a write whose answer nothing reads. A server may answer it later: its failure is
    /// thrown by the transaction's next statement, or by the commit.
    func executeDeferred(_ sql: String, _ arguments: [any SQLBindable]) throws
    /// Sends a statement whose rows are read later (by calling the result): a server answers it
    /// together with the statements sent after it.
    func fetchDeferred(_ sql: String, _ arguments: [any SQLBindable]) throws -> () throws -> [SQLRow]
}

extension SQLConnection {
    func fetchBatch(_ statements: [SQLStatement]) throws -> [[SQLRow]] {
        try statements.map { try fetchAll($0.sql, $0.arguments) }
    }

    func executeDeferred(_ sql: String, _ arguments: [any SQLBindable]) throws {
        try execute(sql, arguments)
    }

    func fetchDeferred(_ sql: String, _ arguments: [any SQLBindable]) throws -> () throws -> [SQLRow] {
        let rows = try fetchAll(sql, arguments)
        return { rows }
    }

    func fetchOne(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? {
        try fetchAll(sql, arguments).first
    }
}
