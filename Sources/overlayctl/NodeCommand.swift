import ArgumentParser
import Foundation
import OverlayAPI
import OverlayController
import OverlayModel

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Add, list, show and remove nodes; make join tokens.",
        subcommands: [
            Add.self, List.self, Show.self, Remove.self, JoinToken.self, JoinTokens.self, RevokeJoinToken.self,
        ])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a node, by its Ed25519 identity or pending until its agent joins with a join token.")
        @OptionGroup var global: Global
        @Argument var name: String
        @Option(help: "Ed25519 public key in base64, as 'overlay-agent init' prints it; omit to register it at join.")
        var identity: String?
        @Option(name: .customLong("public-address"), help: "A public IP address; none = hidden behind NAT. Repeatable.")
        var publicAddresses: [String] = []
        @Option(name: .customLong("listen-ports"), help: "WireGuard port range FROM-TO (default 51820-52819).")
        var listenPorts: String?
        @Option var region: String?
        @Flag(help: "May relay for hidden nodes and access peers (needs a public address).") var hub = false
        @Flag(help: "A web gateway (needs --domain and a public address).") var gateway = false
        @Option(help: "The gateway's domain.") var domain: String?

        func run() async throws {
            try await overlayctl.run(global) { api in
                let n = try await api.addNode(
                    .init(
                        name: name, identity: identity, publicAddresses: publicAddresses, listenPorts: listenPorts,
                        region: region, hub: hub, gateway: gateway, domain: domain))
                if global.json {
                    try Output.json(n)
                } else {
                    print(
                        "node \(n.name) added\(n.hidden == true ? " (hidden)" : "")\(n.hub ? " (hub)" : "")\(n.gateway ? " (gateway)" : "")\(n.identity == nil ? " (pending: give it a join token)" : "")"
                    )
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List nodes.")
        @OptionGroup var global: Global

        /// A tenant's listing has no addresses: `-`.
        static func addresses(_ n: NodeView) -> String {
            if n.hidden == true { return "(hidden)" }
            return n.publicAddresses?.joined(separator: ",") ?? "-"
        }

        func run() async throws {
            try await overlayctl.run(global) { api in
                let all = try await api.nodes()
                if global.json { return try Output.json(all) }
                Output.table(
                    ["NAME", "ADDRESSES", "REGION", "ROLE"],
                    all.map {
                        [
                            $0.name, Self.addresses($0),
                            $0.region ?? "-", $0.roles.joined(separator: ","),
                        ]
                    })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a node, its networks, workloads and its agent's last report.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let v = try await api.node(named: name)
                if global.json { return try Output.json(v) }
                Output.fields([
                    ("name", v.node.name), ("identity", v.node.identity ?? "(pending: not joined yet)"),
                    (
                        "addresses",
                        v.node.hidden == true ? "(hidden)" : (v.node.publicAddresses ?? []).joined(separator: ", ")
                    ),
                    ("listen ports", v.node.listenPorts ?? "-"),
                    ("region", v.node.region ?? "-"), ("roles", v.node.roles.joined(separator: ", ")),
                    ("domain", v.node.domain ?? "-"), ("plan revision", String(v.planRevision)),
                ])
                print("\nnetworks:")
                Output.table(
                    ["NETWORK", "SUBNET ID", "PORT", "PUBLIC KEY"],
                    v.networks.map {
                        [$0.network, String($0.subnetID, radix: 16), String($0.listenPort), $0.publicKey]
                    })
                print("\nworkloads: \(v.workloads.isEmpty ? "-" : v.workloads.joined(separator: ", "))")
                print("\nagent:")
                guard let r = v.status else { return print("  no report yet") }
                let applied = r.status.appliedRevision.map(String.init) ?? "none"
                let state =
                    r.status.appliedRevision == v.planRevision
                    ? "up to date" : "behind the plan (revision \(v.planRevision))"
                Output.fields([
                    ("  reported at", Controller.isoTime(r.reportedAt)), ("  applied revision", "\(applied), \(state)"),
                    ("  wireguard", r.status.wireguard),
                ])
                let peers = r.status.networks.flatMap { n in
                    n.peers.map {
                        [
                            n.network, n.interface, $0.publicKey, $0.handshakeAge.map { "\($0)s" } ?? "never",
                            String($0.rxBytes), String($0.txBytes),
                        ]
                    }
                }
                if !peers.isEmpty {
                    Output.table(
                        ["  NETWORK", "INTERFACE", "PEER", "HANDSHAKE AGE", "RX BYTES", "TX BYTES"],
                        peers.map { ["  " + $0[0]] + $0.dropFirst() })
                }
                print("  errors: \(r.status.errors.isEmpty ? "-" : "")")
                for e in r.status.errors { print("    \(TerminalText.safe(e))") }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a node that hosts nothing.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let c = try await api.removeNode(name: name)
                if global.json { try Output.json(c) } else { print("node \(name) removed (revision \(c.revision))") }
            }
        }
    }

    struct JoinToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "join-token",
            abstract: "Print a single-use token for 'overlay-agent run --join TOKEN' (shown once, stored hashed).")
        @OptionGroup var global: Global
        @Argument var name: String
        @Option(help: "How long the token stays valid: 30m, 1h, 2d… (1m to 7d, default 1h).") var expires: String?

        func run() async throws {
            try await overlayctl.run(global) { api in
                let t = try await api.createJoinToken(node: name, .init(expires: expires))
                if global.json { try Output.json(t) } else { print(t.token) }
            }
        }
    }

    struct JoinTokens: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "join-tokens",
            abstract: "List the join tokens not used and not expired (their ids, never the tokens).")
        @OptionGroup var global: Global
        @Argument(help: "Only this node's tokens.") var name: String?

        func run() async throws {
            try await overlayctl.run(global) { api in
                let tokens = try await api.joinTokens(node: name)
                if global.json { return try Output.json(tokens) }
                guard !tokens.isEmpty else { return print("no outstanding join tokens") }
                Output.table(
                    ["ID", "NODE", "CREATED", "EXPIRES"],
                    tokens.map {
                        [
                            $0.id, $0.node, $0.createdAt == 0 ? "-" : Controller.isoTime($0.createdAt),
                            Controller.isoTime($0.expiresAt),
                        ]
                    })
            }
        }
    }

    struct RevokeJoinToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-join-token",
            abstract: "Revoke an outstanding join token by its id (from 'node join-tokens').")
        @OptionGroup var global: Global
        @Argument var id: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let t = try await api.revokeJoinToken(id: id)
                if global.json { try Output.json(t) } else { print("join token \(t.id) of node \(t.node) revoked") }
            }
        }
    }
}
