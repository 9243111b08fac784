import Foundation
import OverlayModel
import OverlayPlanner

/// Small, hand-built plans: two networks, peers, workloads, exposed ports.
enum Fixtures {
    static func key(_ n: UInt8) -> WireGuardKey { WireGuardKey(bytes: [UInt8](repeating: n, count: 32))! }
    static func v6(_ s: String) -> IPv6Address { IPv6Prefix(s + "/128")!.network }
    static func prefix(_ s: String) -> IPPrefix { IPPrefix(s)! }

    static func peer(_ name: String, _ n: UInt8, allowed: String, endpoint: String? = nil, keepalive: UInt16? = nil)
        -> PeerPlan
    {
        PeerPlan(
            name: name, kind: .node, publicKey: key(n), endpoint: endpoint.flatMap { Endpoint($0) },
            allowedIPs: [prefix(allowed)], persistentKeepalive: keepalive)
    }

    static func workload(_ name: String, _ host: Int, net: String = "fd00:1:2") -> WorkloadPlan {
        WorkloadPlan(
            name: name, address: v6("\(net):1::\(host)"), namespace: "wl-\(name)", hostInterface: "vw-\(host)",
            exposed: [])
    }

    static func network(
        _ name: String = "shop", id: String = "0a0b0c0d", net: String = "fd00:1:2", port: UInt16 = 51820,
        peers: [PeerPlan]? = nil, workloads: [WorkloadPlan]? = nil, mtu: Int = 1420
    ) -> NetworkResourcePlan {
        let p48 = IPv6Prefix("\(net)::/48")!
        let wls = workloads ?? [workload("web", 2, net: net), workload("db", 3, net: net)]
        return NetworkResourcePlan(
            name: name, id: id, prefix: p48, subnet: IPv6Prefix("\(net):1::/64")!, routerAddress: v6("\(net):1::1"),
            mtu: mtu, namespace: "ovl-\(id)", interface: "wg-\(id)", bridge: "br-\(id)", listenPort: port,
            publicKey: key(1), sealedPrivateKey: "",
            peers: peers ?? [
                peer("b", 2, allowed: "\(net):2::/64", endpoint: "192.0.2.3:51820"),
                peer("h", 3, allowed: "\(net):3::/64", keepalive: 25),
            ],
            routes: [p48.asIPPrefix], workloads: wls,
            firewall: NetworkFirewallPlan(
                prefix: p48, gatewaySources: [v6("\(net):9::1")],
                exposed: [ExposedPort(address: v6("\(net):1::2"), proto: .tcp, port: 80)]),
            failover: nil)
    }

    /// `network()` with IPv4 beside it: 100.64.0.0/16, this node's /24 100.64.1.0/24, peers
    /// carrying their /24s, workloads at .2 and .3.
    static func dualStack() -> NetworkResourcePlan {
        var n = network(
            peers: [
                PeerPlan(
                    name: "b", kind: .node, publicKey: key(2), endpoint: Endpoint("192.0.2.3:51820"),
                    allowedIPs: [prefix("fd00:1:2:2::/64"), prefix("100.64.2.0/24")], persistentKeepalive: nil),
                PeerPlan(
                    name: "h", kind: .node, publicKey: key(3), endpoint: nil,
                    allowedIPs: [prefix("fd00:1:2:3::/64"), prefix("100.64.3.0/24")], persistentKeepalive: 25),
            ])
        let p4 = IPv4Prefix("100.64.0.0/16")!
        n.ipv4 = NetworkIPv4Plan(
            prefix: p4, subnet: IPv4Prefix("100.64.1.0/24")!, routerAddress: IPv4Address("100.64.1.1")!)
        n.routes = [n.prefix.asIPPrefix, p4.asIPPrefix]
        n.firewall.ipv4Prefix = p4
        for i in n.workloads.indices {
            n.workloads[i].ipv4Address = IPv4Address(0x6440_0100 | UInt32(n.workloads[i].address.low))
        }
        return n
    }

    /// `dualStack()` with egress through this node.
    static func egress() -> NetworkResourcePlan {
        var n = dualStack()
        n.egress = EgressPlan(
            nat44: true, nat66: false, interface: "vx-\(n.id)", hostInterface: "ovx-\(n.id)",
            address: AddressPlan.transferAddress(listenPort: n.listenPort))
        return n
    }

    static func plan(_ networks: [NetworkResourcePlan] = [network()], revision: Int64 = 1) -> NodePlan {
        NodePlan(
            node: "a", revision: revision,
            hostFirewall: HostFirewallPlan(
                wireguardPorts: networks.map(\.listenPort), egress: networks.contains { $0.egress?.nat44 == true }),
            networks: networks, gateway: nil)
    }

    static func keys(_ plan: NodePlan) -> [String: SecretKey] {
        var out: [String: SecretKey] = [:]
        for n in plan.networks {
            // One key per interface; already clamped (as X25519 keys are stored), so read-back
            // compares equal.
            var bytes = [UInt8](repeating: n.interface.utf8.reduce(0, &+), count: 32)
            bytes[0] &= 248
            bytes[31] = (bytes[31] & 127) | 64
            out[n.interface] = SecretKey(copying: bytes)
        }
        return out
    }
}
