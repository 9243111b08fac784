import ArgumentParser
import OverlayAPI
import OverlayController
import OverlayModel
import OverlayProtocol

struct NetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "Create, list, show and delete networks.",
        subcommands: [
            Create.self, List.self, Show.self, Settings.self, Status.self, Delete.self, Attach.self, Detach.self,
        ])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a network with its own IPv6 /48 and, unless --no-ipv4, an IPv4 prefix.")
        @OptionGroup var global: Global
        @Argument(help: "Network name (DNS label).") var name: String
        @Option(help: "A ULA /48 such as fd12:3456:789a::/48; random when omitted.") var prefix: String?
        @Option(help: "MTU of the overlay links (1280-9000, default 1420).") var mtu: Int?
        @Option(
            help:
                "A private IPv4 prefix (/8 to /22) such as 10.20.0.0/16; the least used /16 of 100.64.0.0/10 when omitted."
        ) var ipv4: String?
        @Flag(name: .customLong("no-ipv4"), help: "IPv6 only.") var noIPv4 = false
        @Flag(name: .customLong("no-egress"), help: "No way out to the internet (a sealed network).") var noEgress =
            false

        func run() async throws {
            try await overlayctl.run(global) { api in
                let n = try await api.createNetwork(
                    .init(
                        name: name, prefix: prefix, mtu: mtu, ipv4: ipv4, noIPv4: noIPv4 ? true : nil,
                        egress: noEgress ? false : nil))
                if global.json {
                    try Output.json(n)
                } else {
                    print(
                        "network \(n.name) created: \(n.prefix)\(n.ipv4Prefix.map { ", \($0)" } ?? ""), id \(n.id), mtu \(n.mtu), egress \(n.egress ? "on" : "off")"
                    )
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List networks.")
        @OptionGroup var global: Global

        func run() async throws {
            try await overlayctl.run(global) { api in
                let all = try await api.networks()
                if global.json { return try Output.json(all) }
                Output.table(
                    ["NAME", "ID", "PREFIX", "IPV4", "MTU", "EGRESS", "OWNER"],
                    all.map {
                        [
                            $0.name, $0.id, $0.prefix.description, $0.ipv4Prefix?.description ?? "-", String($0.mtu),
                            $0.egress ? "on" : "off", $0.owner ?? "-",
                        ]
                    })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a network with its members and workloads.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let d = try await api.network(named: name)
                let members = d.members
                if global.json { return try Output.json(d) }
                Output.fields([
                    ("name", d.network.name), ("id", d.network.id), ("prefix", d.network.prefix.description),
                    ("ipv4 prefix", d.network.ipv4Prefix?.description ?? "-"), ("mtu", String(d.network.mtu)),
                    ("egress", d.network.egress ? "on" : "off"), ("owner", d.owner ?? "- (operator)"),
                ])
                print("\nmembers:")
                Output.table(
                    ["NODE", "SUBNET", "PORT", "ROLE", "PUBLIC KEY"],
                    members.map {
                        [
                            $0.node, $0.subnet, String($0.listenPort), $0.hub ? "hub" : ($0.hidden ? "hidden" : "-"),
                            $0.publicKey,
                        ]
                    })
                if !d.workloads.isEmpty {
                    print("\nworkloads:")
                    Output.table(
                        ["NAME", "NODE", "NAMESPACE", "EXPOSE"],
                        d.workloads.map {
                            [$0.name, $0.node, $0.namespace, $0.exposed.map(\.description).joined(separator: ",")]
                        })
                }
                if !d.accessPeers.isEmpty {
                    print("\naccess peers:")
                    Output.table(
                        ["NAME", "HUB", "PUBLIC KEY"], d.accessPeers.map { [$0.name, $0.hub, $0.publicKey.base64] })
                }
            }
        }
    }

    struct Settings: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a network's settings.")
        @OptionGroup var global: Global
        @Argument var name: String
        @Option(help: "Whether workloads reach the internet through their node: on or off.") var egress: Toggle

        enum Toggle: String, ExpressibleByArgument, CaseIterable {
            case on, off
        }

        func run() async throws {
            try await overlayctl.run(global) { api in
                let c = try await api.updateNetwork(name: name, .init(egress: egress == .on))
                if global.json {
                    try Output.json(c)
                } else {
                    print("network \(name): egress \(egress.rawValue) (revision \(c.revision))")
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show per member what its agent last reported: relay hubs and the health of each peer.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let s = try await api.networkStatus(name: name)
                if global.json { return try Output.json(s) }
                Output.table(
                    ["NODE", "ROLE", "REPORTED", "RELAYS", "ACTIVE", "RELAY HUBS", "HANDSHAKES"],
                    s.members.map { m in
                        [
                            m.node, m.role, m.reportedAt.map(Controller.isoTime) ?? "never",
                            m.relays?.status ?? "-", m.relays?.active ?? "-",
                            m.relays.map { r in r.hubs.map(Self.hub).joined(separator: "; ") } ?? "-",
                            m.peers.isEmpty
                                ? "-"
                                : m.peers.map {
                                    "\($0.name ?? String($0.publicKey.prefix(8))) \($0.handshakeAge.map { "\($0)s" } ?? "never")"
                                }.joined(separator: ", "),
                        ]
                    })
            }
        }

        /// `a in service, up, direct, 0.4 ms, 0/120 lost`.
        static func hub(_ h: AgentStatus.RelayHub) -> String {
            let rtt = h.rttMilliseconds.map { String(format: "%.1f ms", $0) } ?? "no rtt"
            return
                "\(h.name) \(h.inService ? "in service" : "out of service"), \(h.up ? "up" : "down"), \(h.path.map { "\($0), " } ?? "")\(rtt), \(h.lostProbes)/\(h.probes) lost"
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a network and everything in it.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let c = try await api.deleteNetwork(name: name)
                if global.json { try Output.json(c) } else { print("network \(name) deleted (revision \(c.revision))") }
            }
        }
    }

    struct Attach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a node a member of a network (e.g. a hub).")
        @OptionGroup var global: Global
        @Argument var network: String
        @Argument var node: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let c = try await api.attach(network: network, node: node)
                if global.json {
                    try Output.json(c)
                } else {
                    print("node \(node) attached to \(network) (revision \(c.revision))")
                }
            }
        }
    }

    struct Detach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop an explicit membership.")
        @OptionGroup var global: Global
        @Argument var network: String
        @Argument var node: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let c = try await api.detach(network: network, node: node)
                if global.json {
                    try Output.json(c)
                } else {
                    print("node \(node) detached from \(network) (revision \(c.revision))")
                }
            }
        }
    }
}
