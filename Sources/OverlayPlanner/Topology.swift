import OverlayModel

/// Who peers with whom in one network, and which prefixes each peer carries (docs/architecture.md).
///
/// Non-hidden members form a full mesh. Hidden members dial the network's *relay hubs* (the two
/// hubs with the lowest subnet IDs; one if there is one): all hidden members share them, so any
/// two members are at most two WireGuard hops apart. Each hidden member has a primary relay (by
/// subnet ID parity, to spread load) that carries its /64 for everyone else; the other relay is its
/// standby. A hub "serves" its own /64, the /64s of hidden members it is primary for, and the
/// addresses of access peers that dial it. Two hidden members with different primaries talk
/// through the primary of the one with the lower subnet ID, in both directions.
public struct Topology: Sendable {
    public struct Entry: Sendable, Equatable {
        public var index: Int
        public var name: String
        public var publicKey: WireGuardKey
        public var endpoint: Endpoint?
        public var subnet: IPv6Prefix
        /// Its /24 when the network has IPv4.
        public var subnet4: IPv4Prefix?
        public var isHub: Bool
        public var isHidden: Bool
        public var isGateway: Bool
        /// Whether the node has a public IPv6 address (egress there is NAT66 as well).
        public var hasPublicIPv6: Bool = false
        /// A hub's relay forwarder: its public address (the endpoint's) and its relay port.
        public var relayEndpoint: Endpoint? = nil

        /// What it owns in both families: its /64, then its /24.
        public var prefixes: [IPPrefix] { [subnet.asIPPrefix] + (subnet4.map { [$0.asIPPrefix] } ?? []) }
    }

    public let network: Network
    /// Sorted by subnet ID.
    public let members: [Entry]
    public let relayHubs: [Int]
    /// Member index -> (primary relay index, standby relay index?), for hidden members.
    public let relays: [Int: (primary: Int, standby: Int?)]
    /// Hub member index -> prefixes it carries for everyone else, its own /64 first.
    public let served: [Int: [IPPrefix]]
    public let accessPeers: [AccessPeer]
    /// Hub member index -> its access peers.
    public let accessByHub: [Int: [AccessPeer]]
    public let indexByName: [String: Int]
    /// Member index -> its position in the snapshot's members.
    let snapshotIndex: [Int]

    public static let hiddenKeepalive: UInt16 = 25

    public init(_ snapshot: NetworkSnapshot) throws {
        network = snapshot.network
        // The order of their indices, not sorted copies: copying a member retains each of its
        // arrays, thousands of times per plan. The store reads them in this order already.
        let order = Topology.bySubnetID(snapshot.members)
        let (entries, byName) = try snapshot.members.withUnsafeBufferPointer {
            try Topology.entries($0, order: order, network: snapshot.network)
        }
        members = entries
        indexByName = byName
        snapshotIndex = order

        let hubs = entries.filter(\.isHub).map(\.index)
        let hidden = entries.filter(\.isHidden).map(\.index)
        if !hidden.isEmpty && hubs.isEmpty {
            let names = hidden.prefix(3).map { entries[$0].name }.joined(separator: ", ")
            throw TopologyError(
                "network '\(network.name)' has hidden members (\(names)) but no hub to relay for them: add a node with --hub and a public address to the network"
            )
        }
        relayHubs = Array(hubs.prefix(2))
        var relays: [Int: (primary: Int, standby: Int?)] = [:]
        var served: [Int: [IPPrefix]] = [:]
        for h in hubs { served[h] = entries[h].prefixes }
        for x in hidden {
            let subnetID = Int(snapshot.members[order[x]].membership.subnetID)
            let p = relayHubs.count == 2 ? relayHubs[subnetID % 2] : relayHubs[0]
            let s = relayHubs.count == 2 ? relayHubs[1 - subnetID % 2] : nil
            relays[x] = (p, s)
            served[p]!.append(contentsOf: entries[x].prefixes)
        }
        var accessByHub: [Int: [AccessPeer]] = [:]
        let access = snapshot.accessPeers.sorted { $0.hostNumber < $1.hostNumber }
        for a in access {
            guard let h = byName[a.hub], entries[h].isHub else {
                throw TopologyError(
                    "access peer '\(a.name)' dials '\(a.hub)', which is not a hub member of network '\(network.name)'")
            }
            accessByHub[h, default: []].append(a)
            served[h]!.append(contentsOf: Topology.accessPrefixes(a, network: network))
        }
        self.relays = relays
        self.served = served
        self.accessPeers = access
        self.accessByHub = accessByHub
    }

