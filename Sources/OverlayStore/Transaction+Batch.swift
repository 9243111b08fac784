extension Transaction {
    /// Reads and how their rows become a value: reads that do not depend on each other go to the
    /// database together (`fetch`).
    public struct Query<Value> {
        let statements: [SQLStatement]
        let decode: ([[SQLRow]]) throws -> Value

        init(
            _ sql: String, _ arguments: [any SQLBindable] = [], columns: Int,
            _ decode: @escaping ([SQLRow]) throws -> Value
        ) {
            statements = [SQLStatement(sql: sql, arguments: arguments, columns: columns)]
            self.decode = { try decode($0[0]) }
        }

        /// A value made of the rows of several statements.
        init(batch statements: [SQLStatement], _ decode: @escaping ([[SQLRow]]) throws -> Value) {
            self.statements = statements
            self.decode = decode
        }

        /// Its one statement (for a query made of one).
        var statement: SQLStatement { statements[0] }
    }

    /// Runs several reads at once: PostgreSQL answers them in one statement and round trip
    /// (SQLite, local, runs them one by one).
    public func fetch<each Value>(_ queries: repeat Query<each Value>) throws -> (repeat each Value) {
        var statements: [SQLStatement] = []
        for q in repeat each queries { statements += q.statements }
        let results = try conn.fetchBatch(statements)
        var next = 0
        func decode<V>(_ q: Query<V>) throws -> V {
            let slice = Array(results[next..<next + q.statements.count])
            next += q.statements.count
            return try q.decode(slice)
        }
        return (repeat try decode(each queries))
    }
}
