import ArgumentParser
import OverlayController
import OverlayModel

struct AccessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access", abstract: "Let people's devices into a network through a hub.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an access peer and print its wg-quick file (a generated private key is shown once, never stored).")
        @OptionGroup var global: Global
        @Argument var name: String
        @Option var network: String
        @Option(name: .customLong("public-key"), help: "The device's WireGuard public key; generated when omitted.")
        var publicKey: String?
        @Option(help: "The hub the device dials.") var hub: String?

        struct View: Encodable { var name: String, network: String, address: String, hub: String, publicKey: String, wgQuick: String }

        func run() throws {
            try overlayctl.run {
                let g = try global.controller().addAccessPeer(name: name, network: network, publicKey: publicKey, hub: hub)
                if global.json {
                    return try Output.json(View(name: g.peer.name, network: g.peer.network, address: g.address.description,
                                                hub: g.peer.hub, publicKey: g.peer.publicKey.base64, wgQuick: g.wgQuick))
                }
                print(g.wgQuick, terminator: "")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List access peers.")
        @OptionGroup var global: Global

        func run() throws {
            try overlayctl.run {
                let all = try global.controller().accessPeers()
                if global.json { return try Output.json(all) }
                Output.table(["NAME", "NETWORK", "HUB", "PUBLIC KEY"], all.map { [$0.name, $0.network, $0.hub, $0.publicKey.base64] })
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an access peer.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() throws {
            try overlayctl.run {
                let c = try global.controller().removeAccessPeer(name: name)
                if global.json { try Output.json(ChangeView(c)) } else { print("access peer \(name) removed (revision \(c.revision))") }
            }
        }
    }
}
