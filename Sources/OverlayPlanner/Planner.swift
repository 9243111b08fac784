import OverlayModel

/// A network with its topology worked out: the unit the planner shares between the plans of all
/// of the network's members.
public struct PlannedNetwork: Sendable {
    public let snapshot: NetworkSnapshot
    public let topology: Topology
    /// Node name -> its workloads in this network, sorted by name.
    let workloadsByNode: [String: [Workload]]
    let gatewaySources: [IPv6Address]

    public init(_ snapshot: NetworkSnapshot) throws {
        self.snapshot = snapshot
        topology = try Topology(snapshot)
        var byNode: [String: [Workload]] = [:]
        for w in snapshot.workloads.sorted(by: { $0.name < $1.name }) { byNode[w.node, default: []].append(w) }
        workloadsByNode = byNode
        gatewaySources = topology.members.filter(\.isGateway).map { AddressPlan.routerAddress($0.subnet) }.sorted()
    }

    public var network: Network { snapshot.network }

    /// The membership of member `i` (a topology index).
    public func membership(index i: Int) -> Membership {
        snapshot.members[topology.snapshotIndex[i]].membership
    }

    /// The membership of `node`, nil when it is not a member.
    public func membership(of node: String) -> Membership? {
        topology.indexByName[node].map(membership(index:))
    }

    /// The address of a workload of this network.
    public func address(of w: Workload) -> IPv6Address? {
        guard let i = topology.indexByName[w.node] else { return nil }
        return AddressPlan.host(topology.members[i].subnet, w.hostNumber)
    }

    /// What member `node` builds for this network; nil when it is not a member.
    public func resource(for node: String) -> NetworkResourcePlan? {
        guard let i = topology.indexByName[node] else { return nil }
        return resource(index: i, membership: membership(index: i))
    }

    /// Member `i`'s part; `withPeers: false` leaves its peer list empty (for renderers that add
    /// the shared peer entries themselves).
    public func resource(index i: Int, membership: Membership, peers withPeers: Bool = true) -> NetworkResourcePlan {
        let me = topology.members[i]
        let workloads = (workloadsByNode[me.name] ?? []).map { w in
            WorkloadPlan(
                name: w.name, address: AddressPlan.host(me.subnet, w.hostNumber),
                ipv4Address: me.subnet4.flatMap { AddressPlan.ipv4Host($0, w.hostNumber) }, namespace: w.namespace,
                hostInterface: "vw-\(String(w.hostNumber, radix: 16))", exposed: w.exposed.sorted())
        }
        var ipv4: NetworkIPv4Plan?
        if let p4 = network.ipv4Prefix, let s4 = me.subnet4 {
            ipv4 = NetworkIPv4Plan(prefix: p4, subnet: s4, routerAddress: AddressPlan.ipv4RouterAddress(s4))
        }

        let exposed = workloads.flatMap { w in
            w.exposed.map { ExposedPort(address: w.address, proto: $0.proto, port: $0.port) }
        }.sorted()
        return NetworkResourcePlan(
            name: network.name, id: network.id, prefix: network.prefix, subnet: me.subnet,
            routerAddress: AddressPlan.routerAddress(me.subnet), mtu: network.mtu,
            namespace: network.namespaceName, interface: network.interfaceName, bridge: network.bridgeName,
            listenPort: membership.listenPort, publicKey: membership.publicKey,
            sealedPrivateKey: Base64.encode(membership.sealedPrivateKey),
            peers: withPeers ? topology.peers(of: i) : [], routes: topology.networkPrefixes, workloads: workloads,
            firewall: NetworkFirewallPlan(
                prefix: network.prefix, ipv4Prefix: network.ipv4Prefix, gatewaySources: gatewaySources,
                exposed: exposed),
            failover: topology.failover(of: i), ipv4: ipv4,
            egress: network.egress
                ? EgressPlan(
                    nat44: ipv4 != nil, nat66: me.hasPublicIPv6, interface: network.transferInterfaceName,
                    hostInterface: network.transferHostInterfaceName,
                    address: AddressPlan.transferAddress(listenPort: membership.listenPort)) : nil,
            relayForwarder: topology.relayForwarder(of: i))
    }
}

