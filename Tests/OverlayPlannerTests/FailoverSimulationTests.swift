import Foundation
import OverlayModel
import OverlayTestSupport
import Testing

@testable import OverlayPlanner

/// Cryptokey routing while a relay hub is out of service, for every member's view of it: members
/// that have moved the hub's relayed prefixes to the other hub (`FailoverPlan.peers`) and members
/// that have not yet, with the hub gone or still running (docs/failover.md).
@Suite("Failover routing")
struct FailoverSimulationTests {
    typealias Who = RoutingSimulator.Who

    /// The network's members with a failover entry, and the relay hubs.
    static func movers(_ s: NetworkSnapshot) throws -> (movers: [String], hubs: [RelayHubPlan]) {
        let planned = try PlannedNetwork(s)
        var movers: [String] = []
        var hubs: [RelayHubPlan] = []
        for m in s.members {
            guard let f = planned.resource(for: m.node.name)?.failover else { continue }
            movers.append(m.node.name)
            hubs = f.hubs
        }
        return (movers.sorted(), hubs)
    }

    /// The simulator with `moved` members routing as if `hub` were out of service.
    static func simulator(_ s: NetworkSnapshot, hub: RelayHubPlan, moved: Set<String>, hubGone: Bool) throws
        -> RoutingSimulator
    {
        var sim = try RoutingSimulator(s) { r in
            guard let f = r.failover, moved.contains(Self.owner(r, s)) else { return r.peers }
            return f.peers(r.peers, outOfService: [hub.publicKey])
        }
        if hubGone {
            sim.dead.insert(.member(hub.name))
            for a in s.accessPeers where a.hub == hub.name { sim.dead.insert(.access(a.name)) }
        }
        return sim
    }

    /// The member a resource belongs to (resources name the network, not the node).
    static func owner(_ r: NetworkResourcePlan, _ s: NetworkSnapshot) -> String {
        s.members.first { $0.membership.publicKey == r.publicKey }!.node.name
    }

