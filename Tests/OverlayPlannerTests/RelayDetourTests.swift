import Foundation
import OverlayModel
import OverlayTestSupport
import Testing

@testable import OverlayPlanner

/// A hidden member whose own path to its primary relay breaks while the primary keeps serving
/// everyone else: it points its primary's peer at the standby's forwarder, and nothing else moves
/// (docs/failover.md, "A broken path to one hub").
@Suite("Relay detour")
struct RelayDetourTests {
    typealias Who = RoutingSimulator.Who

    /// `specs` with relay ports on the hubs, as the controller allocates them.
    static func snapshot(_ specs: [MemberSpec], access: [(name: String, hub: String)] = []) -> NetworkSnapshot {
        var s = Fixture.snapshot(specs, access: access)
        for i in s.members.indices where s.members[i].node.hub && !s.members[i].node.isHidden {
            s.members[i].membership.relayPort = 53000 + s.members[i].membership.subnetID
        }
        return s
    }

    @Test("relay hubs get a forwarder to each other, every other member a detour to each hub; ports in the host table")
    func plans() throws {
        let s = Self.snapshot(FailoverSimulationTests.shapes[1])
        let planned = try PlannedNetwork(s)
        let a = try #require(planned.resource(for: "hub-a"))
        let b = try #require(planned.resource(for: "hub-b"))
        let endpoint = { (name: String) in planned.topology.members[planned.topology.indexByName[name]!].endpoint! }
        #expect(a.relayForwarder == RelayForwarderPlan(port: 53001, target: endpoint("hub-b")))
        #expect(b.relayForwarder == RelayForwarderPlan(port: 53002, target: endpoint("hub-a")))
        let hidden = try #require(planned.resource(for: "hidden")?.failover)
        let detours = Dictionary(uniqueKeysWithValues: hidden.hubs.map { ($0.name, $0.detour) })
        // Each hub is reached through the other one's forwarder, on the other one's address.
        #expect(detours["hub-a"] == Endpoint(address: endpoint("hub-b").address, port: 53002))
        #expect(detours["hub-b"] == Endpoint(address: endpoint("hub-a").address, port: 53001))
        // A public member's own path to a hub can break too (its provider's firewall): the same
        // detours; it runs no forwarder.
        let publicMember = try #require(planned.resource(for: "public")?.failover)
        #expect(Dictionary(uniqueKeysWithValues: publicMember.hubs.map { ($0.name, $0.detour) }) == detours)
        #expect(try #require(planned.resource(for: "public")).relayForwarder == nil)
        let node = s.members.first { $0.node.name == "hub-a" }!.node
        let plan = Planner.nodePlan(node: node, revision: 1, networks: [planned])
        #expect(plan.hostFirewall.wireguardPorts == [a.listenPort, 53001].sorted())
    }

    @Test("no hidden member, or a hub without a relay port: no forwarder and no detour")
    func nothingToForward() throws {
        let open = try PlannedNetwork(
            Self.snapshot([
                MemberSpec(name: "hub-a", subnetID: 1, hub: true), MemberSpec(name: "hub-b", subnetID: 2, hub: true),
                MemberSpec(name: "public", subnetID: 5),
            ]))
        #expect(try #require(open.resource(for: "hub-a")).relayForwarder == nil)
        let old = try PlannedNetwork(Fixture.snapshot(FailoverSimulationTests.shapes[1]))
        #expect(try #require(old.resource(for: "hub-a")).relayForwarder == nil)
        #expect(try #require(old.resource(for: "hidden")?.failover).hubs.allSatisfy { $0.detour == nil })
    }

