import Foundation
import OverlayModel
import OverlayTestSupport
import Testing

@testable import OverlayPlanner

@Suite("NodePlan and PlanDelta")
struct PlanTests {
    /// A network with every feature: hubs, a hidden member, a gateway with routes, workloads with
    /// exposed ports, an access peer.
    static func richSnapshot() -> NetworkSnapshot {
        let workloads = [
            Workload(
                name: "web", network: "net", node: "plain", hostNumber: 2, namespace: "wl-web",
                exposed: [PortSpec(proto: .tcp, port: 443), PortSpec(proto: .tcp, port: 80)]),
            Workload(
                name: "dns", network: "net", node: "plain", hostNumber: 3, namespace: "ns-dns",
                exposed: [PortSpec(proto: .udp, port: 53)]),
            Workload(name: "job", network: "net", node: "hidden", hostNumber: 2, namespace: "wl-job"),
        ]
        let routes = [
            GatewayRoute(name: "site", node: "gw", match: .name("site"), backends: [.init(workload: "web", port: 80)]),
            GatewayRoute(
                name: "tls", node: "gw", match: .fqdn("www.example.org"), tlsPassthrough: true,
                backends: [.init(workload: "web", port: 443)]),
            GatewayRoute(name: "dns", node: "gw", match: .udp(53), backends: [.init(workload: "dns", port: 53)]),
        ]
        return Fixture.snapshot(
            [
                MemberSpec(name: "hub1", subnetID: 1, hub: true), MemberSpec(name: "hub2", subnetID: 2, hub: true),
                MemberSpec(name: "hidden", subnetID: 3, hidden: true), MemberSpec(name: "plain", subnetID: 4),
                MemberSpec(name: "gw", subnetID: 5, gateway: true),
            ], access: [("phone", "hub2")], seed: 42, workloads: workloads, routes: routes)
    }

