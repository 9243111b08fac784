import ArgumentParser
import Foundation
import OverlayAgent

@main
struct OverlayAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlay-agent", abstract: "Realises this node's plan in the kernel and keeps it there.",
        subcommands: [Init.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create this node's Ed25519 identity (kept if it exists) and print its public key.")
        @Option(name: .customLong("state-dir"), help: "The agent's state directory.") var stateDir: String

        func run() throws {
            do {
                let (identity, _) = try StateDirectory(path: stateDir).loadOrCreateIdentity()
                print(identity.publicKeyBase64)
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