    /// Every pair of live endpoints in one state. Returns the number of pairs that lost packets.
    @discardableResult
    static func check(
        _ s: NetworkSnapshot, hub: RelayHubPlan, moved: Set<String>, movers: Set<String>, hubGone: Bool,
        label: String
    ) throws -> Int {
        let sim = try simulator(s, hub: hub, moved: moved, hubGone: hubGone)
        let live = sim.interfaces.keys.filter { !sim.dead.contains($0) }
        let hubWho = Who.member(hub.name)
        let everyoneMoved = moved == movers
        func view(_ w: Who) -> Bool? {
            guard case .member(let n) = w, movers.contains(n) else { return nil }
            return moved.contains(n)
        }
        // Where a packet enters and leaves the members: an access peer's hub stands for it.
        func member(_ w: Who) -> Who {
            guard case .access(let n) = w, let a = s.accessPeers.first(where: { $0.name == n }) else { return w }
            return .member(a.hub)
        }
        var lossy = 0
        for a in live {
            for b in live where a != b {
                var bound = 2
                if case .access = a { bound += 1 }
                if case .access = b { bound += 1 }
                let result = sim.route(from: a, to: b, maxHops: bound)
                let ends = [view(member(a)), view(member(b))].compactMap { $0 }
                let agree = Set(ends).count <= 1
                switch result {
                case .success(let path):
                    // Once everyone has moved, relayed traffic avoids the hub out of service.
                    if everyoneMoved && a != hubWho && b != hubWho {
                        if case .access(let n) = a, s.accessPeers.first(where: { $0.name == n })?.hub == hub.name {
                            continue
                        }
                        if case .access(let n) = b, s.accessPeers.first(where: { $0.name == n })?.hub == hub.name {
                            continue
                        }
                        #expect(
                            !path.dropFirst().dropLast().contains(hubWho),
                            "\(label): \(a) -> \(b) still relayed by \(hub.name): \(path)")
                    }
                case .failure(let why):
                    lossy += 1
                    // Two ends that agree always get through, over a live path.
                    if agree && (!hubGone || ends.allSatisfy { $0 }) {
                        Issue.record("\(label): \(a) -> \(b) (views agree): \(why)")
                    }
                    // A loss happens where the packet leaves the members (whose view differs from
                    // the sender's), or at the gone hub; never at a relay in the middle.
                    if let at = why.sourceCheckAt {
                        #expect(at == member(b), "\(label): \(a) -> \(b) dropped in the middle: \(why)")
                        #expect(!agree, "\(label): \(a) -> \(b) dropped although the views agree: \(why)")
                    } else if let at = why.lostAt {
                        #expect(at == hubWho && hubGone, "\(label): \(a) -> \(b): \(why)")
                    } else {
                        Issue.record("\(label): \(a) -> \(b): \(why)")
                    }
                }
            }
        }
        return lossy
    }

    static let shapes: [[MemberSpec]] = [
        // Two relays, a third hub with an access peer, hidden members of both parities, plain members.
        [
            MemberSpec(name: "r1", subnetID: 1, hub: true), MemberSpec(name: "r2", subnetID: 2, hub: true),
            MemberSpec(name: "hub3", subnetID: 3, hub: true), MemberSpec(name: "x", subnetID: 4, hidden: true),
            MemberSpec(name: "y", subnetID: 5, hidden: true), MemberSpec(name: "z", subnetID: 6, hidden: true),
            MemberSpec(name: "p", subnetID: 7), MemberSpec(name: "q", subnetID: 8, gateway: true),
        ],
        // The smallest case of the issue: two hubs, one hidden node, one public node.
        [
            MemberSpec(name: "hub-a", subnetID: 1, hub: true), MemberSpec(name: "hub-b", subnetID: 2, hub: true),
            MemberSpec(name: "hidden", subnetID: 4, hidden: true), MemberSpec(name: "public", subnetID: 5),
        ],
    ]

    @Test("every view of every member, either hub out of service, gone or running: ends that agree get through")
    func everyMixedState() throws {
        var states = 0
        for (i, specs) in Self.shapes.enumerated() {
            let s = Fixture.snapshot(specs, access: i == 0 ? [("l1", "r1"), ("l2", "r2"), ("l3", "hub3")] : [])
            let (movers, hubs) = try Self.movers(s)
            #expect(hubs.count == 2)
            for hub in hubs {
                for mask in 0..<(1 << movers.count) {
                    let moved = Set(movers.indices.filter { mask & (1 << $0) != 0 }.map { movers[$0] })
                    for gone in [true, false] {
                        try Self.check(
                            s, hub: hub, moved: moved, movers: Set(movers), hubGone: gone,
                            label:
                                "shape \(i), \(hub.name) \(gone ? "gone" : "out of service"), moved \(moved.sorted())")
                        states += 1
                    }
                }
            }
        }
        #expect(states > 200, "\(states) states")
    }

    @Test("random networks: all moved or none moved, every live pair gets through")
    func randomConsistentStates() throws {
        var rng = SeededRNG(seed: 0xFA110)
        var checked = 0
        for round in 0..<60 {
            let s = Fixture.randomSnapshot(count: Int.random(in: 3...25, using: &rng), rng: &rng)
            let (movers, hubs) = try Self.movers(s)
            guard hubs.count == 2 else { continue }
            for hub in hubs {
                try Self.check(
                    s, hub: hub, moved: Set(movers), movers: Set(movers), hubGone: true,
                    label: "round \(round), \(hub.name) gone, all moved")
                let lossy = try Self.check(
                    s, hub: hub, moved: [], movers: Set(movers), hubGone: false,
                    label: "round \(round), \(hub.name) running, none moved")
                #expect(lossy == 0, "round \(round): the plan's layout loses \(lossy) pairs")
                // A random half moved: losses only between ends that disagree.
                let half = Set(movers.filter { _ in Bool.random(using: &rng) })
                try Self.check(
                    s, hub: hub, moved: half, movers: Set(movers), hubGone: Bool.random(using: &rng),
                    label: "round \(round), \(hub.name), moved \(half.sorted())")
                checked += 1
            }
        }
        #expect(checked > 20, "\(checked) networks with two relay hubs")
    }

    @Test("the hidden member's failover: the /48 onto the standby, the primary keeps its own /64")
    func hiddenMemberPeers() throws {
        let s = Fixture.snapshot(Self.shapes[1])
        let r = try #require(try PlannedNetwork(s).resource(for: "hidden"))
        let f = try #require(r.failover)
        let primary = try #require(f.hubs.first { $0.isPrimary })
        let standby = try #require(f.hubs.first { !$0.isPrimary })
        #expect(primary.name == "hub-a", "subnet 4 is even: the first relay")
        let moved = f.peers(r.peers, outOfService: [primary.publicKey])
        let byName = Dictionary(uniqueKeysWithValues: moved.map { ($0.name, $0.allowedIPs.map(\.description)) })
        #expect(byName["hub-a"] == ["fd12:3456:789a:1::/64"])
        #expect(byName["hub-b"] == ["fd12:3456:789a:2::/64", "fd12:3456:789a::/48"])
        // Both out of service: nothing relayed passes, the plan's layout stays.
        #expect(f.peers(r.peers, outOfService: [primary.publicKey, standby.publicKey]) == r.peers)
        #expect(f.peers(r.peers, outOfService: []) == r.peers)
        // Back: exactly the plan again.
        #expect(f.peers(r.peers, outOfService: [standby.publicKey]).map(\.name) == r.peers.map(\.name))
    }
}
