import ArgumentParser
import Foundation
import OverlayController
import OverlayModel
import OverlayPlanner

@main
enum Main {
    static func main() {
        OverlayCtl.main(Array(hoistingGlobalOptions(CommandLine.arguments.dropFirst())))
    }

    /// `overlayctl --db X --json network list` is how people write it; ArgumentParser wants options
    /// after the subcommand, so leading global options move to the end.
    static func hoistingGlobalOptions(_ args: ArraySlice<String>) -> [String] {
        var leading: [String] = []
        var rest = args
        while let first = rest.first, first.hasPrefix("--") {
            if first == "--json" {
                leading.append(first)
                rest = rest.dropFirst()
            } else if first == "--db" || first == "--controller" || first == "--token", rest.count >= 2 {
                leading.append(contentsOf: rest.prefix(2))
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--db=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        return Array(rest) + leading
    }
}

struct OverlayCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlayctl",
        abstract: "Define overlay networks, nodes, workloads, access peers and gateway routes; show node plans.",
        subcommands: [NetworkCommand.self, NodeCommand.self, WorkloadCommand.self, AccessCommand.self,
                      GatewayCommand.self, PlanCommand.self, ApplyCommand.self, GraphCommand.self])
}

/// Options every command takes.
struct Global: ParsableArguments {
    @Option(help: "SQLite database file (or OVERLAY_DB).")
    var db: String?

    @Flag(help: "Machine-readable JSON output.")
    var json = false

    func controller() throws -> Controller {
        guard let path = db ?? ProcessInfo.processInfo.environment["OVERLAY_DB"], !path.isEmpty else {
            throw ValidationError("no database: pass --db PATH or set OVERLAY_DB")
        }
        return try Controller(databasePath: path)
    }
}

/// Runs a command body, turning domain errors into one clear line on stderr and exit code 1.
func run(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ArgumentParser.ValidationError {
        throw e
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
