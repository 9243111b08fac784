import Foundation

extension Store {
    /// Every row of every table as text: tables by name, each row as `table: column=value, ...`,
    /// rows sorted. Two equal dumps mean two equal states, whatever order rows were written in and
    /// whichever engine holds them. For tests and diagnostics (a rejected command must leave the
    /// dump unchanged).
    public func dump() throws -> String {
        try read { tx in
            var out: [String] = []
            for table in try tx.conn.tableNames() {
                var lines: [String] = []
                for row in try tx.conn.fetchAll("SELECT * FROM \(table)", []) {
                    let cells = zip(row.columns, row.values).map { column, value -> String in
                        let text: String
                        switch value {
                        case .null: text = "NULL"
                        case .integer(let i): text = String(i)
                        case .real(let d): text = String(d)
                        case .text(let s): text = "'\(s)'"
                        case .blob(let b): text = "x'" + Store.hex(Data(b)) + "'"
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
