import OverlayCrypto
import OverlayModel
import OverlayPlanner
import OverlayStore

extension Controller {
    /// Creates a network; without a prefix, a random RFC 4193 /48 (fd + 40 random bits) not used by
    /// any other network. IPv4 beside it unless `noIPv4`: `ipv4` or the least used /16 of
    /// 100.64.0.0/10. Egress is on unless `egress` says otherwise.
    @discardableResult
    public func createNetwork(
        name: String, prefix: String? = nil, mtu: Int? = nil, ipv4: String? = nil, noIPv4: Bool = false,
        egress: Bool = true
    ) throws -> Network {
        let name = try Names.label(name, field: "network name")
        let mtu = try Network.validateMTU(mtu ?? Network.defaultMTU)
        let given = try prefix.map(Network.validatePrefix)
        if noIPv4, let ipv4 {
            throw ValidationError("ipv4 prefix", ipv4, allowed: "no IPv4 prefix together with --no-ipv4")
        }
        let given4 = try ipv4.map(Network.validateIPv4Prefix)
        return try mutate(networks: []) { m in
            try createNetwork(
                m, name: name, prefix: given, mtu: mtu, ipv4: noIPv4 ? .none : given4.map { .given($0) } ?? .automatic,
                egress: egress)
        }.0
    }

    /// How a new network gets its IPv4 prefix.
    enum IPv4Choice {
        case none, automatic
        case given(IPv4Prefix)
    }

    func createNetwork(
        _ m: Mutation, name: String, prefix given: IPv6Prefix?, mtu: Int, ipv4: IPv4Choice = .automatic,
        egress: Bool = true
    ) throws -> Network {
        if try m.tx.network(named: name) != nil { throw ConflictError("network '\(name)' already exists") }
        var chosen = given
        if let p = chosen, try m.tx.networkExists(prefix: p) {
            throw ConflictError("prefix \(p) is already used by another network")
        }
        while chosen == nil {
            let r = SecureRandom.bytes(5)
            let bytes = [0xfd] + r + [UInt8](repeating: 0, count: 10)
            let p = IPv6Prefix(network: IPv6Address(bytes: bytes)!, length: 48)!
            if try !m.tx.networkExists(prefix: p) { chosen = p }
        }
        var id = SecureRandom.hex(4)
        while try m.tx.networkExists(id: id) { id = SecureRandom.hex(4) }
        let prefix4: IPv4Prefix? =
            switch ipv4 {
            case .none: nil
            case .given(let p): p
            case .automatic: AddressPlan.defaultIPv4Prefix(used: try m.tx.usedIPv4Prefixes())
            }
        let network = Network(name: name, id: id, prefix: chosen!, mtu: mtu, ipv4Prefix: prefix4, egress: egress)
        try m.tx.insert(network)
        if let tenant { try m.tx.setNetworkOwner(tenant, network: name) }
        return network
    }

    /// Turns a network's way out to the internet on or off; every member's plan changes.
    @discardableResult
    public func setEgress(network name: String, on: Bool) throws -> Change {
        try mutate(networks: [name]) { m in
            guard let n = try visibleNetwork(named: name, m.tx) else { throw NotFoundError("network", name) }
            guard n.egress != on else {
                throw ConflictError("network '\(name)' already has egress \(on ? "on" : "off")")
            }
            try m.tx.setEgress(on, network: name)
        }.1
    }

    public func networks() throws -> [Network] {
        try store.read { tx in
            let visible = try visibleNetworks(tx)
            return try tx.networks().filter { visible?.contains($0.name) ?? true }
        }
    }

    /// The networks this controller may see, each with its owner (nil: the operator's), in one
    /// read.
    public func networksWithOwners() throws -> [(network: Network, owner: String?)] {
        try store.read { tx in
            let visible = try visibleNetworks(tx)
            let owners = try tx.networkOwners()
            return try tx.networks().filter { visible?.contains($0.name) ?? true }.map { ($0, owners[$0.name]) }
        }
    }

    public struct NetworkDetail: Sendable {
        public var network: Network
        /// The tenant that owns it; nil for the operator's.
        public var owner: String?
        public var members: [NetworkSnapshot.Member]
        public var workloads: [Workload]
        public var accessPeers: [AccessPeer]
    }

    public func network(named name: String) throws -> NetworkDetail {
        try store.read { tx in
            guard let s = try tx.snapshot(network: name), try sees(network: name, tx) else {
                throw NotFoundError("network", name)
            }
            return NetworkDetail(
                network: s.network, owner: try tx.networkOwner(named: name),
                members: s.members.sorted { $0.membership.subnetID < $1.membership.subnetID },
                workloads: s.workloads, accessPeers: s.accessPeers)
        }
    }

    /// Deletes a network with everything in it (memberships, workloads, access peers, and the gateway
    /// routes into it).
    @discardableResult
    public func deleteNetwork(name: String) throws -> Change {
        try mutate(networks: [name]) { m in
            guard try visibleNetwork(named: name, m.tx) != nil else { throw NotFoundError("network", name) }
            // Gateways lose their routes into it; members are re-planned with the network.
            for r in try m.tx.deleteNetwork(named: name) { m.touch(node: r.node) }
        }.1
    }

    /// Makes a node a member of a network explicitly (kept until detached).
    @discardableResult
    public func attach(network: String, node: String) throws -> Change {
        try mutate(networks: [network]) { m in
            guard let n = try visibleNetwork(named: network, m.tx) else { throw NotFoundError("network", network) }
            guard let node = try m.tx.node(named: node) else { throw NotFoundError("node", node) }
            try m.ensureMember(network: n, node: node, pinned: true)
        }.1
    }

    /// Drops an explicit membership; it stays while workloads or relaying still need it. Detaching
    /// what was never attached is refused: it would change nothing.
    @discardableResult
    public func detach(network: String, node: String) throws -> Change {
        try mutate(networks: [network]) { m in
            guard try visibleNetwork(named: network, m.tx) != nil else { throw NotFoundError("network", network) }
            guard try m.tx.node(named: node) != nil else { throw NotFoundError("node", node) }
            guard try m.tx.isMember(network: network, node: node) else {
                throw NotFoundError("member of network '\(network)'", node)
            }
            // Unattached members are there because something needs them (pruning removed the rest).
            guard try m.tx.pinnedMembers(network: network).contains(node) else {
                throw ConflictError(
                    "node '\(node)' was not attached to network '\(network)' with 'network attach': it stays while its workloads, access peers, gateway routes or relaying need it"
                )
            }
            try m.tx.setPinned(false, network: network, node: node)
            try m.pruneMembers(network: network)
        }.1
    }

    /// The topology of a network as Graphviz DOT.
    public func graph(network name: String) throws -> String {
        try store.read { tx in
            guard let s = try tx.snapshot(network: name), try sees(network: name, tx) else {
                throw NotFoundError("network", name)
            }
            return GraphRenderer.dot(try PlannedNetwork(s))
        }
    }
}
