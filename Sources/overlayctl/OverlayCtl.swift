import ArgumentParser
import Foundation
import OverlayAPI
import OverlayController
import OverlayHTTPClient
import OverlayModel
import OverlayPlanner
import OverlayStore

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
    @Option(
        help:
            "SQLite database file, or postgres://USER@HOST:PORT/DB with PGPASSWORD (or OVERLAY_DB): work on it directly."
    )
    var db: String?

    @Option(
        help: ArgumentHelp(
            "The controller's URL, e.g. https://10.0.0.1:8470 (or OVERLAY_CONTROLLER): work through its API.",
            discussion:
                "Repeat it, or separate URLs with commas, for a controller running as several replicas: they are tried in turn."
        ))
    var controller: [String] = []

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
    func connect() throws -> (api: any AdminAPI, clients: [ControllerClient]) {
        let env = ProcessInfo.processInfo.environment
        if db != nil && !controller.isEmpty { throw ValidationError("pass either --db or --controller, not both") }
        let named = controller.isEmpty ? [env["OVERLAY_CONTROLLER"] ?? ""].filter { !$0.isEmpty } : controller
        let remote = db == nil ? try Self.replicas(named) : []
        if !remote.isEmpty {
            let listed = remote.joined(separator: ", ")
            guard let token = token ?? env["OVERLAY_TOKEN"], !token.isEmpty else {
                throw ValidationError(
                    "no admin token for \(listed): pass --token TOKEN or set OVERLAY_TOKEN ('overlayd token create' makes one)"
                )
            }
            // With several replicas a refused connection moves on at once instead of waiting.
            let trust = try trust(env)
            let clients = try remote.map {
                try ControllerClient(baseURL: $0, retryConnecting: remote.count == 1, trust: trust)
            }
            return (RemoteAdmin(clients: clients, token: token), clients)
        }
        guard let path = db ?? env["OVERLAY_DB"], !path.isEmpty else {
            throw ValidationError(
                "no database and no controller: pass --db PATH or --controller URL (or set OVERLAY_DB or OVERLAY_CONTROLLER)"
            )
        }
        // A SQLite file, or a PostgreSQL database (password from PGPASSWORD).
        let location = try StoreLocation(parsing: path, password: env["PGPASSWORD"])
        return (LocalAdmin(Controller(store: try Store(location))), [])
    }

    /// The replicas' URLs as given (repeated, or comma-separated), each once.
    static func replicas(_ given: [String]) throws -> [String] {
        var urls: [String] = []
        for part in given.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            let url = part.trimmingCharacters(in: .whitespaces)
            guard !url.isEmpty else {
                throw ValidationError(
                    "--controller '\(given.joined(separator: ","))': an empty URL; expected URL[,URL...]")
            }
            guard !urls.contains(url) else {
                throw ValidationError("--controller: \(url) is named twice; name each replica once")
            }
            urls.append(url)
        }
        return urls
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
    var clients: [ControllerClient] = []
    func shutdown() async { for c in clients { try? await c.shutdown() } }
    do {
        let connected = try global.connect()
        clients = connected.clients
        try await body(connected.api)
        await shutdown()
    } catch let e as ArgumentParser.ValidationError {
        await shutdown()
        throw e
    } catch {
        await shutdown()
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
