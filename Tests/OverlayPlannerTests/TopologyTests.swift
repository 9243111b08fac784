import Foundation
import OverlayModel
import OverlayTestSupport
import Testing

@testable import OverlayPlanner

@Suite("Topology")
struct TopologyTests {
    /// Checks every structural rule on one planned network; `label` says which network failed.
    static func checkStructure(_ snapshot: NetworkSnapshot, label: String) throws {
        let planned = try PlannedNetwork(snapshot)
        let t = planned.topology
        let members = snapshot.members
        let keyOf = Dictionary(uniqueKeysWithValues: members.map { ($0.node.name, $0.membership.publicKey) })
        let trueHubs = members.filter { $0.node.hub && !$0.node.isHidden }
            .sorted { $0.membership.subnetID < $1.membership.subnetID }
        let relayNames = trueHubs.prefix(2).map(\.node.name)
        let open = members.filter { !$0.node.isHidden }

        for m in members {
            let r = try #require(planned.resource(for: m.node.name), "\(label): no plan for \(m.node.name)")
            let peerKeys = r.peers.map(\.publicKey)
            #expect(Set(peerKeys).count == peerKeys.count, "\(label): \(m.node.name) has a peer twice")
            #expect(!peerKeys.contains(m.membership.publicKey), "\(label): \(m.node.name) peers with itself")
            #expect(
                r.peers.map(\.publicKey.bytes)
                    == r.peers.map(\.publicKey.bytes).sorted { $0.lexicographicallyPrecedes($1) },
                "\(label): peers of \(m.node.name) not sorted by key")
            // WireGuard refuses one prefix on two peers of an interface.
            var seen: [IPPrefix: String] = [:]
            for p in r.peers {
                for a in p.allowedIPs {
                    if let other = seen[a] {
                        Issue.record("\(label): \(m.node.name) has \(a) on both \(other) and \(p.name)")
                    }
                    seen[a] = p.name
                    #expect(a == a.masked, "\(label): \(a) on \(m.node.name) has host bits")
                    #expect(snapshot.network.prefix.asIPPrefix.contains(a.address), "\(label): \(a) outside the /48")
                }
            }
            // What a hub relays for this member is on that hub's peer, so a failover has something to move.
            for h in r.failover?.hubs ?? [] {
                let peer = try #require(r.peers.first { $0.publicKey == h.publicKey }, "\(label): \(h.name) not a peer")
                #expect(Set(h.relayed).isSubset(of: peer.allowedIPs), "\(label): \(m.node.name) relays via \(h.name)")
            }
            #expect(r.subnet == AddressPlan.subnet(snapshot.network.prefix, m.membership.subnetID))
            #expect(snapshot.network.prefix.contains(r.subnet))
            #expect(r.routes == [snapshot.network.prefix.asIPPrefix])

            if m.node.isHidden {
                // A hidden member peers only with the relay hubs: two when there are two, else one.
                let expected = Set(relayNames.map { keyOf[$0]! })
                #expect(
                    Set(peerKeys) == expected,
                    "\(label): hidden \(m.node.name) peers with \(r.peers.map(\.name)), expected relays \(relayNames)")
                #expect(r.peers.count == min(2, trueHubs.count))
                for p in r.peers {
                    #expect(
                        p.persistentKeepalive == 25, "\(label): hidden \(m.node.name) -> \(p.name) without keepalive 25"
                    )
                    #expect(p.endpoint != nil, "\(label): hidden \(m.node.name) cannot dial \(p.name)")
                }
                let primary = r.peers.filter { $0.allowedIPs.contains(snapshot.network.prefix.asIPPrefix) }
                #expect(
                    primary.count == 1, "\(label): hidden \(m.node.name) needs exactly one primary carrying the /48")
                if trueHubs.count >= 2 {
                    let f = try #require(r.failover, "\(label): hidden \(m.node.name) with two hubs has no failover")
                    #expect(f.hubs.filter(\.isPrimary).map(\.publicKey) == [primary.first?.publicKey])
                    #expect(Set(f.hubs.map(\.publicKey)) == expected)
                    #expect(f.hubs.first { $0.isPrimary }?.relayed == [snapshot.network.prefix.asIPPrefix])
                } else {
                    #expect(r.failover == nil)
                }
            } else {
                // Full mesh between non-hidden members.
                for o in open where o.node.name != m.node.name {
                    #expect(
                        peerKeys.contains(o.membership.publicKey),
                        "\(label): \(m.node.name) lacks full-mesh peer \(o.node.name)")
                }
                let isRelay = relayNames.contains(m.node.name)
                for h in members where h.node.isHidden {
                    #expect(
                        peerKeys.contains(h.membership.publicKey) == isRelay,
                        "\(label): \(m.node.name) (relay: \(isRelay)) and hidden \(h.node.name)")
                }
                // A member that reaches hidden members through two relay hubs can move them; a relay holds them itself.
                let reachesHiddenViaRelays = !isRelay && trueHubs.count >= 2 && members.contains { $0.node.isHidden }
                #expect(
                    (r.failover != nil) == reachesHiddenViaRelays,
                    "\(label): \(m.node.name) (relay: \(isRelay)) failover \(String(describing: r.failover))")
                for p in r.peers where p.kind == .node {
                    #expect(p.persistentKeepalive == nil)
                }
                let accessHere = t.accessPeers.filter { $0.hub == m.node.name }
                let accessKeys: Set<WireGuardKey> = Set(r.peers.filter { $0.kind == .access }.map(\.publicKey))
                let expectedAccess: Set<WireGuardKey> = Set(accessHere.map(\.publicKey))
                #expect(accessKeys == expectedAccess, "\(label): access peers on \(m.node.name)")
            }
        }
    }

    @Test("random networks: full mesh, hidden members only on relays, no prefix twice on an interface")
    func randomStructure() throws {
        var rng = SeededRNG(seed: 0xC0FFEE)
        for round in 0..<150 {
            let count = Int.random(in: 2...40, using: &rng)
            let s = Fixture.randomSnapshot(count: count, rng: &rng)
            try Self.checkStructure(s, label: "round \(round) (\(count) members, seed 0xC0FFEE)")
        }
    }

    @Test(
        "random networks: every member and access peer reaches every other within the hop bound, and every hop passes WireGuard's source check"
    )
    func randomReachability() throws {
        var rng = SeededRNG(seed: 0xBEEF)
        var checkedPaths = 0
        var longest = 0
        for round in 0..<80 {
            let count = Int.random(in: 2...40, using: &rng)
            let s = Fixture.randomSnapshot(count: count, rng: &rng)
            let sim = try RoutingSimulator(s)
            let all = Array(sim.interfaces.keys)
            for a in all {
                for b in all where a != b {
                    // Members: at most two WireGuard hops. An access peer adds its own link to its hub.
                    var bound = 2
                    if case .access = a { bound += 1 }
                    if case .access = b { bound += 1 }
                    switch sim.route(from: a, to: b, maxHops: bound) {
                    case .success(let path):
                        checkedPaths += 1
                        longest = max(longest, path.count - 1)
                    case .failure(let why):
                        Issue.record("round \(round) (\(count) members, seed 0xBEEF): \(a) -> \(b): \(why)")
                    }
                }
            }
        }
        #expect(checkedPaths > 10_000, "the random networks should give many paths, got \(checkedPaths)")
        #expect(longest == 3, "some access-peer path should need three hops, longest was \(longest)")
    }

    @Test(
        "a hidden member and a non-relay hub: an access peer on the third hub reaches the hidden member in three hops")
    func accessViaThirdHub() throws {
        let s = Fixture.snapshot(
            [
                MemberSpec(name: "hub1", subnetID: 1, hub: true), MemberSpec(name: "hub2", subnetID: 2, hub: true),
                MemberSpec(name: "hub3", subnetID: 3, hub: true), MemberSpec(name: "hidden", subnetID: 4, hidden: true),
            ], access: [("laptop", "hub3")])
        let sim = try RoutingSimulator(s)
        let path = try sim.route(from: .access("laptop"), to: .member("hidden"), maxHops: 3).get()
        #expect(
            path == [.access("laptop"), .member("hub3"), .member("hub1"), .member("hidden")],
            "hidden has subnet 4 (even): primary relay hub1")
        let back = try sim.route(from: .member("hidden"), to: .access("laptop"), maxHops: 3).get()
        #expect(back == [.member("hidden"), .member("hub1"), .member("hub3"), .access("laptop")])
    }

    @Test("two hidden members with different primaries reach each other through one relay")
    func hiddenToHidden() throws {
        let s = Fixture.snapshot([
            MemberSpec(name: "hub1", subnetID: 1, hub: true), MemberSpec(name: "hub2", subnetID: 2, hub: true),
            MemberSpec(name: "x", subnetID: 3, hidden: true), MemberSpec(name: "y", subnetID: 4, hidden: true),
            MemberSpec(name: "plain", subnetID: 5),
        ])
        let t = try Topology(s)
        // Parity picks the primary: odd subnet IDs -> second relay, even -> first.
        #expect(t.relayHubs.map { t.members[$0].name } == ["hub1", "hub2"])
        #expect(t.members[t.relays[t.indexByName["x"]!]!.primary].name == "hub2")
        #expect(t.members[t.relays[t.indexByName["y"]!]!.primary].name == "hub1")
        let sim = try RoutingSimulator(s)
        // Both directions through the same relay, or WireGuard's source check drops them: the
        // primary of the member with the lower subnet ID (x, primary hub2).
        #expect(
            try sim.route(from: .member("x"), to: .member("y"), maxHops: 2).get()
                == [.member("x"), .member("hub2"), .member("y")])
        #expect(
            try sim.route(from: .member("y"), to: .member("x"), maxHops: 2).get()
                == [.member("y"), .member("hub2"), .member("x")])
        #expect(
            try sim.route(from: .member("plain"), to: .member("x"), maxHops: 2).get()
                == [.member("plain"), .member("hub2"), .member("x")])
        // hub2 carries x's /64 for everyone else.
        let plain = try #require(PlannedNetwork(s).resource(for: "plain"))
        let hub2 = try #require(plain.peers.first { $0.name == "hub2" })
        #expect(hub2.allowedIPs.map(\.description) == ["fd12:3456:789a:2::/64", "fd12:3456:789a:3::/64"])
    }

    @Test("one hub: hidden members have a single relay and no failover")
    func singleHub() throws {
        let s = Fixture.snapshot([
            MemberSpec(name: "hub", subnetID: 1, hub: true), MemberSpec(name: "h1", subnetID: 2, hidden: true),
            MemberSpec(name: "h2", subnetID: 3, hidden: true),
        ])
        let r = try #require(try PlannedNetwork(s).resource(for: "h1"))
        #expect(r.peers.map(\.name) == ["hub"])
        #expect(r.peers[0].allowedIPs == [Fixture.network.prefix.asIPPrefix])
        #expect(r.peers[0].persistentKeepalive == Topology.hiddenKeepalive)
        #expect(r.failover == nil)
    }

    @Test("a hidden member without any hub is refused with a clear TopologyError")
    func hiddenWithoutHub() {
        let s = Fixture.snapshot([
            MemberSpec(name: "a", subnetID: 1), MemberSpec(name: "lonely", subnetID: 2, hidden: true),
            // A hub flag on a hidden node does not make it a relay.
            MemberSpec(name: "fake-hub", subnetID: 3, hidden: true, hub: true),
        ])
        do {
            _ = try PlannedNetwork(s)
            Issue.record("a network with hidden members and no hub was planned")
        } catch let e as TopologyError {
            #expect(e.description.contains("'net'"), "\(e)")
            #expect(e.description.contains("lonely"), "\(e)")
            #expect(e.description.contains("no hub"), "\(e)")
        } catch {
            Issue.record("expected TopologyError, got \(error)")
        }
    }

    @Test("an access peer dialling a node that is not a hub member is refused")
    func accessWithoutHub() {
        let s = Fixture.snapshot(
            [MemberSpec(name: "a", subnetID: 1), MemberSpec(name: "b", subnetID: 2)],
            access: [("phone", "a")])
        #expect(throws: TopologyError.self) { try Topology(s) }
        let s2 = Fixture.snapshot([MemberSpec(name: "a", subnetID: 1, hub: true)], access: [("phone", "elsewhere")])
        #expect {
            try Topology(s2)
        } throws: { e in
            "\(e)".contains("phone") && "\(e)".contains("elsewhere")
        }
    }

    @Test("DOT graph shows mesh edges, relays and access peers")
    func graph() throws {
        let s = Fixture.snapshot(
            [
                MemberSpec(name: "hub1", subnetID: 1, hub: true), MemberSpec(name: "hub2", subnetID: 2, hub: true),
                MemberSpec(name: "x", subnetID: 3, hidden: true), MemberSpec(name: "gw", subnetID: 4, gateway: true),
            ], access: [("phone", "hub1")])
        let dot = GraphRenderer.dot(try PlannedNetwork(s))
        #expect(dot.hasPrefix("graph \"net\" {"))
        #expect(dot.hasSuffix("}\n"))
        for line in [
            "\"hub1\" -- \"hub2\";", "\"hub1\" -- \"gw\";", "\"hub2\" -- \"gw\";",
            "\"x\" -- \"hub2\" [style=bold, label=\"primary\"];",
            "\"x\" -- \"hub1\" [style=dashed, label=\"standby\"];",
            "\"access:phone\" -- \"hub1\" [style=dotted];", "shape=doublecircle", "style=dashed", "color=blue",
            "fd12:3456:789a:ffff::2",
        ] {
            #expect(dot.contains(line), "DOT lacks \(line):\n\(dot)")
        }
        #expect(!dot.contains("\"x\" -- \"gw\""), "a hidden member has no mesh edge")
    }

    @Test("the access peer's wg-quick file sends the whole /48 to its hub")
    func wgQuick() {
        let key = WireGuardKey(bytes: [UInt8](repeating: 7, count: 32))!
        let text = WireGuardConfig.accessPeer(
            privateKeyBase64: "cHJpdmF0ZQ==", address: IPv6Address("fd12:3456:789a:ffff::2")!, mtu: 1420,
            hubName: "hub1", hubKey: key, hubEndpoint: Endpoint("192.0.2.1:51820")!,
            network: IPv6Prefix("fd12:3456:789a::/48")!)
        let c = WgQuick(text)
        #expect(c.interface["PrivateKey"] == "cHJpdmF0ZQ==")
        #expect(c.interface["Address"] == "fd12:3456:789a:ffff::2/128")
        #expect(c.interface["MTU"] == "1420")
        #expect(c.peer["PublicKey"] == key.base64)
        #expect(c.peer["Endpoint"] == "192.0.2.1:51820")
        #expect(c.peer["AllowedIPs"] == "fd12:3456:789a::/48")
        #expect(c.peer["PersistentKeepalive"] == "25")
    }
}
