import ArgumentParser
import OverlayAPI
import OverlayController
import OverlayModel
import OverlayPlanner

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Everything a node must build; with --json, the document its agent consumes.")
    @OptionGroup var global: Global
    @Argument var node: String

    func run() async throws {
        try await overlayctl.run(global) { api in
            let p = try await api.plan(node: node)
            if global.json { return try Output.json(p) }
            print("plan for \(p.node), revision \(p.revision)")
            print(
                "host firewall: input drop; accept udp \(p.hostFirewall.wireguardPorts.map(String.init).joined(separator: ", "))"
            )
            for n in p.networks {
                print(
                    "\nnetwork \(n.name) (\(n.prefix)), namespace \(n.namespace), interface \(n.interface) port \(n.listenPort), bridge \(n.bridge) \(n.routerAddress)/64, mtu \(n.mtu)"
                )
                if let v4 = n.ipv4 {
                    print(
                        "  ipv4 \(v4.prefix), this node's \(v4.subnet), bridge \(v4.routerAddress)/\(v4.subnet.length)")
                }
                if let e = n.egress {
                    print(
                        "  egress: \(e.nat44 ? "NAT44" : "no IPv4") via \(e.interface) (\(e.address)) and \(e.hostInterface) (\(e.gateway))"
                    )
                }
                print(
                    "  public key \(n.publicKey.base64); private key sealed (\(n.sealedPrivateKey.count) base64 chars)")
                print("  routes: \(n.routes.map(\.description).joined(separator: ", ")) dev \(n.interface)")
                Output.table(
                    ["  PEER", "KIND", "ENDPOINT", "ALLOWED IPS", "KEEPALIVE"],
                    n.peers.map {
                        [
                            "  " + $0.name, $0.kind.rawValue, $0.endpoint?.description ?? "-",
                            $0.allowedIPs.map(\.description).joined(separator: ","),
                            $0.persistentKeepalive.map(String.init) ?? "-",
                        ]
                    })
                if let f = n.failover {
                    let t = f.thresholds
                    for h in f.hubs {
                        print(
                            "  relay hub \(h.name)\(h.isPrimary ? " (primary)" : ""): probe \(h.routerAddress); relays \(h.relayed.isEmpty ? "-" : h.relayed.map(\.description).joined(separator: ","))"
                        )
                    }
                    print(
                        "  failover: probe every \(t.probeInterval) ms; down after \(t.downAfter) ms silent, up after \(t.upAfter) ms, back in service after \(t.returnAfter) ms"
                    )
                }
                for w in n.workloads {
                    print(
                        "  workload \(w.name): \(w.address)\(w.ipv4Address.map { ", \($0)" } ?? "") in netns \(w.namespace) (\(w.interface); \(w.hostInterface) on \(n.bridge))\(w.exposed.isEmpty ? "" : ", exposes " + w.exposed.map(\.description).joined(separator: ","))"
                    )
                }
                print(
                    "  firewall: sources in \(n.firewall.prefix); gateways \(n.firewall.gatewaySources.map(\.description).joined(separator: ", ")); exposed \(n.firewall.exposed.count)"
                )
            }
            if let g = p.gateway {
                print("\ngateway \(g.domain ?? "")")
                for r in g.routes {
                    print(
                        "  \(r.name): \(r.host ?? "") \(r.tlsPassthrough ? "(tls passthrough)" : "") -> \(r.backends.map { "[\($0.address)]:\($0.port)" }.joined(separator: ", "))"
                    )
                }
            }
        }
    }
}

struct GraphCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph", abstract: "A network's topology as Graphviz DOT.")
    @OptionGroup var global: Global
    @Argument var network: String

    func run() async throws {
        try await overlayctl.run(global) { api in print(try await api.graph(network: network), terminator: "") }
    }
}
