import Foundation
import OverlayModel
import OverlayTestSupport
import Testing

@testable import OverlayPlanner

@Suite("Dual stack")
struct DualStackTests {
    static func v4(_ s: String) -> IPv4Address { IPv4Address(s)! }

    /// hub1 (1), hub2 (2), open (3), hidden (4, primary relay hub1 by parity), a laptop on hub2.
    static func network(egress: Bool = true) -> NetworkSnapshot {
        var n = Fixture.dualStack
        n.ipv4Prefix = IPv4Prefix("100.64.0.0/16")!
        n.egress = egress
        return Fixture.snapshot(
            [
                MemberSpec(name: "hub1", subnetID: 1, hub: true), MemberSpec(name: "hub2", subnetID: 2, hub: true),
                MemberSpec(name: "open", subnetID: 3), MemberSpec(name: "hidden", subnetID: 4, hidden: true),
            ], access: [("laptop", "hub2")],
            workloads: [
                Workload(name: "web", network: "net", node: "open", hostNumber: 2, namespace: "wl-web"),
                Workload(name: "db", network: "net", node: "hidden", hostNumber: 7, namespace: "wl-db"),
            ], network: n)
    }

    @Test("a member's plan carries its /24, .1 on the bridge, workloads at their host number, both prefixes routed")
    func resourceCarriesIPv4() throws {
        let plans = try Fixture.plans(Self.network())
        let open = try #require(plans["open"]?.networks.first)
        #expect(
            open.ipv4
                == NetworkIPv4Plan(
                    prefix: IPv4Prefix("100.64.0.0/16")!, subnet: IPv4Prefix("100.64.3.0/24")!,
                    routerAddress: Self.v4("100.64.3.1")))
        #expect(open.routes == [IPPrefix("fd12:3456:789a::/48")!, IPPrefix("100.64.0.0/16")!])
        #expect(open.workloads.map(\.ipv4Address) == [Self.v4("100.64.3.2")])
        #expect(open.firewall.ipv4Prefix == IPv4Prefix("100.64.0.0/16")!)
        let hidden = try #require(plans["hidden"]?.networks.first)
        #expect(hidden.workloads.map(\.ipv4Address) == [Self.v4("100.64.4.7")])
        #expect(plans.values.allSatisfy { $0.version == 3 })
    }

    @Test("AllowedIPs: the hidden member sends both whole prefixes to its primary; hubs carry /24s and access /32s")
    func allowedIPsCoverBothFamilies() throws {
        let s = Self.network()
        let plans = try Fixture.plans(s)
        let key = Dictionary(uniqueKeysWithValues: s.members.map { ($0.node.name, $0.membership.publicKey) })
        func peer(_ of: String, _ name: String) throws -> PeerPlan {
            try #require(plans[of]?.networks.first?.peers.first { $0.publicKey == key[name] })
        }
        #expect(
            try peer("hidden", "hub1").allowedIPs == [IPPrefix("fd12:3456:789a::/48")!, IPPrefix("100.64.0.0/16")!])
        #expect(
            try peer("hidden", "hub2").allowedIPs == [
                IPPrefix("fd12:3456:789a:2::/64")!, IPPrefix("100.64.2.0/24")!,
                IPPrefix("fd12:3456:789a:ffff::2/128")!, IPPrefix("100.64.255.2/32")!,
            ])
        #expect(
            try peer("open", "hub1").allowedIPs == [
                IPPrefix("fd12:3456:789a:1::/64")!, IPPrefix("100.64.1.0/24")!,
                IPPrefix("fd12:3456:789a:4::/64")!, IPPrefix("100.64.4.0/24")!,
            ])
        let laptop = try #require(plans["hub2"]?.networks.first?.peers.first { $0.kind == .access })
        #expect(laptop.allowedIPs == [IPPrefix("fd12:3456:789a:ffff::2/128")!, IPPrefix("100.64.255.2/32")!])
    }

    @Test(
        "random dual-stack networks: over IPv4 too, every member and access peer reaches every other within the hop bound, passing WireGuard's source check"
    )
    func randomIPv4Reachability() throws {
        var rng = SeededRNG(seed: 0x4444)
        var checked = 0
        for round in 0..<40 {
            let count = Int.random(in: 2...30, using: &rng)
            let s = Fixture.randomSnapshot(count: count, rng: &rng, network: Fixture.dualStack)
            for ipv4 in [true, false] {
                let sim = try RoutingSimulator(s, ipv4: ipv4)
                let all = Array(sim.interfaces.keys)
                for a in all {
                    for b in all where a != b {
                        var bound = 2
                        if case .access = a { bound += 1 }
                        if case .access = b { bound += 1 }
                        switch sim.route(from: a, to: b, maxHops: bound) {
                        case .success: checked += 1
                        case .failure(let why):
                            Issue.record("round \(round) (\(count) members, ipv4 \(ipv4)): \(a) -> \(b): \(why)")
                        }
                    }
                }
            }
        }
        #expect(checked > 5_000, "the random networks should give many paths, got \(checked)")
    }

    @Test("an IPv6-only network's plan has no IPv4 anywhere")
    func ipv6OnlyHasNoIPv4() throws {
        let plans = try Fixture.plans(
            Fixture.snapshot(
                [MemberSpec(name: "hub", subnetID: 1, hub: true), MemberSpec(name: "h", subnetID: 2, hidden: true)],
                access: [("laptop", "hub")],
                workloads: [Workload(name: "w", network: "net", node: "h", hostNumber: 2, namespace: "wl-w")]))
        for plan in plans.values {
            let n = try #require(plan.networks.first)
            #expect(n.ipv4 == nil && n.firewall.ipv4Prefix == nil && n.egress == nil)
            #expect(n.workloads.allSatisfy { $0.ipv4Address == nil })
            let prefixes = n.routes + n.peers.flatMap(\.allowedIPs)
            #expect(prefixes.allSatisfy { $0.isIPv6 })
        }
    }

    @Test("egress: NAT44 in a dual-stack network, NAT66 only where the node has a public IPv6 address, none when off")
    func egressPlan() throws {
        let s = Self.network()
        let plans = try Fixture.plans(s)
        for m in s.members {
            let e = try #require(plans[m.node.name]?.networks.first?.egress)
            #expect(e.nat44)
            #expect(e.nat66 == m.node.publicAddresses.contains(where: \.isIPv6), "\(m.node.name)")
        }
        #expect(try Fixture.plans(Self.network(egress: false)).values.allSatisfy { $0.networks[0].egress == nil })
    }

    @Test("the access peer's wg-quick file gets its IPv4 address and the IPv4 prefix")
    func wgQuickCarriesIPv4() throws {
        let text = WireGuardConfig.accessPeer(
            privateKeyBase64: "PRIVATE", address: IPv6Address("fd12:3456:789a:ffff::2")!,
            ipv4Address: Self.v4("100.64.255.2"), mtu: 1420, hubName: "hub2",
            hubKey: WireGuardKey(bytes: [UInt8](repeating: 1, count: 32))!,
            hubEndpoint: Endpoint("198.51.100.2:51820")!, network: IPv6Prefix("fd12:3456:789a::/48")!,
            ipv4Network: IPv4Prefix("100.64.0.0/16")!)
        let conf = WgQuick(text)
        #expect(conf.interface["Address"] == "fd12:3456:789a:ffff::2/128, 100.64.255.2/32")
        #expect(conf.peer["AllowedIPs"] == "fd12:3456:789a::/48, 100.64.0.0/16")
    }

    @Test("a dual-stack plan survives JSON unchanged")
    func planRoundTrip() throws {
        let plans = try Fixture.plans(Self.network())
        for plan in plans.values {
            let data = try JSONEncoder().encode(plan)
            #expect(try JSONDecoder().decode(NodePlan.self, from: data) == plan)
        }
    }

    @Test("the DOT graph labels the network, members and access peers with both families")
    func graphShowsBothFamilies() throws {
        let dot = GraphRenderer.dot(try PlannedNetwork(Self.network()))
        for text in [
            "label=\"net fd12:3456:789a::/48 100.64.0.0/16\"", "fd12:3456:789a:3::/64\\n100.64.3.0/24",
            "fd12:3456:789a:ffff::2\\n100.64.255.2",
        ] {
            #expect(dot.contains(text), "DOT lacks \(text):\n\(dot)")
        }
    }
}
