import ArgumentParser
import OverlayController
import OverlayModel

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Add, list, show and remove nodes.",
        subcommands: [Add.self, List.self, Show.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a node by its Ed25519 identity.")
        @OptionGroup var global: Global
        @Argument var name: String
        @Option(help: "Ed25519 public key in base64, as 'overlay-agent init' prints it.") var identity: String
        @Option(name: .customLong("public-address"), help: "A public IP address; none = hidden behind NAT. Repeatable.")
        var publicAddresses: [String] = []
        @Option(name: .customLong("listen-ports"), help: "WireGuard port range FROM-TO (default 51820-52819).")
        var listenPorts: String?
        @Option var region: String?
        @Flag(help: "May relay for hidden nodes and access peers (needs a public address).") var hub = false
        @Flag(help: "A web gateway (needs --domain and a public address).") var gateway = false
        @Option(help: "The gateway's domain.") var domain: String?

        func run() throws {
            try overlayctl.run {
                let n = try global.controller().addNode(.init(
                    name: name, identity: identity, publicAddresses: publicAddresses, listenPorts: listenPorts,
                    region: region, hub: hub, gateway: gateway, domain: domain))
                if global.json { try Output.json(NodeView(n)) } else {
                    print("node \(n.name) added\(n.isHidden ? " (hidden)" : "")\(n.hub ? " (hub)" : "")\(n.gateway ? " (gateway)" : "")")
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List nodes.")
        @OptionGroup var global: Global

        func run() throws {
            try overlayctl.run {
                let all = try global.controller().nodes()
                if global.json { return try Output.json(all.map(NodeView.init)) }
                Output.table(["NAME", "ADDRESSES", "REGION", "ROLE"], all.map {
                    [$0.name, $0.isHidden ? "(hidden)" : $0.publicAddresses.map(\.description).joined(separator: ","),
                     $0.region ?? "-", NodeView($0).roles.joined(separator: ",")]
                })
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a node, its networks and workloads.")
        @OptionGroup var global: Global
        @Argument var name: String

        struct View: Encodable {
            var node: NodeView
            var planRevision: Int64
            var networks: [Member]
            var workloads: [String]
            struct Member: Encodable { var network: String, subnetID: UInt16, listenPort: UInt16, publicKey: String }
        }

        func run() throws {
            try overlayctl.run {
                let d = try global.controller().node(named: name)
                let v = View(node: NodeView(d.node), planRevision: d.planRevision,
                             networks: d.memberships.map { .init(network: $0.network, subnetID: $0.subnetID, listenPort: $0.listenPort, publicKey: $0.publicKey.base64) },
                             workloads: d.workloads.map(\.name))
                if global.json { return try Output.json(v) }
                Output.fields([("name", d.node.name), ("identity", d.node.identityBase64),
                               ("addresses", d.node.isHidden ? "(hidden)" : d.node.publicAddresses.map(\.description).joined(separator: ", ")),
                               ("listen ports", "\(d.node.listenPorts.lowerBound)-\(d.node.listenPorts.upperBound)"),
                               ("region", d.node.region ?? "-"), ("roles", v.node.roles.joined(separator: ", ")),
                               ("domain", d.node.domain ?? "-"), ("plan revision", String(d.planRevision))])
                print("\nnetworks:")
                Output.table(["NETWORK", "SUBNET ID", "PORT", "PUBLIC KEY"], v.networks.map {
                    [$0.network, String($0.subnetID, radix: 16), String($0.listenPort), $0.publicKey]
                })
                print("\nworkloads: \(v.workloads.isEmpty ? "-" : v.workloads.joined(separator: ", "))")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a node that hosts nothing.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() throws {
            try overlayctl.run {
                let c = try global.controller().removeNode(name: name)
                if global.json { try Output.json(ChangeView(c)) } else { print("node \(name) removed (revision \(c.revision))") }
            }
        }
    }
}

struct NodeView: Encodable {
    var name: String
    var identity: String
    var publicAddresses: [String]
    var listenPorts: String
    var region: String?
    var hub: Bool
    var gateway: Bool
    var domain: String?
    var hidden: Bool

    init(_ n: Node) {
        name = n.name
        identity = n.identityBase64
        publicAddresses = n.publicAddresses.map(\.description)
        listenPorts = "\(n.listenPorts.lowerBound)-\(n.listenPorts.upperBound)"
        region = n.region
        hub = n.hub
        gateway = n.gateway
        domain = n.domain
        hidden = n.isHidden
    }

    var roles: [String] {
        var r: [String] = []
        if hub { r.append("hub") }
        if gateway { r.append("gateway") }
        if hidden { r.append("hidden") }
        return r.isEmpty ? ["-"] : r
    }
}
