import OverlayModel
import OverlayPlanner
import WireGuard

extension NodePlan {
    /// The plan as the kernel should have it now: in each network with a failover entry, the
    /// relayed prefixes of the hubs `outOfService(network)` names sit on the other hub's peer.
    func withRelaysOutOfService(_ outOfService: (String) -> Set<WireGuardKey>) -> NodePlan {
        var plan = self
        for i in plan.networks.indices {
            guard let f = plan.networks[i].failover else { continue }
            let out = outOfService(plan.networks[i].name)
            if !out.isEmpty { plan.networks[i].peers = f.peers(plan.networks[i].peers, outOfService: out) }
        }
        return plan
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