    /// The entries of `members` taken in `order`, and their indices by name. Fields are read in
    /// place through the buffer: binding a member to a local copies (retains) all of it.
    private static func entries(
        _ members: UnsafeBufferPointer<NetworkSnapshot.Member>, order: [Int], network: Network
    ) throws -> ([Entry], [String: Int]) {
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)
        var byName: [String: Int] = [:]
        byName.reserveCapacity(members.count)
        for (i, k) in order.enumerated() {
            let subnetID = members[k].membership.subnetID
            let subnet = AddressPlan.subnet(network.prefix, subnetID)
            var subnet4: IPv4Prefix?
            if let p4 = network.ipv4Prefix {
                guard let s = AddressPlan.ipv4Subnet(p4, subnetID) else {
                    throw TopologyError(
                        "member '\(members[k].node.name)' of network '\(network.name)' has subnet \(subnetID), beyond the \(AddressPlan.ipv4NodeCapacity(p4)) /24s of its IPv4 prefix \(p4)"
                    )
                }
                subnet4 = s
            }
            let address = members[k].node.publicAddresses.first
            let name = members[k].node.name
            let isHidden = members[k].node.isHidden
            entries.append(
                Entry(
                    index: i, name: name, publicKey: members[k].membership.publicKey,
                    endpoint: address.map { Endpoint(address: $0, port: members[k].membership.listenPort) },
                    subnet: subnet, subnet4: subnet4, isHub: members[k].node.hub && !isHidden, isHidden: isHidden,
                    isGateway: members[k].node.gateway,
                    hasPublicIPv6: members[k].node.publicAddresses.contains { $0.isIPv6 },
                    relayEndpoint: address.flatMap { a in
                        members[k].membership.relayPort.map { Endpoint(address: a, port: $0) }
                    }))
            byName[name] = i
        }
        return (entries, byName)
    }

    /// Indices of `members` in subnet ID order (stable: equal IDs keep their order).
    static func bySubnetID(_ members: [NetworkSnapshot.Member]) -> [Int] {
        var sorted = true
        for k in members.indices.dropFirst() where members[k - 1].membership.subnetID > members[k].membership.subnetID {
            sorted = false
            break
        }
        if sorted { return Array(members.indices) }
        return members.indices.sorted { a, b in
            let (x, y) = (members[a].membership.subnetID, members[b].membership.subnetID)
            return x < y || (x == y && a < b)
        }
    }

    public var accessSubnet: IPv6Prefix { AddressPlan.subnet(network.prefix, AddressPlan.accessSubnetID) }

    public func accessAddress(_ a: AccessPeer) -> IPv6Address {
        AddressPlan.host(accessSubnet, a.hostNumber)
    }

    /// The access peer's IPv4 address in the last /24 of the network's IPv4 prefix.
    public func accessIPv4Address(_ a: AccessPeer) -> IPv4Address? {
        Topology.accessIPv4Address(a, network: network)
    }

    public static func accessIPv4Address(_ a: AccessPeer, network: Network) -> IPv4Address? {
        network.ipv4Prefix.flatMap { AddressPlan.ipv4Host(AddressPlan.ipv4AccessSubnet($0), a.hostNumber) }
    }

    /// An access peer's host prefixes in both families.
    public func accessPrefixes(_ a: AccessPeer) -> [IPPrefix] { Topology.accessPrefixes(a, network: network) }

    static func accessPrefixes(_ a: AccessPeer, network: Network) -> [IPPrefix] {
        let v6 = AddressPlan.host(AddressPlan.subnet(network.prefix, AddressPlan.accessSubnetID), a.hostNumber)
        return [IPPrefix.host(.v6(v6))]
            + (accessIPv4Address(a, network: network).map { [IPPrefix.host(.v4($0))] } ?? [])
    }

    /// The whole network in both families: what a hidden member sends to its primary relay and
    /// what a node routes over its WireGuard interface.
    public var networkPrefixes: [IPPrefix] {
        [network.prefix.asIPPrefix] + (network.ipv4Prefix.map { [$0.asIPPrefix] } ?? [])
    }

    /// How every non-hidden member sees member `i` (the full-mesh entry).
    public func canonicalPeer(_ i: Int) -> PeerPlan {
        let m = members[i]
        return PeerPlan(
            name: m.name, kind: .node, publicKey: m.publicKey, endpoint: m.endpoint,
            allowedIPs: served[i] ?? m.prefixes, persistentKeepalive: nil)
    }

    /// The peers of member `i`'s WireGuard interface, sorted by public key bytes.
    public func peers(of i: Int) -> [PeerPlan] {
        let me = members[i]
        var out: [PeerPlan] = []
        if me.isHidden {
            let r = relays[i]!
            var primary = canonicalPeer(r.primary)
            primary.allowedIPs = networkPrefixes
            primary.persistentKeepalive = Topology.hiddenKeepalive
            out.append(primary)
            if let s = r.standby {
                // Two hidden members talk through one relay in both directions, or WireGuard's
                // source check drops the replies: the primary of the one with the lower subnet ID.
                // So the standby carries its own subnets, its access peers, and the hidden members
                // before this one whose primary it is; everything else goes to the primary (the
                // whole network).
                var standby = canonicalPeer(s)
                standby.allowedIPs =
                    members[s].prefixes
                    + relays.filter { $0.key < i && $0.value.primary == s }.keys.sorted().flatMap {
                        members[$0].prefixes
                    }
                    + (accessByHub[s] ?? []).flatMap(accessPrefixes)
                standby.persistentKeepalive = Topology.hiddenKeepalive
                out.append(standby)
            }
        } else {
            let isRelay = relayHubs.contains(i)
            let hiddenSubnets = isRelay ? Set(relays.keys.flatMap { members[$0].prefixes }) : []
            out.reserveCapacity(members.count)
            for j in members.indices where j != i {
                let other = members[j]
                if other.isHidden {
                    // Only relays hold hidden members; everyone else reaches them through a relay.
                    if isRelay {
                        out.append(
                            PeerPlan(
                                name: other.name, kind: .node, publicKey: other.publicKey, endpoint: nil,
                                allowedIPs: other.prefixes, persistentKeepalive: nil))
                    }
                    continue
                }
                var p = canonicalPeer(j)
                if isRelay && relayHubs.contains(j) {
                    // This relay holds every hidden member directly; don't also route them via the other.
                    p.allowedIPs.removeAll { hiddenSubnets.contains($0) }
                }
                out.append(p)
            }
            for a in accessByHub[i] ?? [] {
                out.append(
                    PeerPlan(
                        name: a.name, kind: .access, publicKey: a.publicKey, endpoint: nil,
                        allowedIPs: accessPrefixes(a), persistentKeepalive: nil))
            }
        }
        out.sort { $0.publicKey.bytes.lexicographicallyPrecedes($1.publicKey.bytes) }
        return out
    }

    /// Member `i`'s relay hubs and what it routes through each only because the hub relays it;
    /// nil when nothing can move (fewer than two relay hubs, nothing relayed, or `i` is a relay).
    public func failover(of i: Int) -> FailoverPlan? {
        guard relayHubs.count == 2, !relays.isEmpty, !relayHubs.contains(i) else { return nil }
        let hubs = relayHubs.map { h -> RelayHubPlan in
            let relayed: [IPPrefix]
            let isPrimary = relays[i]?.primary == h
            // Both families: a hidden member's IPv4 /24 moves with its /64.
            if isPrimary {
                relayed = networkPrefixes
            } else if members[i].isHidden {
                // The standby's peer on a hidden member carries the hidden members before it that
                // the standby is primary for (see `peers(of:)`).
                relayed = relays.filter { $0.key < i && $0.value.primary == h }.keys.sorted().flatMap {
                    members[$0].prefixes
                }
            } else {
                relayed = relays.filter { $0.value.primary == h }.keys.sorted().flatMap { members[$0].prefixes }
            }
            // A member whose own path to this hub breaks (its router, or its provider's firewall)
            // reaches it through the other hub's forwarder, hidden or not.
            let other = relayHubs.first { $0 != h }!
            return RelayHubPlan(
                name: members[h].name, publicKey: members[h].publicKey, subnet: members[h].subnet,
                access: (accessByHub[h] ?? []).flatMap(accessPrefixes), relayed: relayed,
                isPrimary: isPrimary, detour: members[other].relayEndpoint)
        }
        guard hubs.contains(where: { !$0.relayed.isEmpty }) else { return nil }
        return FailoverPlan(hubs: hubs)
    }

    /// Relay hub `i`'s forwarder: on its relay port, to the other relay hub's endpoint; nil on
    /// other members, without hidden members, or without a relay port.
    public func relayForwarder(of i: Int) -> RelayForwarderPlan? {
        guard relayHubs.count == 2, !relays.isEmpty, relayHubs.contains(i), let port = members[i].relayEndpoint?.port,
            let target = members[relayHubs.first { $0 != i }!].endpoint
        else { return nil }
        return RelayForwarderPlan(port: port, target: target)
    }
}
