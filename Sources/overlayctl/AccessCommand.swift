import ArgumentParser
import OverlayAPI
import OverlayController
import OverlayModel

struct AccessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access", abstract: "Let people's devices into a network through a hub.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Add an access peer and print its wg-quick file (a generated private key is shown once, never stored).")
        @OptionGroup var global: Global
        @Argument var name: String
        @Option var network: String
        @Option(name: .customLong("public-key"), help: "The device's WireGuard public key; generated when omitted.")
        var publicKey: String?
        @Option(help: "The hub the device dials.") var hub: String?

        func run() async throws {
            try await overlayctl.run(global) { api in
                let g = try await api.addAccessPeer(.init(name: name, network: network, publicKey: publicKey, hub: hub))
                if global.json { return try Output.json(g) }
                print(g.wgQuick, terminator: "")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List access peers.")
        @OptionGroup var global: Global

        func run() async throws {
            try await overlayctl.run(global) { api in
                let all = try await api.accessPeers()
                if global.json { return try Output.json(all) }
                Output.table(
                    ["NAME", "NETWORK", "HUB", "PUBLIC KEY"],
                    all.map { [$0.name, $0.network, $0.hub, $0.publicKey.base64] })
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an access peer.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let c = try await api.removeAccessPeer(name: name)
                if global.json {
                    try Output.json(c)
                } else {
                    print("access peer \(name) removed (revision \(c.revision))")
                }
            }
        }
    }
}
