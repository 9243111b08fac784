import OverlayModel
import OverlayPlanner
import WireGuard

extension NodePlan {
    /// The plan as the kernel should have it now: in each network with a failover entry, the
    /// relayed prefixes of the hubs `outOfService(network)` names sit on the other hub's peer, and
    /// the hubs `detoured(network)` names have their detour as endpoint.
    func withRelaysOutOfService(
        _ outOfService: (String) -> Set<WireGuardKey>, detoured: (String) -> Set<WireGuardKey> = { _ in [] }
    ) -> NodePlan {
        var plan = self
        for i in plan.networks.indices {
            guard let f = plan.networks[i].failover else { continue }
            let out = outOfService(plan.networks[i].name)
            if !out.isEmpty { plan.networks[i].peers = f.peers(plan.networks[i].peers, outOfService: out) }
            let viaDetour = detoured(plan.networks[i].name)
            // Datagrams from a hub come in only on the path this member sends on: WireGuard follows
            // the last one it heard, and the other path may carry the hub's direction only.
            for hub in f.hubs {
                guard let detour = hub.detour,
                    let p = plan.networks[i].peers.firstIndex(where: { $0.publicKey == hub.publicKey })
                else { continue }
                if viaDetour.contains(hub.publicKey) {
                    if let direct = plan.networks[i].peers[p].endpoint {
                        plan.hostFirewall.ignoredEndpoints.append(direct)
                    }
                    plan.networks[i].peers[p].endpoint = detour
                } else {
                    plan.hostFirewall.ignoredEndpoints.append(detour)
                }
            }
        }
        return plan
    }

    /// The relay forwarders this node runs: one per network it is a relay hub of, in the host.
    var relayForwarders: [UDPRelay.Mapping] {
        networks.compactMap { n in
            n.relayForwarder.map { f in
                let address: IPv6Address =
                    switch f.target.address {
                    case .v6(let a): a
                    // The relay's sockets are IPv6 and dual-stack: an IPv4 target is v4-mapped.
                    case .v4(let a): IPv6Address(bytes: [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + a.bytes)!
                    }
                return UDPRelay.Mapping(
                    port: f.port, namespace: nil, backends: [.init(address: address, port: f.target.port)])
            }
        }
    }

    /// Where to send one packet for each node peer that `actions` added: the peer's router
    /// address, in the network's namespace. The packet makes WireGuard start the handshake now.
    func probeTargets(newPeersIn actions: [AgentAction]) -> [(namespace: String, address: IPv6Address)] {
        var out: [(String, IPv6Address)] = []
        for case .configureWireGuard(let interface, let change) in actions {
            guard let n = networks.first(where: { $0.interface == interface }) else { continue }
            for case .add(let config) in change.peers {
                guard let peer = n.peers.first(where: { $0.publicKey == config.publicKey }), peer.kind == .node
                else { continue }
                // A relay hub's /64 is in the failover entry (a hidden member routes the whole /48 to it).
                let subnet =
                    n.failover?.hubs.first { $0.publicKey == peer.publicKey }?.subnet
                    ?? peer.allowedIPs.lazy.compactMap { p -> IPv6Prefix? in
                        guard p.length == 64, case .v6(let a) = p.masked.address else { return nil }
                        return IPv6Prefix(network: a, length: 64)
                    }.first
                if let subnet { out.append((n.namespace, AddressPlan.routerAddress(subnet))) }
            }
        }
        return out
    }
}
