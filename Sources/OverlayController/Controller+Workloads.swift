import OverlayModel
import OverlayPlanner
import OverlayStore

extension Controller {
    /// Places a workload: the node joins the network if it was not a member, and the workload gets
    /// the lowest free address (from ::2) in the node's /64.
    @discardableResult
    public func addWorkload(
        name: String, network: String, node: String, namespace: String? = nil,
        expose: [String] = []
    ) throws -> (Workload, IPv6Address) {
        let name = try Names.label(name, field: "workload name")
        let namespace = try Names.netns(namespace ?? Workload.defaultNamespace(for: name), field: "netns")
        var ports: [PortSpec] = []
        for e in expose {
            let p = try PortSpec(parsing: e)
            if !ports.contains(p) { ports.append(p) }
        }
        return try mutate(networks: [network]) { m in
            try addWorkload(m, name: name, network: network, node: node, namespace: namespace, ports: ports)
        }.0
    }

    func addWorkload(
        _ m: Mutation, name: String, network: String, node: String, namespace: String,
        ports: [PortSpec]
    ) throws -> (Workload, IPv6Address) {
        let (found, host, existing, onNode, membership) = try m.tx.fetch(
            m.tx.networkQuery(named: network), m.tx.nodeQuery(named: node), m.tx.workloadQuery(named: name),
            m.tx.workloadsQuery(node: node), m.tx.membershipQuery(network: network, node: node))
        guard let net = found, try sees(network: network, m.tx) else { throw NotFoundError("network", network) }
        guard let host else { throw NotFoundError("node", node) }
        if existing != nil { throw ConflictError("workload '\(name)' already exists") }
        if let other = onNode.first(where: { $0.namespace == namespace }) {
            // Another tenant's workload is not named.
            let by = try sees(network: other.network, m.tx) ? " by workload '\(other.name)'" : ""
            throw ConflictError("namespace '\(namespace)' on node '\(node)' is already used\(by)")
        }
        let member = try m.ensureMember(network: net, node: host, current: .some(membership))
        let used = Set(onNode.filter { $0.network == network }.map(\.hostNumber))
        var number = AddressPlan.firstHostNumber
        while used.contains(number) { number += 1 }
        if net.ipv4Prefix != nil, number > AddressPlan.maxIPv4HostNumber {
            throw ConflictError(
                "node '\(node)' has no free IPv4 address left in network '\(network)': its /24 holds \(AddressPlan.maxIPv4HostNumber - AddressPlan.firstHostNumber + 1) workloads (.2 to .254)"
            )
        }
        let w = Workload(
            name: name, network: network, node: node, hostNumber: number, namespace: namespace,
            exposed: ports.sorted())
        try m.tx.insert(w)
        return (w, try Controller.address(of: w, in: net, memberships: [member]))
    }

    public func workloads() throws -> [Workload] {
        try store.read { tx in
            let visible = try visibleNetworks(tx)
            return try tx.workloads().filter { visible?.contains($0.network) ?? true }
        }
    }

    /// Every workload with its address, from three queries whatever their number.
    public func workloadsWithAddresses() throws -> [(Workload, IPv6Address)] {
        try store.read { tx in
            let networks = Dictionary(try tx.networks().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var memberships: [String: [Membership]] = [:]
            for m in try tx.memberships() { memberships[m.network, default: []].append(m) }
            let visible = try visibleNetworks(tx)
            return try tx.workloads().filter { visible?.contains($0.network) ?? true }.map { w in
                guard let net = networks[w.network] else { throw NotFoundError("network", w.network) }
                return (w, try Controller.address(of: w, in: net, memberships: memberships[w.network] ?? []))
            }
        }
    }

    public func workload(named name: String) throws -> (Workload, IPv6Address) {
        try store.read { tx in
            guard let w = try tx.workload(named: name), let net = try visibleNetwork(named: w.network, tx) else {
                throw NotFoundError("workload", name)
            }
            return (w, try Controller.address(of: w, in: net, memberships: try tx.memberships(network: w.network)))
        }
    }

    /// The workload's address in its node's /64; a workload whose node is not a member of the
    /// network (a row edited by hand) is an error, not a crash.
    static func address(of w: Workload, in net: Network, memberships: [Membership]) throws -> IPv6Address {
        guard let member = memberships.first(where: { $0.node == w.node }) else {
            throw inconsistent(
                "workload '\(w.name)' is on node '\(w.node)', which is not a member of network '\(w.network)'")
        }
        return AddressPlan.host(AddressPlan.subnet(net.prefix, member.subnetID), w.hostNumber)
    }

    /// Every workload's IPv4 address by name (its host number in its node's /24); workloads of
    /// IPv6-only networks are not in it.
    public func workloadIPv4Addresses() throws -> [String: IPv4Address] {
        try store.read { tx in
            let networks = Dictionary(try tx.networks().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var subnets: [String: IPv4Prefix] = [:]
            for m in try tx.memberships() {
                guard let p4 = networks[m.network]?.ipv4Prefix, let s = AddressPlan.ipv4Subnet(p4, m.subnetID) else {
                    continue
                }
                subnets[m.network + "/" + m.node] = s
            }
            var out: [String: IPv4Address] = [:]
            for w in try tx.workloads() {
                if let s = subnets[w.network + "/" + w.node], let a = AddressPlan.ipv4Host(s, w.hostNumber) {
                    out[w.name] = a
                }
            }
            return out
        }
    }

    /// Removes a workload; its node leaves the network when nothing else keeps it there.
    @discardableResult
    public func removeWorkload(name: String) throws -> Change {
        try mutate(networks: []) { m in
            guard let network = try m.tx.workload(named: name)?.network, try sees(network: network, m.tx) else {
                throw NotFoundError("workload", name)
            }
            try m.include(network: network)
            let routes = try m.tx.gatewayRoutes().filter { $0.backends.contains { $0.workload == name } }
            if !routes.isEmpty {
                throw ConflictError(
                    "workload '\(name)' is a backend of gateway routes (\(routes.map(\.name).joined(separator: ", "))): remove them first"
                )
            }
            try m.tx.deleteWorkload(named: name)
            try m.pruneMembers(network: network)
        }.1
    }
}
