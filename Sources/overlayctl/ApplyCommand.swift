import ArgumentParser
import Foundation
import OverlayAPI
import OverlayController

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply", abstract: "Create what a topology file (YAML) describes; re-applying changes nothing.")
    @OptionGroup var global: Global
    @Option(name: .short, help: "The topology file.") var f: String
    @Flag(name: .customLong("dry-run"), help: "Print what would change per node; change nothing.") var dryRun = false

    func run() async throws {
        try await overlayctl.run(global) { api in
            guard let data = FileManager.default.contents(atPath: f), let text = String(data: data, encoding: .utf8)
            else {
                throw OverlayModelError.unreadable(f)
            }
            let r = try await api.apply(.init(topology: text, dryRun: dryRun))
            if global.json { return try Output.json(r) }
            if r.created.isEmpty && r.nodes.isEmpty { return print("nothing to change") }
            print(dryRun ? "would create:" : "created:")
            for c in r.created { print("  \(c)") }
            print(dryRun ? "plans that would change:" : "plans changed:")
            for (n, s) in r.nodes.sorted(by: { $0.key < $1.key }) { print("  \(n): \(s.description)") }
            if let rev = r.revision { print("revision \(rev)") }
        }
    }
}

enum OverlayModelError: Error, CustomStringConvertible {
    case unreadable(String)
    var description: String {
        switch self {
        case .unreadable(let p): "cannot read '\(p)'"
        }
    }
}