    @Test("plans without the forwarder fields (version 2's shape) read as none")
    func decodesWithoutTheNewFields() throws {
        let s = Self.snapshot(FailoverSimulationTests.shapes[1])
        let r = try #require(try PlannedNetwork(s).resource(for: "hidden"))
        var json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(r)) as? [String: Any])
        var failover = try #require(json["failover"] as? [String: Any])
        failover["hubs"] = (failover["hubs"] as! [[String: Any]]).map { h in h.filter { $0.key != "detour" } }
        json["failover"] = failover
        let back = try JSONDecoder().decode(
            NetworkResourcePlan.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(back.failover?.hubs.allSatisfy { $0.detour == nil } == true)
        #expect(back.relayForwarder == nil)
    }

    /// Every state of one member's path to one relay hub, for every member with a failover entry
    /// (hidden or public) and each of its two hubs: the path broken or not, the member detoured or
    /// not, the hub answering it directly or through the other hub's forwarder (it follows the
    /// member's last datagram, WireGuard's roaming). Every pair of members and access peers, both
    /// ways.
    @Test(
        "a broken path, every state: no source check ever drops; with the detour taken and followed, everyone reaches everyone"
    )
    func everyPathState() throws {
        var states = 0
        var publicStates = 0
        for (i, specs) in FailoverSimulationTests.shapes.enumerated() {
            let s = Self.snapshot(specs, access: i == 0 ? [("l1", "r1"), ("l2", "r2"), ("l3", "hub3")] : [])
            let planned = try PlannedNetwork(s)
            for m in s.members {
                let r = try #require(planned.resource(for: m.node.name))
                guard let hubs = r.failover?.hubs else { continue }
                for (primary, standby) in [(hubs[0], hubs[1]), (hubs[1], hubs[0])] {
                    if !m.node.isHidden { publicStates += 8 }
                    let detour = try #require(primary.detour)
                    let (me, p, sb) = (Who.member(m.node.name), Who.member(primary.name), Who.member(standby.name))
                    for broken in [false, true] {
                        for detoured in [false, true] {
                            for followed in [false, true] {
                                var sim = try RoutingSimulator(s) { plan in
                                    guard detoured, plan.publicKey == r.publicKey else { return plan.peers }
                                    return plan.peers.map { peer in
                                        var peer = peer
                                        if peer.publicKey == primary.publicKey { peer.endpoint = detour }
                                        return peer
                                    }
                                }
                                sim.forwarders = [detour: sb]
                                if followed { sim.learnedVia = [p: [me: sb]] }
                                if broken { sim.brokenLegs = [[me, p]] }
                                let label =
                                    "shape \(i), \(m.node.name): broken \(broken), detoured \(detoured), followed \(followed)"
                                var lost = 0
                                for a in sim.interfaces.keys {
                                    for b in sim.interfaces.keys where a != b {
                                        guard case .failure(let why) = sim.route(from: a, to: b, maxHops: 4) else {
                                            continue
                                        }
                                        lost += 1
                                        // Only the broken leg itself loses anything: no AllowedIPs changed.
                                        #expect(why.brokenLeg == [me, p], "\(label): \(a) -> \(b): \(why)")
                                    }
                                }
                                // Lost only while the member still sends directly (before its suspicion)
                                // or the primary still answers directly (before the member's first
                                // datagram through the forwarder reaches it).
                                if !broken || (detoured && followed) {
                                    #expect(lost == 0, "\(label): \(lost) pairs lost")
                                } else {
                                    #expect(lost > 0, "\(label): the broken leg carries nothing")
                                }
                                states += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(states >= 64 && publicStates >= 16, "\(states) states, \(publicStates) of public members")
    }

    @Test("the standby gone while it forwards: the member's packets through it are lost there, nowhere else")
    func standbyGoneWhileForwarding() throws {
        let s = Self.snapshot(FailoverSimulationTests.shapes[1])
        let planned = try PlannedNetwork(s)
        let r = try #require(planned.resource(for: "hidden"))
        let hubs = try #require(r.failover).hubs
        let primary = try #require(hubs.first { $0.isPrimary })
        let detour = try #require(primary.detour)
        var sim = try RoutingSimulator(s) { plan in
            guard plan.publicKey == r.publicKey else { return plan.peers }
            return plan.peers.map { peer in
                var peer = peer
                if peer.publicKey == primary.publicKey { peer.endpoint = detour }
                return peer
            }
        }
        sim.forwarders = [detour: .member("hub-b")]
        sim.dead = [.member("hub-b")]
        guard case .failure(let why) = sim.route(from: .member("hidden"), to: .member("public"), maxHops: 4) else {
            Issue.record("delivered through a gone forwarder")
            return
        }
        #expect(why.lostAt == .member("hub-b"))
        // Its direct path is intact: after its next suspicion it sends directly again and gets through.
        sim = try RoutingSimulator(s)
        sim.dead = [.member("hub-b")]
        #expect((try? sim.route(from: .member("hidden"), to: .member("public"), maxHops: 4).get()) != nil)
    }
}
