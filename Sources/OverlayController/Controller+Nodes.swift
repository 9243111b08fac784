import OverlayModel
import OverlayPlanner
import OverlayStore

extension Controller {
    /// A node to add: what `overlayctl node add` and the topology file give, and the body of
    /// `POST /v1/nodes` (absent fields take the defaults below).
    public struct NodeSpec: Sendable, Equatable, Codable {
        public var name: String
        /// Nil: the node is pending until it joins with a join token.
        public var identity: String?
        public var publicAddresses: [String] = []
        public var listenPorts: String?
        public var region: String?
        public var hub = false
        public var gateway = false
        public var domain: String?

        public init(
            name: String, identity: String? = nil, publicAddresses: [String] = [], listenPorts: String? = nil,
            region: String? = nil, hub: Bool = false, gateway: Bool = false, domain: String? = nil
        ) {
            self.name = name
            self.identity = identity
            self.publicAddresses = publicAddresses
            self.listenPorts = listenPorts
            self.region = region
            self.hub = hub
            self.gateway = gateway
            self.domain = domain
        }

        enum CodingKeys: String, CodingKey {
            case name, identity, publicAddresses, listenPorts, region, hub, gateway, domain
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                name: try c.decode(String.self, forKey: .name),
                identity: try c.decodeIfPresent(String.self, forKey: .identity),
                publicAddresses: try c.decodeIfPresent([String].self, forKey: .publicAddresses) ?? [],
                listenPorts: try c.decodeIfPresent(String.self, forKey: .listenPorts),
                region: try c.decodeIfPresent(String.self, forKey: .region),
                hub: try c.decodeIfPresent(Bool.self, forKey: .hub) ?? false,
                gateway: try c.decodeIfPresent(Bool.self, forKey: .gateway) ?? false,
                domain: try c.decodeIfPresent(String.self, forKey: .domain))
        }

        /// Checks every field; the result is what gets stored.
        func validated() throws -> Node {
            let name = try Names.label(name, field: "node name")
            let identity = try identity.map(Node.parseIdentity) ?? []
            var addresses: [IPAddress] = []
            for a in publicAddresses {
                let parsed = try Node.parsePublicAddress(a)
                if addresses.contains(parsed) {
                    throw ValidationError("public address", a, allowed: "each address once")
                }
                addresses.append(parsed)
            }
            let ports = try listenPorts.map(Node.parsePortRange) ?? Node.defaultListenPorts
            let region = try region.map { try Names.tag($0, field: "region") }
            if hub && addresses.isEmpty {
                throw ValidationError("hub", name, allowed: "a hub relays for others, so it needs --public-address")
            }
            var domainValue: String?
            if gateway {
                guard let domain else {
                    throw ValidationError("gateway", name, allowed: "a gateway needs --domain DOMAIN")
                }
                domainValue = try Names.fqdn(domain, field: "domain")
                if addresses.isEmpty {
                    throw ValidationError(
                        "gateway", name, allowed: "a gateway is a public door, so it needs --public-address")
                }
            } else if let domain {
                throw ValidationError("domain", domain, allowed: "--domain only goes with --gateway")
            }
            return Node(
                name: name, identity: identity, publicAddresses: addresses, listenPorts: ports, region: region,
                hub: hub, gateway: gateway, domain: domainValue)
        }
    }

    @discardableResult
    public func addNode(_ spec: NodeSpec) throws -> Node {
        try requireOperator("adding nodes")
        let node = try spec.validated()
        return try mutate(networks: []) { m in try addNode(m, node) }.0
    }

    func addNode(_ m: Mutation, _ node: Node) throws -> Node {
        if try m.tx.node(named: node.name) != nil { throw ConflictError("node '\(node.name)' already exists") }
        if node.hasJoined, let other = try m.tx.nodeName(identity: node.identity) {
            throw ConflictError("identity \(node.identityBase64) is already the identity of node '\(other)'")
        }
        if let domain = node.domain, let other = try m.tx.nodeName(domain: domain) {
            throw ConflictError("domain '\(domain)' is already served by gateway '\(other)'")
        }
        try m.tx.insert(node)
        return node
    }

    public func nodes() throws -> [Node] {
        try store.read { try $0.nodes() }
    }

    public struct NodeDetail: Sendable {
        public var node: Node
        public var memberships: [Membership]
        public var workloads: [Workload]
        public var planRevision: Int64
        /// The agent's last report, nil before the first one.
        public var status: AgentReport?
    }

    public func node(named name: String) throws -> NodeDetail {
        try requireOperator("reading node details")
        return try store.read { tx in
            guard let node = try tx.node(named: name) else { throw NotFoundError("node", name) }
            return NodeDetail(
                node: node, memberships: try tx.memberships(node: name).map(\.membership),
                workloads: try tx.workloads(node: name), planRevision: try tx.planRevision(node: name),
                status: try Controller.agentReport(tx, node: name))
        }
    }

    /// Removes a node that hosts nothing: no workloads, no gateway routes, no access peers dialling it,
    /// and not the only relay of a network with hidden members.
    @discardableResult
    public func removeNode(name: String) throws -> Change {
        try requireOperator("removing nodes")
        return try mutate(networks: []) { m in
            guard try m.tx.node(named: name) != nil else { throw NotFoundError("node", name) }
            let networks = try m.tx.memberships(node: name).map(\.membership.network)
            for network in networks { try m.include(network: network) }
            let workloads = try m.tx.workloads(node: name)
            if !workloads.isEmpty {
                throw ConflictError(
                    "node '\(name)' still hosts workloads (\(workloads.prefix(5).map(\.name).joined(separator: ", "))): remove them first"
                )
            }
            let routes = try m.tx.gatewayRoutes(node: name)
            if !routes.isEmpty {
                throw ConflictError(
                    "node '\(name)' still serves gateway routes (\(routes.map(\.name).joined(separator: ", "))): remove them first"
                )
            }
            let dialling = try m.tx.accessPeers().filter { $0.hub == name }
            if !dialling.isEmpty {
                throw ConflictError(
                    "access peers dial node '\(name)' (\(dialling.map(\.name).joined(separator: ", "))): remove them first"
                )
            }
            for network in networks {
                try m.tx.deleteMembership(network: network, node: name)
            }
            try m.tx.deleteNode(named: name)
        }.1
    }
}
