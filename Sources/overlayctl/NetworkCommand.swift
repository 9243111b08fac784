import ArgumentParser
import OverlayController
import OverlayModel

struct NetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "Create, list, show and delete networks.",
        subcommands: [Create.self, List.self, Show.self, Delete.self, Attach.self, Detach.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a network with its own IPv6 /48.")
        @OptionGroup var global: Global
        @Argument(help: "Network name (DNS label).") var name: String
        @Option(help: "A ULA /48 such as fd12:3456:789a::/48; random when omitted.") var prefix: String?
        @Option(help: "MTU of the overlay links (1280-9000, default 1420).") var mtu: Int?

        func run() throws {
            try overlayctl.run {
                let n = try global.controller().createNetwork(name: name, prefix: prefix, mtu: mtu)
                if global.json { try Output.json(n) } else { print("network \(n.name) created: \(n.prefix), id \(n.id), mtu \(n.mtu)") }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List networks.")
        @OptionGroup var global: Global

        func run() throws {
            try overlayctl.run {
                let all = try global.controller().networks()
                if global.json { return try Output.json(all) }
                Output.table(["NAME", "ID", "PREFIX", "MTU"], all.map { [$0.name, $0.id, $0.prefix.description, String($0.mtu)] })
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a network with its members and workloads.")
        @OptionGroup var global: Global
        @Argument var name: String

        struct View: Encodable {
            var network: Network
            var members: [Member]
            var workloads: [Workload]
            var accessPeers: [AccessPeer]
            struct Member: Encodable {
                var node: String, subnet: String, publicKey: String, listenPort: UInt16, hub: Bool, hidden: Bool
            }
        }

        func run() throws {
            try overlayctl.run {
                let d = try global.controller().network(named: name)
                let members = d.members.map {
                    View.Member(node: $0.node.name, subnet: AddressPlan.subnet(d.network.prefix, $0.membership.subnetID).description,
                                publicKey: $0.membership.publicKey.base64, listenPort: $0.membership.listenPort,
                                hub: $0.node.hub, hidden: $0.node.isHidden)
                }
                if global.json {
                    return try Output.json(View(network: d.network, members: members, workloads: d.workloads, accessPeers: d.accessPeers))
                }
                Output.fields([("name", d.network.name), ("id", d.network.id), ("prefix", d.network.prefix.description),
                               ("mtu", String(d.network.mtu))])
                print("\nmembers:")
                Output.table(["NODE", "SUBNET", "PORT", "ROLE", "PUBLIC KEY"], members.map {
                    [$0.node, $0.subnet, String($0.listenPort), $0.hub ? "hub" : ($0.hidden ? "hidden" : "-"), $0.publicKey]
                })
                if !d.workloads.isEmpty {
                    print("\nworkloads:")
                    Output.table(["NAME", "NODE", "NAMESPACE", "EXPOSE"], d.workloads.map {
                        [$0.name, $0.node, $0.namespace, $0.exposed.map(\.description).joined(separator: ",")]
                    })
                }
                if !d.accessPeers.isEmpty {
                    print("\naccess peers:")
                    Output.table(["NAME", "HUB", "PUBLIC KEY"], d.accessPeers.map { [$0.name, $0.hub, $0.publicKey.base64] })
                }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a network and everything in it.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() throws {
            try overlayctl.run {
                let c = try global.controller().deleteNetwork(name: name)
                if global.json { try Output.json(ChangeView(c)) } else { print("network \(name) deleted (revision \(c.revision))") }
            }
        }
    }

    struct Attach: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a node a member of a network (e.g. a hub).")
        @OptionGroup var global: Global
        @Argument var network: String
        @Argument var node: String

        func run() throws {
            try overlayctl.run {
                let c = try global.controller().attach(network: network, node: node)
                if global.json { try Output.json(ChangeView(c)) } else { print("node \(node) attached to \(network) (revision \(c.revision))") }
            }
        }
    }

    struct Detach: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop an explicit membership.")
        @OptionGroup var global: Global
        @Argument var network: String
        @Argument var node: String

        func run() throws {
            try overlayctl.run {
                let c = try global.controller().detach(network: network, node: node)
                if global.json { try Output.json(ChangeView(c)) } else { print("node \(node) detached from \(network) (revision \(c.revision))") }
            }
        }
    }
}

struct ChangeView: Encodable {
    var revision: Int64
    var touchedNodes: [String]
    init(_ c: Controller.Change) {
        revision = c.revision
        touchedNodes = c.touchedNodes.sorted()
    }
}
