import Foundation
import OverlayPlanner
import OverlayProtocol
import WireGuard

extension AgentStatus {
    /// What the agent reports, built from the plan it applies and each network's WireGuard
    /// device as read back from the backend. A network whose device could not be read is
    /// reported with no peers (its read error goes into `errors`).
    public init(
        plan: NodePlan?, appliedRevision: Int64?, devices: [String: Device], errors: [String], wireguard: String,
        relays: [String: AgentStatus.Relays] = [:], now: Date = Date()
    ) {
        let networks = (plan?.networks ?? []).map { n -> AgentStatus.Network in
            let peers = (devices[n.interface]?.peers ?? [])
                .map { p in
                    AgentStatus.Peer(
                        publicKey: p.publicKey.base64,
                        handshakeAge: p.lastHandshake.map { max(0, Int64(now.timeIntervalSince($0).rounded(.down))) },
                        rxBytes: p.rxBytes, txBytes: p.txBytes)
                }
                .sorted { $0.publicKey < $1.publicKey }
            return AgentStatus.Network(network: n.name, interface: n.interface, peers: peers, relays: relays[n.name])
        }
        self.init(appliedRevision: appliedRevision, networks: networks, errors: errors, wireguard: wireguard)
    }
}

extension AgentStatus.Relays {
    /// The prober's view of one network; `plan` says which hub is this member's primary.
    init(_ r: RelayProber.Report, plan: FailoverPlan) {
        let primary = plan.hubs.firstIndex(where: \.isPrimary)
        let active: String? =
            primary.flatMap { p in
                r.hubs.indices.contains(p) && r.hubs[p].inService ? p : r.hubs.indices.first { r.hubs[$0].inService }
            }.map { r.hubs[$0].name }
        self.init(
            status: r.status, active: active, failovers: r.failovers,
            hubs: r.hubs.map {
                AgentStatus.RelayHub(
                    name: $0.name, publicKey: $0.publicKey.base64, inService: $0.inService, up: $0.up,
                    rttMilliseconds: $0.rtt.map {
                        Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1000
                    },
                    probes: $0.probes, lostProbes: $0.losses, path: $0.detoured.map { $0 ? "detour" : "direct" })
            })
    }
}
