/// Everything the planner needs to know about one network: the input of planning, read from the
/// store in one transaction. A plain value here so the store can produce it without depending on
/// the planner.
public struct NetworkSnapshot: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var node: Node
        public var membership: Membership
        public init(node: Node, membership: Membership) {
            self.node = node
            self.membership = membership
        }
    }

    public var network: Network
    /// Any order; the planner sorts by subnet ID.
    public var members: [Member]
    public var workloads: [Workload]
    public var accessPeers: [AccessPeer]
    /// Gateway routes whose backends are in this network.
    public var gatewayRoutes: [GatewayRoute]

    public init(
        network: Network, members: [Member], workloads: [Workload] = [], accessPeers: [AccessPeer] = [],
        gatewayRoutes: [GatewayRoute] = []
    ) {
        self.network = network
        self.members = members
        self.workloads = workloads
        self.accessPeers = accessPeers
        self.gatewayRoutes = gatewayRoutes
    }
}
