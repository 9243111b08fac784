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
        now: Date = Date()
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
            return AgentStatus.Network(network: n.name, interface: n.interface, peers: peers)
        }
        self.init(appliedRevision: appliedRevision, networks: networks, errors: errors, wireguard: wireguard)
    }
}
