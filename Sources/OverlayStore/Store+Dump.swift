import Foundation
import GRDB

extension Store {
    /// Every row of every table as text: tables by name, each row as `table: column=value, ...`,
    /// rows sorted. Two equal dumps mean two equal states, whatever order rows were written in.
    /// For tests and diagnostics (a rejected command must leave the dump unchanged).
    public func dump() throws -> String {
        try pool.read { db in
            let tables = try String.fetchAll(
                db,
                sql: """
                    SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name
                    """)
            var out: [String] = []
            for table in tables {
                var lines: [String] = []
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table.quotedDatabaseIdentifier)") {
                    let cells = row.map { column, value -> String in
                        let text: String
                        switch value.storage {
                        case .null: text = "NULL"
                        case .int64(let i): text = String(i)
                        case .double(let d): text = String(d)
                        case .string(let s): text = "'\(s)'"
                        case .blob(let b): text = "x'" + Store.hex(b) + "'"
                        }
                        return "\(column)=\(text)"
                    }
                    lines.append("\(table): \(cells.joined(separator: ", "))")
                }
                out.append(contentsOf: lines.sorted())
            }
            return out.joined(separator: "\n")
        }
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ data: Data) -> String {
        var out = [UInt8]()
        out.reserveCapacity(data.count * 2)
        for b in data {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
