import Foundation
import OverlayModel

enum Output {
    /// Prints an Encodable as pretty JSON with sorted keys.
    static func json(_ value: some Encodable) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(data: try e.encode(value), encoding: .utf8)!)
    }

    /// Prints rows under a header, columns padded to their widest cell. Cells are shown with
    /// `TerminalText.safe` (they may come from agents' reports).
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = ([header] + rows).map { $0.map(TerminalText.safe) }
        var widths = [Int](repeating: 0, count: header.count)
        for r in all { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        for r in all {
            let line = r.enumerated().map { i, c in
                i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
            print(line)
        }
    }

    static func fields(_ pairs: [(String, String)]) {
        let w = pairs.map(\.0.count).max() ?? 0
        for (k, v) in pairs {
            print("\(k.padding(toLength: w, withPad: " ", startingAt: 0))  \(TerminalText.safe(v))")
        }
    }
}
