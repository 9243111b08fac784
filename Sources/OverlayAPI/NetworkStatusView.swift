import OverlayProtocol

/// `overlayctl network status NAME`: per member, what its agent last reported about the network:
/// the health of each peer and, where relaying can fail over, the relay hubs and the active one.
public struct NetworkStatusView: Codable, Sendable, Equatable {
    public struct Member: Codable, Sendable, Equatable {
        public var node: String
        /// `hub`, `hidden` or `-`.
        public var role: String
        /// Seconds since 1970; nil while the agent has not reported.
        public var reportedAt: Int64?
        public var appliedRevision: Int64?
        public var peers: [Peer]
        public var relays: AgentStatus.Relays?
    }

    public struct Peer: Codable, Sendable, Equatable {
        /// The member the key belongs to, or nil (an access peer, a member gone since).
        public var name: String?
        public var publicKey: String
        /// Seconds since the last handshake; nil when none happened yet.
        public var handshakeAge: Int64?
    }

    public var network: String
    public var members: [Member]

    /// Joins the network's members with their nodes' last reports.
    public init(_ detail: NetworkDetailView, reports: [String: AgentReportView]) {
        network = detail.network.name
        let names = Dictionary(detail.members.map { ($0.publicKey, $0.node) }, uniquingKeysWith: { a, _ in a })
        members = detail.members.map { m in
            let report = reports[m.node]
            let mine = report?.status.networks.first { $0.network == detail.network.name }
            return Member(
                node: m.node, role: m.hub ? "hub" : (m.hidden ? "hidden" : "-"), reportedAt: report?.reportedAt,
                appliedRevision: report?.status.appliedRevision,
                peers: (mine?.peers ?? []).map {
                    Peer(name: names[$0.publicKey], publicKey: $0.publicKey, handshakeAge: $0.handshakeAge)
                },
                relays: mine?.relays)
        }
    }
}

extension AdminAPI {
    /// The network's members and their agents' last reports (one request per member).
    public func networkStatus(name: String) async throws -> NetworkStatusView {
        let detail = try await network(named: name)
        var reports: [String: AgentReportView] = [:]
        for m in detail.members {
            if let r = try await node(named: m.node).status { reports[m.node] = r }
        }
        return NetworkStatusView(detail, reports: reports)
    }
}
