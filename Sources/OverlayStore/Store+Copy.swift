import Foundation

extension Store {
    /// The tables holding state, in an order their foreign keys allow rows to be inserted in. A
    /// migration that adds a table adds it here too (the copy refuses a table it does not know).
    static let tablesInInsertOrder = [
        "meta", "networks", "nodes", "memberships", "workloads", "access_peers", "gateway_routes", "join_tokens",
        "admin_tokens", "agent_status",
    ]

    /// Whether the store holds anything but a fresh schema (revision 0, no rows).
    public func isEmpty() throws -> Bool {
        try read { tx in
            guard try tx.revision() == 0 else { return false }
            for table in try tx.conn.tableNames() where table != "meta" {
                if try tx.row("SELECT 1 FROM \(table) LIMIT 1") != nil { return false }
            }
            return true
        }
    }

    /// Copies this store's whole state, row for row (ids included), into `target`, which must be
    /// empty and at the same schema: one read transaction here, one write transaction there.
    public func copy(to target: Store) throws {
        guard try target.isEmpty() else {
            throw StoreCopyError.targetNotEmpty
        }
        let tables = try read { tx in try tx.conn.tableNames() }
        if let unknown = tables.first(where: { !Self.tablesInInsertOrder.contains($0) }) {
            throw StoreCopyError.unknownTable(unknown)
        }
        let rows = try read { tx in
            try Self.tablesInInsertOrder.filter(tables.contains).map {
                ($0, try tx.conn.fetchAll("SELECT * FROM \($0)", []))
            }
        }
        try target.write { tx in
            for table in Self.tablesInInsertOrder.reversed() { try tx.execute("DELETE FROM \(table)") }
            for (table, tableRows) in rows {
                for row in tableRows {
                    let marks = Array(repeating: "?", count: row.values.count).joined(separator: ", ")
                    try tx.conn.execute(
                        "INSERT INTO \(table) (\(row.columns.joined(separator: ", "))) VALUES (\(marks))",
                        Array(row.values))
                }
                // Rows copied with their ids: the next id PostgreSQL hands out must follow them.
                if tx.conn.dialect == .postgres, tableRows.first?.columns.first == "id" {
                    try tx.execute(
                        "SELECT setval(pg_get_serial_sequence('\(table)', 'id'), (SELECT max(id) FROM \(table)))")
                }
            }
        }
    }
}

/// Why a store could not be copied into another.
public enum StoreCopyError: Error, Equatable, CustomStringConvertible {
    case targetNotEmpty
    case unknownTable(String)

    public var description: String {
        switch self {
        case .targetNotEmpty:
            "the target database already holds a controller's state; migrate only into an empty database"
        case .unknownTable(let t): "the source holds a table '\(t)' this version does not know how to copy"
        }
    }
}
