import Foundation
import OverlayModel
import OverlayTestSupport

@testable import OverlayPlanner

/// One member of a hand-built network.
struct MemberSpec {
    var name: String
    var subnetID: UInt16
    var hidden = false
    var hub = false
    var gateway = false
    var region: String? = nil
}

enum Fixture {
    static let network = Network(name: "net", id: "0a1b2c3d", prefix: IPv6Prefix("fd12:3456:789a::/48")!)
    /// The same network with IPv4: a /8, so any subnet ID has its /24.
    static let dualStack = Network(
        name: "net", id: "0a1b2c3d", prefix: IPv6Prefix("fd12:3456:789a::/48")!, ipv4Prefix: IPv4Prefix("10.0.0.0/8")!)

    static func key(_ rng: inout SeededRNG) -> WireGuardKey {
        WireGuardKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })!
    }

    static func member(_ s: MemberSpec, rng: inout SeededRNG, network: Network = Fixture.network)
        -> NetworkSnapshot.Member
    {
        let addresses: [IPAddress] =
            s.hidden
            ? []
            : [
                Bool.random(using: &rng)
                    ? .v4(IPv4Address(0xC633_6400 | UInt32(s.subnetID & 0xff)))  // 198.51.100.x
                    : .v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: UInt64(s.subnetID)))
            ]
        let node = Node(
            name: s.name, identity: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) },
            publicAddresses: addresses, region: s.region, hub: s.hub, gateway: s.gateway,
            domain: s.gateway ? "\(s.name).example.com" : nil)
        let membership = Membership(
            network: network.name, node: s.name, subnetID: s.subnetID, publicKey: key(&rng),
            sealedPrivateKey: (0..<80).map { _ in UInt8.random(in: 0...255, using: &rng) },
            listenPort: 51820 + s.subnetID % 1000)
        return .init(node: node, membership: membership)
    }

    static func snapshot(
        _ specs: [MemberSpec], access: [(name: String, hub: String)] = [], seed: UInt64 = 1,
        workloads: [Workload] = [], routes: [GatewayRoute] = [], network: Network = Fixture.network
    ) -> NetworkSnapshot {
        var rng = SeededRNG(seed: seed)
        let members = specs.map { member($0, rng: &rng, network: network) }
        let peers = access.enumerated().map { i, a in
            AccessPeer(name: a.name, network: network.name, hostNumber: UInt64(2 + i), publicKey: key(&rng), hub: a.hub)
        }
        return NetworkSnapshot(
            network: network, members: members, workloads: workloads, accessPeers: peers,
            gatewayRoutes: routes)
    }

    /// A random network: `count` members with random subnet IDs, hidden and hub flags, and 0-3 access
    /// peers dialling random hubs. Always plannable (a hub exists when a member is hidden).
    static func randomSnapshot(count: Int, rng: inout SeededRNG, network: Network = Fixture.network)
        -> NetworkSnapshot
    {
        var ids = Set<UInt16>()
        let contiguous = Bool.random(using: &rng)
        while ids.count < count {
            ids.insert(contiguous ? UInt16(ids.count + 1) : UInt16.random(in: AddressPlan.nodeSubnetIDs, using: &rng))
        }
        let hiddenRate = [0.0, 0.2, 0.5, 0.8].randomElement(using: &rng)!
        let hubRate = [0.0, 0.1, 0.3, 1.0].randomElement(using: &rng)!
        var specs: [MemberSpec] = ids.shuffled(using: &rng).enumerated().map { i, id in
            let hidden = Double.random(in: 0..<1, using: &rng) < hiddenRate
            // A hidden node may carry a hub flag in the model; the planner must not treat it as a hub.
            let hub = Double.random(in: 0..<1, using: &rng) < hubRate
            return MemberSpec(
                name: "m\(i)", subnetID: id, hidden: hidden, hub: hub,
                gateway: !hidden && Double.random(in: 0..<1, using: &rng) < 0.1)
        }
        if !specs.contains(where: { $0.hub && !$0.hidden })
            && (specs.contains(where: \.hidden) || Bool.random(using: &rng))
        {
            let i = Int.random(in: specs.indices, using: &rng)
            specs[i].hidden = false
            specs[i].hub = true
        }
        let hubs = specs.filter { $0.hub && !$0.hidden }.map(\.name)
        let accessCount = hubs.isEmpty ? 0 : Int.random(in: 0...3, using: &rng)
        let access = (0..<accessCount).map { (name: "a\($0)", hub: hubs.randomElement(using: &rng)!) }
        return snapshot(specs, access: access, seed: rng.next(), network: network)
    }

    static func plans(_ snapshot: NetworkSnapshot, revision: Int64 = 1) throws -> [String: NodePlan] {
        let planned = try PlannedNetwork(snapshot)
        var out: [String: NodePlan] = [:]
        for m in snapshot.members {
            out[m.node.name] = Planner.nodePlan(
                node: m.node, revision: revision, networks: [planned],
                gatewayRoutes: snapshot.gatewayRoutes)
        }
        return out
    }
}

