import ArgumentParser
import Foundation
import OverlayAPI
import OverlayController
import OverlayHTTPClient
import OverlayModel
import OverlayPlanner

@main
enum Main {
    static func main() async {
        await OverlayCtl.main(Array(hoistingGlobalOptions(CommandLine.arguments.dropFirst())))
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
            } else if ["--db", "--controller", "--token", "--fingerprint", "--ca"].contains(first), rest.count >= 2 {
                leading.append(contentsOf: rest.prefix(2))
                rest = rest.dropFirst(2)
            } else if ["--db=", "--controller=", "--token=", "--fingerprint=", "--ca="].contains(where: first.hasPrefix)
            {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        return Array(rest) + leading
    }
}

struct OverlayCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlayctl",
        abstract: "Define overlay networks, nodes, workloads, access peers and gateway routes; show node plans.",
        subcommands: [
            NetworkCommand.self, NodeCommand.self, WorkloadCommand.self, AccessCommand.self,
            GatewayCommand.self, PlanCommand.self, ApplyCommand.self, GraphCommand.self,
        ])
}

/// Options every command takes.
struct Global: ParsableArguments {
    @Option(help: "SQLite database file (or OVERLAY_DB): work on it directly.")
    var db: String?

    @Option(help: "The controller's URL, e.g. https://10.0.0.1:8470 (or OVERLAY_CONTROLLER): work through its API.")
    var controller: String?

    @Option(
        help:
            "Pin the controller's certificate by SHA-256 fingerprint, sha256:HEX (or OVERLAY_FINGERPRINT), as 'overlayd tls fingerprint' prints it."
    )
    var fingerprint: String?

    @Option(help: "Trust the controller's certificate through this PEM CA file instead (or OVERLAY_CA).")
    var ca: String?

    @Option(help: "Admin bearer token for --controller (or OVERLAY_TOKEN), from 'overlayd token create'.")
    var token: String?

    @Flag(help: "Machine-readable JSON output.")
    var json = false

    /// The admin API: remote when a controller is named (flag first, then environment), else local.
    func connect() throws -> (api: any AdminAPI, client: ControllerClient?) {
        let env = ProcessInfo.processInfo.environment
        if db != nil && controller != nil { throw ValidationError("pass either --db or --controller, not both") }
        let remote = db == nil ? (controller ?? env["OVERLAY_CONTROLLER"]).flatMap { $0.isEmpty ? nil : $0 } : nil
        if let remote {
            guard let token = token ?? env["OVERLAY_TOKEN"], !token.isEmpty else {
                throw ValidationError(
                    "no admin token for \(remote): pass --token TOKEN or set OVERLAY_TOKEN ('overlayd token create' makes one)"
                )
            }
            let client = try ControllerClient(baseURL: remote, trust: try trust(env))
            return (RemoteAdmin(client: client, token: token), client)
        }
        guard let path = db ?? env["OVERLAY_DB"], !path.isEmpty else {
            throw ValidationError(
                "no database and no controller: pass --db PATH or --controller URL (or set OVERLAY_DB or OVERLAY_CONTROLLER)"
            )
        }
        return (LocalAdmin(try Controller(databasePath: path)), nil)
    }
}

extension Global {
    /// How the controller's certificate is checked: a pinned fingerprint, a CA file, or the
    /// system's authorities (flags first, then environment).
    func trust(_ env: [String: String]) throws -> ControllerTrust {
        let pin = (fingerprint ?? env["OVERLAY_FINGERPRINT"]).flatMap { $0.isEmpty ? nil : $0 }
        let caFile = (ca ?? env["OVERLAY_CA"]).flatMap { $0.isEmpty ? nil : $0 }
        switch (pin, caFile) {
        case (nil, nil): return .system
        case (let p?, nil):
            do { return .pinned([try CertificateFingerprint(parsing: p)]) } catch { throw ValidationError("\(error)") }
        case (nil, let f?):
            guard FileManager.default.isReadableFile(atPath: f) else {
                throw ValidationError("invalid --ca '\(f)': not a readable PEM file")
            }
            return .authority(path: f)
        case (_?, _?): throw ValidationError("pass either --fingerprint or --ca, not both")
        }
    }
}

/// Runs a command body on the admin API, turning domain errors into one clear line on stderr and
/// exit code 1.
func run(_ global: Global, _ body: (any AdminAPI) async throws -> Void) async throws {
    var client: ControllerClient?
    do {
        let connected = try global.connect()
        client = connected.client
        try await body(connected.api)
        try? await client?.shutdown()
    } catch let e as ArgumentParser.ValidationError {
        try? await client?.shutdown()
        throw e
    } catch {
        try? await client?.shutdown()
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
