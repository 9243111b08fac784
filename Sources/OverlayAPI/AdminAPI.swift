import OverlayController
import OverlayModel
import OverlayPlanner

/// Every admin use case, as `overlayctl` calls it: in process on a database (`LocalAdmin`) or on
/// a running controller over HTTP (`RemoteAdmin`). Both answer the same values and throw errors
/// whose description is the same message.
public protocol AdminAPI: Sendable {
    func createNetwork(_ r: CreateNetworkRequest) async throws -> NetworkView
    func networks() async throws -> [NetworkView]
    func network(named name: String) async throws -> NetworkDetailView
    func deleteNetwork(name: String) async throws -> ChangeView
    func updateNetwork(name: String, _ r: UpdateNetworkRequest) async throws -> ChangeView
    func attach(network: String, node: String) async throws -> ChangeView
    func detach(network: String, node: String) async throws -> ChangeView
    func graph(network: String) async throws -> String

    func addNode(_ r: AddNodeRequest) async throws -> NodeView
    func nodes() async throws -> [NodeView]
    func node(named name: String) async throws -> NodeDetailView
    func removeNode(name: String) async throws -> ChangeView
    func createJoinToken(node: String, _ r: JoinTokenRequest) async throws -> JoinTokenView
    /// Outstanding (unused, unexpired) join tokens, of one node or all.
    func joinTokens(node: String?) async throws -> [JoinTokenInfoView]
    func revokeJoinToken(id: String) async throws -> JoinTokenInfoView
    func plan(node: String) async throws -> NodePlan

    func addWorkload(_ r: AddWorkloadRequest) async throws -> WorkloadView
    func workloads() async throws -> [WorkloadView]
    func workload(named name: String) async throws -> WorkloadView
    func removeWorkload(name: String) async throws -> ChangeView

    func addAccessPeer(_ r: AddAccessPeerRequest) async throws -> AccessGrantView
    func accessPeers() async throws -> [AccessPeer]
    func removeAccessPeer(name: String) async throws -> ChangeView

    func addGatewayRoute(_ r: AddGatewayRouteRequest) async throws -> GatewayRoute
    func gatewayRoutes() async throws -> [GatewayRoute]
    func removeGatewayRoute(name: String) async throws -> ChangeView

    func apply(_ r: ApplyRequest) async throws -> ApplyResultView
}

/// The admin use cases on a controller in this process, for the principal it is scoped to
/// (`Controller.scoped(to:)`; the operator unless scoped).
public struct LocalAdmin: AdminAPI {
    public let controller: Controller

    public init(_ controller: Controller) { self.controller = controller }

    public func createNetwork(_ r: CreateNetworkRequest) async throws -> NetworkView {
        let n = try controller.createNetwork(
            name: r.name, prefix: r.prefix, mtu: r.mtu, ipv4: r.ipv4, noIPv4: r.noIPv4 ?? false,
            egress: r.egress ?? true)
        return NetworkView(n, owner: controller.tenant)
    }
    public func networks() async throws -> [NetworkView] {
        try controller.networksWithOwners().map { NetworkView($0.network, owner: $0.owner) }
    }
    public func network(named name: String) async throws -> NetworkDetailView {
        NetworkDetailView(try controller.network(named: name))
    }
    public func deleteNetwork(name: String) async throws -> ChangeView {
        ChangeView(try controller.deleteNetwork(name: name))
    }
    public func updateNetwork(name: String, _ r: UpdateNetworkRequest) async throws -> ChangeView {
        ChangeView(try controller.setEgress(network: name, on: r.egress))
    }
    public func attach(network: String, node: String) async throws -> ChangeView {
        ChangeView(try controller.attach(network: network, node: node))
    }
    public func detach(network: String, node: String) async throws -> ChangeView {
        ChangeView(try controller.detach(network: network, node: node))
    }
    public func graph(network: String) async throws -> String { try controller.graph(network: network) }

    public func addNode(_ r: AddNodeRequest) async throws -> NodeView {
        NodeView(try controller.addNode(r))
    }
    /// A tenant sees names, regions and roles only.
    public func nodes() async throws -> [NodeView] {
        try controller.nodes().map { controller.isOperator ? NodeView($0) : NodeView(listing: $0) }
    }
    public func node(named name: String) async throws -> NodeDetailView {
        NodeDetailView(try controller.node(named: name))
    }
    public func removeNode(name: String) async throws -> ChangeView {
        ChangeView(try controller.removeNode(name: name))
    }
    public func createJoinToken(node: String, _ r: JoinTokenRequest) async throws -> JoinTokenView {
        JoinTokenView(try controller.createJoinToken(node: node, expires: r.expires))
    }
    public func joinTokens(node: String?) async throws -> [JoinTokenInfoView] {
        try controller.outstandingJoinTokens(node: node).map(JoinTokenInfoView.init)
    }
    public func revokeJoinToken(id: String) async throws -> JoinTokenInfoView {
        JoinTokenInfoView(try controller.revokeJoinToken(id: id))
    }
    public func plan(node: String) async throws -> NodePlan { try controller.plan(node: node) }

    public func addWorkload(_ r: AddWorkloadRequest) async throws -> WorkloadView {
        let (w, a) = try controller.addWorkload(
            name: r.name, network: r.network, node: r.node, namespace: r.netns, expose: r.expose ?? [])
        return WorkloadView(w, a, ipv4: try controller.workloadIPv4Addresses()[w.name], owner: controller.tenant)
    }
    public func workloads() async throws -> [WorkloadView] {
        let v4 = try controller.workloadIPv4Addresses()
        let owners = try controller.networkOwners()
        return try controller.workloadsWithAddresses().map {
            WorkloadView($0, $1, ipv4: v4[$0.name], owner: owners[$0.network])
        }
    }
    public func workload(named name: String) async throws -> WorkloadView {
        let (w, a) = try controller.workload(named: name)
        let owner = try controller.networkOwners()[w.network]
        return WorkloadView(w, a, ipv4: try controller.workloadIPv4Addresses()[w.name], owner: owner)
    }
    public func removeWorkload(name: String) async throws -> ChangeView {
        ChangeView(try controller.removeWorkload(name: name))
    }

    public func addAccessPeer(_ r: AddAccessPeerRequest) async throws -> AccessGrantView {
        AccessGrantView(
            try controller.addAccessPeer(name: r.name, network: r.network, publicKey: r.publicKey, hub: r.hub))
    }
    public func accessPeers() async throws -> [AccessPeer] { try controller.accessPeers() }
    public func removeAccessPeer(name: String) async throws -> ChangeView {
        ChangeView(try controller.removeAccessPeer(name: name))
    }

    public func addGatewayRoute(_ r: AddGatewayRouteRequest) async throws -> GatewayRoute {
        try controller.addGatewayRoute(r)
    }
    public func gatewayRoutes() async throws -> [GatewayRoute] { try controller.gatewayRoutes() }
    public func removeGatewayRoute(name: String) async throws -> ChangeView {
        ChangeView(try controller.removeGatewayRoute(name: name))
    }

    public func apply(_ r: ApplyRequest) async throws -> ApplyResultView {
        ApplyResultView(try controller.apply(try TopologyFile.parse(r.topology), dryRun: r.dryRun ?? false))
    }
}
