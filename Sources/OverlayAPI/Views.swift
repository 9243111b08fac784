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

public struct NetworkDetailView: Codable, Sendable, Equatable {
    public var network: Network
    public var members: [Member]
    public var workloads: [Workload]
    public var accessPeers: [AccessPeer]
    public struct Member: Codable, Sendable, Equatable {
        public var node: String, subnet: String, publicKey: String, listenPort: UInt16, hub: Bool, hidden: Bool
    }

    public init(_ d: Controller.NetworkDetail) {
        network = d.network
        members = d.members.map {
            Member(
                node: $0.node.name, subnet: AddressPlan.subnet(d.network.prefix, $0.membership.subnetID).description,
                publicKey: $0.membership.publicKey.base64, listenPort: $0.membership.listenPort, hub: $0.node.hub,
                hidden: $0.node.isHidden)
        }
        workloads = d.workloads
        accessPeers = d.accessPeers
    }
}

public struct NodeView: Codable, Sendable, Equatable {
    public var name: String
    /// Nil while the node has not joined.
    public var identity: String?
    public var publicAddresses: [String]
    public var listenPorts: String
    public var region: String?
    public var hub: Bool
    public var gateway: Bool
    public var domain: String?
    public var hidden: Bool

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

    public var roles: [String] {
        var r: [String] = []
        if hub { r.append("hub") }
        if gateway { r.append("gateway") }
        if hidden { r.append("hidden") }
        if identity == nil { r.append("pending") }
        return r.isEmpty ? ["-"] : r
    }
}

public struct NodeDetailView: Codable, Sendable, Equatable {
    public var node: NodeView
    public var planRevision: Int64
    public var networks: [Member]
    public var workloads: [String]
    /// The agent's last report, nil before the first one.
    public var status: Controller.AgentReport?
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
        status = d.status
    }
}

public struct WorkloadView: Codable, Sendable, Equatable {
    public var name: String, network: String, node: String, address: String, namespace: String, exposed: [String]
    public init(_ w: Workload, _ a: IPv6Address) {
        name = w.name
        network = w.network
        node = w.node
        address = a.description
        namespace = w.namespace
        exposed = w.exposed.map(\.description)
    }
}

public struct AccessGrantView: Codable, Sendable, Equatable {
    public var name: String, network: String, address: String, hub: String, publicKey: String
    /// The wg-quick file; holds the private key when it was generated (shown once, never stored).
    public var wgQuick: String
    public init(_ g: Controller.AccessGrant) {
        name = g.peer.name
        network = g.peer.network
        address = g.address.description
        hub = g.peer.hub
        publicKey = g.peer.publicKey.base64
        wgQuick = g.wgQuick
    }
}