public enum Planner {
    /// The whole plan of `node`, from the planned networks it is a member of and the gateway routes
    /// it serves (each route's backends resolved through the networks).
    public static func nodePlan(
        node: Node, revision: Int64, networks: [PlannedNetwork],
        gatewayRoutes: [GatewayRoute] = []
    ) -> NodePlan {
        let resources = networks.compactMap { $0.resource(for: node.name) }.sorted { $0.name < $1.name }
        var gateway: GatewayPlan?
        if node.gateway {
            var workloadIndex: [String: (PlannedNetwork, Workload)] = [:]
            for n in networks { for w in n.snapshot.workloads { workloadIndex[w.name] = (n, w) } }
            let routes = gatewayRoutes.filter { $0.node == node.name }.sorted { $0.name < $1.name }.compactMap {
                r -> GatewayRoutePlan? in
                let backends = r.backends.compactMap { b -> (String, GatewayBackendPlan)? in
                    guard let (n, w) = workloadIndex[b.workload], let a = n.address(of: w) else { return nil }
                    return (n.network.name, GatewayBackendPlan(workload: w.name, address: a, port: b.port))
                }
                guard let network = backends.first?.0 else { return nil }
                let namespace = networks.first { $0.network.name == network }!.network.namespaceName
                return GatewayRoutePlan(
                    name: r.name, match: r.match, host: r.hostName(domain: node.domain),
                    tlsPassthrough: r.tlsPassthrough, network: network, namespace: namespace,
                    backends: backends.map(\.1), balance: r.balance,
                    tls: r.tls.map {
                        GatewayTLSPlan(certificate: $0.certificate, sealedKey: Base64.encode($0.sealedKey))
                    })
            }
            gateway = GatewayPlan(domain: node.domain, routes: routes)
        }
        let served = gateway?.routes ?? []
        var tcp = Set<UInt16>()
        var udp = Set<UInt16>()
        for r in served {
            switch r.match {
            case .name, .fqdn: tcp.formUnion(r.tlsPassthrough || r.tls != nil ? [443] : [80])
            case .tcp(let p): tcp.insert(p)
            case .udp(let p): udp.insert(p)
            }
        }
        return NodePlan(
            node: node.name, revision: revision,
            hostFirewall: HostFirewallPlan(
                wireguardPorts: (resources.map(\.listenPort) + resources.compactMap(\.relayForwarder?.port)).sorted(),
                gatewayTCPPorts: tcp.sorted(), gatewayUDPPorts: udp.sorted(),
                egress: resources.contains { $0.egress?.nat44 == true }),
            networks: resources, gateway: gateway)
    }
}

extension PlannedNetwork {
    /// Whether every member's peers, relaying and network-wide settings are the same in `other`:
    /// if so, only members whose own workloads or membership changed have a new plan.
    public func sharesPlansWith(_ other: PlannedNetwork) -> Bool {
        network == other.network && gatewaySources == other.gatewaySources
            && topology.members == other.topology.members && topology.served == other.topology.served
            && topology.relayHubs == other.topology.relayHubs
            && topology.relays.mapValues { [$0.primary, $0.standby ?? -1] }
                == other.topology.relays.mapValues { [$0.primary, $0.standby ?? -1] }
            && topology.accessPeers == other.topology.accessPeers
    }

    /// Whether `node`'s own part (its membership and workloads) is the same in `other`.
    public func sameLocalPlan(_ other: PlannedNetwork, node: String) -> Bool {
        membership(of: node) == other.membership(of: node) && workloadsByNode[node] == other.workloadsByNode[node]
    }
}