/// Simulates WireGuard's cryptokey routing over a set of plans: a packet leaves its source through
/// the peer whose AllowedIPs hold the longest match for the destination; the receiver accepts it
/// only if the source's longest match in its own AllowedIPs is the peer it came from.
struct RoutingSimulator {
    enum Who: Hashable, CustomStringConvertible {
        case member(String)
        case access(String)
        var description: String {
            switch self {
            case .member(let n): "member \(n)"
            case .access(let n): "access peer \(n)"
            }
        }
    }

    struct Interface {
        var who: Who
        var publicKey: WireGuardKey
        /// What this interface delivers locally.
        var local: IPv6Prefix
        /// A source address and a destination address on it.
        var address: IPv6Address
        var peers: [Peer]
        var peerByKey: [WireGuardKey: Peer] = [:]
        init(who: Who, publicKey: WireGuardKey, local: IPv6Prefix, address: IPv6Address, peers: [Peer]) {
            self.who = who
            self.publicKey = publicKey
            self.local = local
            self.address = address
            self.peers = peers
            peerByKey = Dictionary(peers.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    struct Peer {
        var key: WireGuardKey
        var endpoint: Endpoint?
        /// AllowedIPs as integer prefixes: the simulation does many lookups.
        var allowed: [IPv6Prefix]
        init(_ key: WireGuardKey, _ endpoint: Endpoint?, _ allowed: [IPPrefix]) {
            self.key = key
            self.endpoint = endpoint
            self.allowed = allowed.map(RoutingSimulator.mapped)
        }
    }

    var interfaces: [Who: Interface] = [:]
    var byKey: [WireGuardKey: Who] = [:]
    /// Nodes that are gone: a packet sent to one is lost there.
    var dead: Set<Who> = []
    /// The underlay: pairs between which UDP does not pass (a router's drop rule).
    var brokenLegs: Set<Set<Who>> = []
    /// Relay forwarders by endpoint: a datagram sent there goes on to the other relay hub.
    var forwarders: [Endpoint: Who] = [:]
    /// Receiver -> sender -> the forwarder the receiver last heard the sender through (WireGuard
    /// roaming: it replaces a planned endpoint too). Absent: heard directly.
    var learnedVia: [Who: [Who: Who]] = [:]

    /// IPv4 prefixes as IPv4-mapped IPv6 ones (::ffff:a.b.c.d/96+n): one integer domain for
    /// both families, where no IPv4 prefix overlaps the overlay's ULA.
    static func mapped(_ p: IPPrefix) -> IPv6Prefix {
        switch p.masked.address {
        case .v6(let a): IPv6Prefix(network: a, length: p.length)!
        case .v4(let a): IPv6Prefix(network: mapped(a), length: 96 + p.length)!
        }
    }

    static func mapped(_ a: IPv4Address) -> IPv6Address {
        IPv6Address(high: 0, low: 0x0000_ffff_0000_0000 | UInt64(a.value))
    }

    /// `ipv4`: route between the members' and access peers' IPv4 addresses instead. `peers`
    /// gives each member's peers from its plan (the plan's own by default).
    init(
        _ snapshot: NetworkSnapshot, ipv4: Bool = false,
        peers peersOf: (NetworkResourcePlan) -> [PeerPlan] = { $0.peers }
    ) throws {
        let planned = try PlannedNetwork(snapshot)
        for m in snapshot.members {
            let r = try require2(planned.resource(for: m.node.name), "no resource for \(m.node.name)")
            let who = Who.member(m.node.name)
            var local = r.subnet
            var address = AddressPlan.host(r.subnet, 2)
            if ipv4 {
                let v4 = try require2(r.ipv4, "no IPv4 in the plan of \(m.node.name)")
                local = Self.mapped(v4.subnet.asIPPrefix)
                address = Self.mapped(try require2(AddressPlan.ipv4Host(v4.subnet, 2), "no .2"))
            }
            interfaces[who] = Interface(
                who: who, publicKey: r.publicKey, local: local, address: address,
                peers: peersOf(r).map { Peer($0.publicKey, $0.endpoint, $0.allowedIPs) })
            byKey[r.publicKey] = who
        }
        let t = planned.topology
        for a in t.accessPeers {
            // The access peer's side is its wg-quick file: parse what the device would be given.
            let hub = t.members[t.indexByName[a.hub]!]
            let text = WireGuardConfig.accessPeer(
                privateKeyBase64: "PRIVATE", address: t.accessAddress(a), ipv4Address: t.accessIPv4Address(a),
                mtu: snapshot.network.mtu, hubName: hub.name, hubKey: hub.publicKey, hubEndpoint: hub.endpoint!,
                network: snapshot.network.prefix, ipv4Network: snapshot.network.ipv4Prefix)
            let conf = WgQuick(text)
            let who = Who.access(a.name)
            var address = t.accessAddress(a)
            if ipv4 { address = Self.mapped(try require2(t.accessIPv4Address(a), "no IPv4 for \(a.name)")) }
            interfaces[who] = Interface(
                who: who, publicKey: a.publicKey, local: IPv6Prefix(network: address, length: 128)!,
                address: address,
                peers: [
                    Peer(
                        WireGuardKey(base64: conf.peer["PublicKey"]!)!, Endpoint(conf.peer["Endpoint"]!),
                        conf.peer["AllowedIPs"]!.split(separator: ",").map {
                            IPPrefix($0.trimmingCharacters(in: .whitespaces))!
                        })
                ])
            byKey[a.publicKey] = who
        }
    }

    static func longestMatch(_ peers: [Peer], _ a: IPv6Address)
        -> (key: WireGuardKey, length: UInt8, ties: Int)?
    {
        var best: (key: WireGuardKey, length: UInt8, ties: Int)?
        for p in peers {
            for prefix in p.allowed where prefix.contains(a) {
                if best == nil || prefix.length > best!.length {
                    best = (p.key, prefix.length, 1)
                } else if prefix.length == best!.length {
                    best!.ties += 1
                }
            }
        }
        return best
    }

    /// The path from `source` to `destination`'s address, or a reason it fails.
    func route(from source: Who, to destination: Who, maxHops: Int) -> Result<[Who], RouteFailure> {
        let src = interfaces[source]!
        let dst = interfaces[destination]!
        var path = [source]
        var here = src
        while !here.local.contains(dst.address) {
            guard path.count <= maxHops else {
                return .failure(
                    .init("more than \(maxHops) hops: \(path.map(\.description).joined(separator: " -> ")) -> ..."))
            }
            guard let m = Self.longestMatch(here.peers, dst.address) else {
                return .failure(.init("\(here.who) has no peer for \(dst.address) (path \(path))"))
            }
            guard m.ties == 1 else {
                return .failure(.init("\(here.who) has \(m.ties) peers for /\(m.length) holding \(dst.address)"))
            }
            guard let nextWho = byKey[m.key], let next = interfaces[nextWho] else {
                return .failure(.init("\(here.who) routes \(dst.address) to unknown key \(m.key)"))
            }
            if dead.contains(nextWho) {
                return .failure(.init("\(here.who) sends \(dst.address) to \(nextWho), which is gone", lostAt: nextWho))
            }
            // The receiver must know the sender, and one side must know where the other is.
            guard let back = next.peerByKey[here.publicKey] else {
                return .failure(.init("\(nextWho) has no peer entry for \(here.who), which sends it \(dst.address)"))
            }
            let forward = here.peerByKey[m.key]!
            if forward.endpoint == nil && back.endpoint == nil {
                return .failure(.init("neither \(here.who) nor \(nextWho) knows the other's endpoint"))
            }
            // The datagram's way: where the sender last heard the peer from, else the endpoint it
            // has for the peer (a forwarder's, or the peer's own).
            let via = learnedVia[here.who]?[nextWho] ?? forward.endpoint.flatMap { forwarders[$0] }
            if let via, dead.contains(via) {
                return .failure(.init("\(here.who) sends to \(nextWho) through \(via), which is gone", lostAt: via))
            }
            for leg in via.map({ [[here.who, $0], [$0, nextWho]] }) ?? [[here.who, nextWho]]
            where brokenLegs.contains(Set(leg)) {
                return .failure(
                    .init(
                        "\(here.who) sends to \(nextWho) over \(leg[0]) -> \(leg[1]), which drops UDP",
                        brokenLeg: Set(leg)))
            }
            // WireGuard's source check: the source's longest match at the receiver must be the sender.
            guard let srcMatch = Self.longestMatch(next.peers, src.address), srcMatch.key == here.publicKey,
                srcMatch.ties == 1
            else {
                return .failure(
                    .init(
                        "\(nextWho) drops \(src.address) (from \(source)) arriving from \(here.who): its AllowedIPs give that source to \(Self.longestMatch(next.peers, src.address).flatMap { byKey[$0.key] }.map(\.description) ?? "nobody")",
                        sourceCheckAt: nextWho))
            }
            path.append(nextWho)
            here = next
            if path.count > 64 { return .failure(.init("routing loop: \(path)")) }
        }
        return .success(path)
    }

    struct RouteFailure: Error, CustomStringConvertible {
        var description: String
        /// The node whose source check dropped the packet, if that is what happened.
        var sourceCheckAt: Who?
        /// The gone node the packet was sent to, if that is what happened.
        var lostAt: Who?
        /// The underlay leg that dropped the datagram, if that is what happened.
        var brokenLeg: Set<Who>?
        init(_ d: String, sourceCheckAt: Who? = nil, lostAt: Who? = nil, brokenLeg: Set<Who>? = nil) {
            description = d
            self.sourceCheckAt = sourceCheckAt
            self.lostAt = lostAt
            self.brokenLeg = brokenLeg
        }
    }
}

/// The `[Peer]` section of a wg-quick file as key -> value.
struct WgQuick {
    var interface: [String: String] = [:]
    var peer: [String: String] = [:]
    init(_ text: String) {
        var section = ""
        for line in text.split(separator: "\n") {
            let l = line.trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("[") {
                section = l
                continue
            }
            if l.hasPrefix("#") || l.isEmpty { continue }
            guard let eq = l.firstIndex(of: "=") else { continue }
            let k = l[..<eq].trimmingCharacters(in: .whitespaces)
            let v = l[l.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if section == "[Peer]" { peer[k] = v } else { interface[k] = v }
        }
    }
}

struct RequireError: Error, CustomStringConvertible {
    var description: String
}

func require2<T>(_ value: T?, _ message: String) throws -> T {
    guard let value else { throw RequireError(description: message) }
    return value
}
