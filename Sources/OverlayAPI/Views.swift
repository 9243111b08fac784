import OverlayController
import OverlayModel
import OverlayPlanner
import OverlayProtocol

/// What the admin use cases answer: the same values in process and over HTTP, formatted once by
/// `overlayctl` (its `--json` output is these values).

public struct ChangeView: Codable, Sendable, Equatable {
    public var revision: Int64
    public var touchedNodes: [String]
    public init(_ c: Controller.Change) {
        revision = c.revision
        touchedNodes = c.touchedNodes.sorted()
    }
}

/// A network as the admin API shows it: its fields, and `owner`, the tenant whose token made it
/// (absent: the operator's).
@dynamicMemberLookup
public struct NetworkView: Codable, Sendable, Equatable {
    public var network: Network
    public var owner: String?

    public init(_ network: Network, owner: String?) {
        self.network = network
        self.owner = owner
    }

    public subscript<T>(dynamicMember path: KeyPath<Network, T>) -> T { network[keyPath: path] }

    enum CodingKeys: String, CodingKey { case owner }

    /// One flat object: the network's fields beside `owner`.
    public init(from decoder: any Decoder) throws {
        network = try Network(from: decoder)
        owner = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .owner)
    }

    public func encode(to encoder: any Encoder) throws {
        try network.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(owner, forKey: .owner)
    }
}

public struct NetworkDetailView: Codable, Sendable, Equatable {
    public var network: Network
    /// The tenant that owns the network; absent for the operator's.
    public var owner: String?
    public var members: [Member]
    public var workloads: [Workload]
    public var accessPeers: [AccessPeer]
    public struct Member: Codable, Sendable, Equatable {
        public var node: String, subnet: String, publicKey: String, listenPort: UInt16, hub: Bool, hidden: Bool
        /// The member's /24; absent in an IPv6-only network.
        public var ipv4Subnet: String?
    }

    public init(_ d: Controller.NetworkDetail) {
        network = d.network
        owner = d.owner
        members = d.members.map { m in
            Member(
                node: m.node.name, subnet: AddressPlan.subnet(d.network.prefix, m.membership.subnetID).description,
                publicKey: m.membership.publicKey.base64, listenPort: m.membership.listenPort, hub: m.node.hub,
                hidden: m.node.isHidden,
                ipv4Subnet: d.network.ipv4Prefix.flatMap { AddressPlan.ipv4Subnet($0, m.membership.subnetID) }?
                    .description)
        }
        workloads = d.workloads
        accessPeers = d.accessPeers
    }
}

public struct NodeView: Codable, Sendable, Equatable {
    public var name: String
    /// Nil while the node has not joined, and in a tenant's listing.
    public var identity: String?
    /// This and `listenPorts`, `domain` and `hidden` are absent in a tenant's listing, which
    /// shows names, regions and roles only.
    public var publicAddresses: [String]?
    public var listenPorts: String?
    public var region: String?
    public var hub: Bool
    public var gateway: Bool
    public var domain: String?
    public var hidden: Bool?

    public init(_ n: Node) {
        name = n.name
        identity = n.hasJoined ? n.identityBase64 : nil
        publicAddresses = n.publicAddresses.map(\.description)
        listenPorts = "\(n.listenPorts.lowerBound)-\(n.listenPorts.upperBound)"
        region = n.region
        hub = n.hub
        gateway = n.gateway
        domain = n.domain
        hidden = n.isHidden
    }

    /// What a tenant sees of a node: enough to place workloads, nothing to reach or impersonate
    /// it by.
    public init(listing n: Node) {
        name = n.name
        region = n.region
        hub = n.hub
        gateway = n.gateway
    }

    /// Whether this is the operator's full view (a tenant's listing leaves the rest out).
    public var isFull: Bool { listenPorts != nil }

    public var roles: [String] {
        var r: [String] = []
        if hub { r.append("hub") }
        if gateway { r.append("gateway") }
        if hidden == true { r.append("hidden") }
        if isFull && identity == nil { r.append("pending") }
        return r.isEmpty ? ["-"] : r
    }
}

public struct NodeDetailView: Codable, Sendable, Equatable {
    public var node: NodeView
    public var planRevision: Int64
    public var networks: [Member]
    public var workloads: [String]
    /// The agent's last report, nil before the first one.
    public var status: AgentReportView?
    public struct Member: Codable, Sendable, Equatable {
        public var network: String, subnetID: UInt16, listenPort: UInt16, publicKey: String
    }

    public init(_ d: Controller.NodeDetail) {
        node = NodeView(d.node)
        planRevision = d.planRevision
        networks = d.memberships.map {
            Member(
                network: $0.network, subnetID: $0.subnetID, listenPort: $0.listenPort, publicKey: $0.publicKey.base64)
        }
        workloads = d.workloads.map(\.name)
        status = d.status.map(AgentReportView.init)
    }
}