    @Test("NodePlan JSON round trip for every member, with a version field")
    func jsonRoundTrip() throws {
        let plans = try Fixture.plans(Self.richSnapshot(), revision: 17)
        #expect(plans.count == 5)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for (name, plan) in plans {
            let data = try encoder.encode(plan)
            let text = String(decoding: data, as: UTF8.self)
            #expect(
                text.contains("\"version\":\(NodePlan.currentVersion)"), "\(name): no version in \(text.prefix(80))")
            let back = try JSONDecoder().decode(NodePlan.self, from: data)
            #expect(back == plan, "\(name): plan changes through JSON")
            #expect(try encoder.encode(back) == data, "\(name): re-encoding differs")
            #expect(plan.revision == 17)
        }
        // The rich parts are really there, so the round trip covered them.
        let gw = try #require(plans["gw"])
        #expect(gw.gateway?.routes.map(\.name) == ["dns", "site", "tls"])
        #expect(gw.gateway?.routes.first { $0.name == "site" }?.host == "site.gw.example.com")
        #expect(gw.gateway?.routes.first { $0.name == "tls" }?.tlsPassthrough == true)
        #expect(
            gw.gateway?.routes.first { $0.name == "dns" }?.backends.first?.address.description == "fd12:3456:789a:4::3")
        #expect(plans["hidden"]?.networks.first?.failover != nil)
        let plain = try #require(plans["plain"]?.networks.first)
        #expect(plain.workloads.map(\.name) == ["dns", "web"])
        #expect(plain.workloads.first { $0.name == "web" }?.exposed.map(\.description) == ["tcp/80", "tcp/443"])
        #expect(plain.workloads.first { $0.name == "dns" }?.hostInterface == "vw-3")
        #expect(plain.firewall.gatewaySources.map(\.description) == ["fd12:3456:789a:5::1"])
        #expect(plain.firewall.exposed.count == 3)
        #expect(plans["plain"]?.gateway == nil)
        #expect(plans["hub2"]?.networks.first?.peers.contains { $0.kind == .access && $0.name == "phone" } == true)
        #expect(plans["plain"]?.hostFirewall.wireguardPorts == [plain.listenPort])
    }

    @Test("decoding refuses a plan with a bad key or address")
    func decodeRejects() throws {
        let plan = try #require(try Fixture.plans(Self.richSnapshot())["plain"])
        let text = String(decoding: try JSONEncoder().encode(plan), as: UTF8.self)
        let badKey = text.replacingOccurrences(of: plan.networks[0].publicKey.base64, with: "AAAA")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NodePlan.self, from: Data(badKey.utf8)) }
        let badPrefix = text.replacingOccurrences(of: "fd12:3456:789a::\\/48", with: "fd12:3456:789a::1\\/48")
            .replacingOccurrences(of: "fd12:3456:789a::/48", with: "fd12:3456:789a::1/48")
        #expect(badPrefix != text)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NodePlan.self, from: Data(badPrefix.utf8)) }
    }

    @Test("re-planning the same state gives empty deltas", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func samePlanEmptyDelta(seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        let s = Fixture.randomSnapshot(count: Int.random(in: 2...40, using: &rng), rng: &rng)
        let a = try Fixture.plans(s)
        let b = try Fixture.plans(s)
        for (name, plan) in a {
            let d = PlanDelta(from: plan, to: b[name]!)
            #expect(d.isEmpty, "\(name): re-planning gave \(d)")
            #expect(d.summary == PlanDelta(from: plan, to: plan).summary)
        }
        let rich = try Fixture.plans(Self.richSnapshot())
        for (name, plan) in rich {
            #expect(PlanDelta(from: plan, to: try Fixture.plans(Self.richSnapshot())[name]!).isEmpty)
        }
    }

    @Test(
        "adding one member gives every other non-hidden member exactly one added peer",
        arguments: [0, 1, 5, 20, 39] as [Int])
    func addOneMember(hiddenAndHubs: Int) throws {
        var specs: [MemberSpec] = (1...40).map { MemberSpec(name: "n\($0)", subnetID: UInt16($0)) }
        // Vary the shape: some hubs, and `hiddenAndHubs / 2` hidden members.
        for i in 0..<min(2, hiddenAndHubs) { specs[i].hub = true }
        for i in 0..<(hiddenAndHubs / 2) { specs[39 - i].hidden = true }
        let before = Fixture.snapshot(specs, access: hiddenAndHubs > 0 ? [("phone", "n1")] : [], seed: 7)
        var after = before
        var rng = SeededRNG(seed: 99)
        let newcomer = Fixture.member(MemberSpec(name: "new", subnetID: 41), rng: &rng)
        after.members.append(newcomer)
        let old = try Fixture.plans(before)
        let new = try Fixture.plans(after)
        #expect(PlanDelta(from: nil, to: new["new"]!).networksAdded == ["net"])
        for m in before.members {
            let d = PlanDelta(from: old[m.node.name]!, to: new[m.node.name]!)
            if m.node.isHidden {
                #expect(d.isEmpty, "hidden \(m.node.name) should not see a non-hub newcomer: \(d)")
                continue
            }
            #expect(d.networksAdded.isEmpty && d.networksRemoved.isEmpty && !d.gatewayChanged)
            #expect(d.networks.count == 1, "\(m.node.name): \(d)")
            let n = try #require(d.networks.first)
            #expect(n.peersAdded.map(\.publicKey) == [newcomer.membership.publicKey], "\(m.node.name): \(n)")
            #expect(n.peersAdded.first?.allowedIPs.map(\.description) == ["fd12:3456:789a:29::/64"])
            #expect(n.peersChanged.isEmpty && n.peersRemoved.isEmpty, "\(m.node.name): \(n)")
            #expect(n.workloadsAdded.isEmpty && n.workloadsRemoved.isEmpty && !n.firewallChanged && !n.settingsChanged)
            #expect(d.summary.peersAdded == 1 && d.summary.peersChanged == 0)
        }
    }

    @Test("removing a member and changing a workload show up as such")
    func otherDeltas() throws {
        let s = Self.richSnapshot()
        let old = try Fixture.plans(s)
        var t = s
        let gone = t.members.first { $0.node.name == "plain" }!
        t.members.removeAll { $0.node.name == "plain" }
        t.workloads.removeAll { $0.node == "plain" }
        t.gatewayRoutes = []
        let new = try Fixture.plans(t)
        let d = PlanDelta(from: old["hub1"]!, to: new["hub1"]!)
        #expect(d.networks.first?.peersRemoved == [gone.membership.publicKey])
        #expect(d.networks.first?.peersAdded.isEmpty == true)
        let g = PlanDelta(from: old["gw"]!, to: new["gw"]!)
        #expect(g.gatewayChanged, "the gateway lost its routes")

        var w = s
        w.workloads[0].exposed.append(PortSpec(proto: .tcp, port: 8080))
        let changed = try Fixture.plans(w)
        let p = PlanDelta(from: old["plain"]!, to: changed["plain"]!)
        #expect(p.networks.first?.workloadsAdded.map(\.name) == ["web"])
        #expect(p.networks.first?.workloadsRemoved == ["web"])
        #expect(p.networks.first?.firewallChanged == true)
        #expect(PlanDelta(from: old["hub1"]!, to: changed["hub1"]!).isEmpty, "hub1 does not see plain's workloads")
    }
}
