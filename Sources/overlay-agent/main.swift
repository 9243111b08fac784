import ArgumentParser
import Foundation
import OverlayAgent
import WireGuard

@main
struct OverlayAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlay-agent", abstract: "Realises this node's plan in the kernel and keeps it there.",
        subcommands: [Init.self, Run.self, Down.self])

    static func fail(_ error: any Error) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        return ExitCode(1)
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create this node's Ed25519 identity (kept if it exists) and print its public key.")
        @Option(name: .customLong("state-dir"), help: "The agent's state directory.") var stateDir: String

        func run() throws {
            do {
                let (identity, _) = try StateDirectory(path: stateDir).loadOrCreateIdentity()
                print(identity.publicKeyBase64)
            } catch {
                throw OverlayAgentCommand.fail(error)
            }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the plan and keep it applied (repairing drift) until SIGTERM.",
            discussion: """
                With --controller (or after a join, with nothing) plans come from the controller \
                by long-poll, checked against the controller key pinned at join; the first run \
                needs --join TOKEN (from 'overlayctl node join-token NODE'). With --plan a plan \
                file is applied and watched instead. Without either the last good plan kept in \
                the state directory is applied. SIGTERM stops the agent and leaves the data plane up.
                """)
        @Option(name: .customLong("state-dir"), help: "The agent's state directory.") var stateDir: String
        @Option(help: "A plan file ('overlayctl plan NODE --json'); watched for changes.") var plan: String?
        @Flag(help: "Apply once and exit.") var once = false
        @Flag(help: "Print every action applied.") var verbose = false
        @Option(help: "WireGuard backend: auto, kernel or userspace.") var wireguard: String = "auto"
        @Option(
            help: ArgumentHelp(
                "A controller replica's URL, http://HOST:PORT (remembered after the join).",
                discussion: "Repeat it, or separate URLs with commas, for a controller that runs as several replicas."))
        var controller: [String] = []
        @Option(help: "A single-use join token: registers this node and pins the controller's key.") var join: String?
        @Option(name: .customLong("status-interval"), help: "Seconds between periodic status reports.")
        var statusInterval: Int = 15

        func run() throws {
            guard let kind = WireGuardBackendKind(rawValue: wireguard) else {
                throw OverlayAgentCommand.fail(
                    ValidationError("--wireguard '\(wireguard)': expected auto, kernel or userspace"))
            }
            var options = Agent.Options(stateDirectory: stateDir, planFile: plan)
            options.once = once
            options.verbose = verbose
            options.wireguard = kind
            options.joinToken = join
            options.statusInterval = .seconds(statusInterval)
            do {
                options.controllerURLs = try ControllerLink.validateURLs(controller)
                guard (1...3600).contains(statusInterval) else {
                    throw ValidationError("--status-interval '\(statusInterval)': expected 1 to 3600 seconds")
                }
                if plan != nil && (!controller.isEmpty || join != nil) {
                    throw ValidationError(
                        "--plan cannot be combined with --controller or --join: a plan comes from one place")
                }
            } catch {
                throw OverlayAgentCommand.fail(error)
            }
            do {
                try Agent(options: options).run()
            } catch {
                throw OverlayAgentCommand.fail(error)
            }
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove everything the agent created (namespaces, tunnels, tables) and nothing else.")
        @Option(name: .customLong("state-dir"), help: "The agent's state directory.") var stateDir: String
        @Flag(help: "Print every action applied.") var verbose = false

        func run() throws {
            do {
                let actions = try Agent.down(stateDirectory: stateDir, verbose: verbose)
                print("down: \(actions.count) actions")
            } catch {
                throw OverlayAgentCommand.fail(error)
            }
        }
    }
}