public struct WorkloadView: Codable, Sendable, Equatable {
    public var name: String, network: String, node: String, address: String, namespace: String, exposed: [String]
    /// Absent in an IPv6-only network.
    public var ipv4Address: String?
    /// The tenant that owns the workload's network; absent for the operator's.
    public var owner: String?
    public init(_ w: Workload, _ a: IPv6Address, ipv4: IPv4Address? = nil, owner: String? = nil) {
        self.owner = owner
        name = w.name
        network = w.network
        node = w.node
        address = a.description
        ipv4Address = ipv4?.description
        namespace = w.namespace
        exposed = w.exposed.map(\.description)
    }
}

public struct AccessGrantView: Codable, Sendable, Equatable {
    public var name: String, network: String, address: String, hub: String, publicKey: String
    /// Absent in an IPv6-only network.
    public var ipv4Address: String?
    /// The wg-quick file; holds the private key when it was generated (shown once, never stored).
    public var wgQuick: String
    public init(_ g: Controller.AccessGrant) {
        name = g.peer.name
        network = g.peer.network
        address = g.address.description
        ipv4Address = g.ipv4Address?.description
        hub = g.peer.hub
        publicKey = g.peer.publicKey.base64
        wgQuick = g.wgQuick
    }
}

/// An agent's last status report: `{"reportedAt": SECONDS, "status": AgentStatus}`.
public struct AgentReportView: Codable, Sendable, Equatable {
    /// Seconds since 1970, when the controller received it.
    public var reportedAt: Int64
    /// What the agent sent (the agent protocol's `AgentStatus`).
    public var status: AgentStatus
    public init(_ r: Controller.AgentReport) {
        reportedAt = r.reportedAt
        status = r.status
    }
}

/// `POST /v1/nodes/{name}/join-tokens`: `{"id", "node", "token", "expiresAt"}`; the token is
/// shown once.
public struct JoinTokenView: Codable, Sendable, Equatable {
    public var id: String
    public var node: String
    public var token: String
    /// Seconds since 1970.
    public var expiresAt: Int64
    public init(_ t: Controller.JoinToken) {
        id = t.id
        node = t.node
        token = t.token
        expiresAt = t.expiresAt
    }
}

/// An outstanding join token as `GET /v1/join-tokens` lists it: never the token itself.
public struct JoinTokenInfoView: Codable, Sendable, Equatable {
    public var id: String
    public var node: String
    /// Seconds since 1970 (0 for tokens made before creation times were kept).
    public var createdAt: Int64
    public var expiresAt: Int64
    public init(_ t: Controller.OutstandingJoinToken) {
        id = t.id
        node = t.node
        createdAt = t.createdAt
        expiresAt = t.expiresAt
    }
}

/// `POST /v1/apply`: what was created and, per node whose plan changes, how.
public struct ApplyResultView: Codable, Sendable, Equatable {
    /// `"network NAME"`, `"node NAME"`, `"workload NAME"`, `"access peer NAME"`, `"gateway route NAME"`.
    public var created: [String]
    /// Node name -> what changes in its plan.
    public var nodes: [String: PlanChangeView]
    /// The new store revision; with a dry run or nothing to do, the current one.
    public var revision: Int64?
    public var dryRun: Bool
    public init(_ r: Controller.ApplyResult) {
        created = r.created
        nodes = r.nodes.mapValues(PlanChangeView.init)
        revision = r.revision
        dryRun = r.dryRun
    }
}

/// What changes in one node's plan: networks joined and left by name, the rest as counts.
public struct PlanChangeView: Codable, Sendable, Equatable, CustomStringConvertible {
    public var networksAdded: [String]
    public var networksRemoved: [String]
    public var peersAdded: Int
    public var peersChanged: Int
    public var peersRemoved: Int
    public var workloadsAdded: Int
    public var workloadsRemoved: Int
    public var firewallChanged: Bool
    public var gatewayChanged: Bool

    public init(_ s: PlanDelta.Summary) {
        networksAdded = s.networksAdded
        networksRemoved = s.networksRemoved
        peersAdded = s.peersAdded
        peersChanged = s.peersChanged
        peersRemoved = s.peersRemoved
        workloadsAdded = s.workloadsAdded
        workloadsRemoved = s.workloadsRemoved
        firewallChanged = s.firewallChanged
        gatewayChanged = s.gatewayChanged
    }

    /// `joins a, +3 peers, firewall`…
    public var description: String {
        PlanDelta.Summary(
            networksAdded: networksAdded, networksRemoved: networksRemoved, peersAdded: peersAdded,
            peersChanged: peersChanged, peersRemoved: peersRemoved, workloadsAdded: workloadsAdded,
            workloadsRemoved: workloadsRemoved, firewallChanged: firewallChanged, gatewayChanged: gatewayChanged
        ).description
    }
}
