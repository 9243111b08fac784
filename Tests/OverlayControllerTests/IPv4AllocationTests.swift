import Foundation
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayController

@Suite("IPv4 allocation and egress")
struct IPv4AllocationTests {
    @Test(
        "new networks get distinct /16s of 100.64.0.0/10 and egress; --ipv4 and --no-ipv4 are kept",
        arguments: TestEngine.all)
    func networkPrefixes(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        #expect(try c.createNetwork(name: "a").ipv4Prefix == IPv4Prefix("100.64.0.0/16"))
        #expect(try c.createNetwork(name: "b").ipv4Prefix == IPv4Prefix("100.65.0.0/16"))
        let given = try c.createNetwork(name: "c", ipv4: "10.20.0.0/16", egress: false)
        #expect(given.ipv4Prefix == IPv4Prefix("10.20.0.0/16") && !given.egress)
        let v6 = try c.createNetwork(name: "d", noIPv4: true)
        #expect(v6.ipv4Prefix == nil && v6.egress)
        #expect(try c.createNetwork(name: "e").ipv4Prefix == IPv4Prefix("100.66.0.0/16"))
        // What the store gives back is what was created.
        #expect(
            try c.networks().map(\.ipv4Prefix?.description) == [
                "100.64.0.0/16", "100.65.0.0/16", "10.20.0.0/16", nil, "100.66.0.0/16",
            ])
        #expect(try c.networks().map(\.egress) == [true, true, false, true, true])
    }

    @Test(
        "bad IPv4 input is refused with the value and what is allowed, and changes nothing", arguments: TestEngine.all)
    func badInput(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let before = try db.dump()
        let e = #expect(throws: ValidationError.self) { try db.controller.createNetwork(name: "a", ipv4: "8.8.0.0/16") }
        #expect(e?.description.contains("'8.8.0.0/16'") == true)
        let both = #expect(throws: ValidationError.self) {
            try db.controller.createNetwork(name: "a", ipv4: "10.0.0.0/16", noIPv4: true)
        }
        #expect(both?.description.contains("--no-ipv4") == true)
        #expect(try db.dump() == before)
    }

    @Test(
        "a member's /24 is its subnet number's; workloads share their host number across families",
        arguments: TestEngine.all)
    func memberAndWorkloadAddresses(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "shop", ipv4: "10.20.0.0/16")
        try db.node("hub", public: "198.51.100.1", hub: true)
        try db.node("n2", public: "198.51.100.2")
        let (w1, a1) = try c.addWorkload(name: "w1", network: "shop", node: "n2")
        let (w2, _) = try c.addWorkload(name: "w2", network: "shop", node: "n2")
        let members = try c.network(named: "shop").members
        let n2 = try #require(members.first { $0.node.name == "n2" })
        let v4 = try c.workloadIPv4Addresses()
        let subnet = try #require(AddressPlan.ipv4Subnet(IPv4Prefix("10.20.0.0/16")!, n2.membership.subnetID))
        #expect(v4["w1"] == AddressPlan.ipv4Host(subnet, w1.hostNumber))
        #expect(v4["w2"] == AddressPlan.ipv4Host(subnet, w2.hostNumber))
        #expect(a1.low == w1.hostNumber && v4["w1"]!.value & 0xff == UInt32(w1.hostNumber))
        // Removing w1 and adding w3 may reuse the freed number, never a number still in use.
        try c.removeWorkload(name: "w1")
        try c.addWorkload(name: "w3", network: "shop", node: "n2")
        let after = try c.workloadIPv4Addresses()
        #expect(after["w2"] == v4["w2"], "stable")
        #expect(after["w3"] != after["w2"])
        let plan = try c.plan(node: "n2")
        #expect(plan.networks[0].ipv4?.subnet == subnet)
        #expect(Set(plan.networks[0].workloads.compactMap(\.ipv4Address)) == Set([after["w2"]!, after["w3"]!]))
    }

    @Test(
        "a full IPv4 prefix refuses the next member with the limit named, and changes nothing; --no-ipv4 has no such limit",
        arguments: TestEngine.all)
    func fullPrefix(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "small", ipv4: "10.20.0.0/22")
        try c.createNetwork(name: "v6", noIPv4: true)
        for i in 1...3 { try db.node("n\(i)", public: "198.51.100.\(i)") }
        try c.addWorkload(name: "w1", network: "small", node: "n1")
        try c.addWorkload(name: "w2", network: "small", node: "n2")
        let before = try db.dump()
        let e = #expect(throws: ConflictError.self) { try c.addWorkload(name: "w3", network: "small", node: "n3") }
        #expect(e?.message.contains("10.20.0.0/22 holds 2 member nodes") == true, "\(e?.message ?? "")")
        #expect(try db.dump() == before)
        for i in 1...3 { try c.addWorkload(name: "v\(i)", network: "v6", node: "n\(i)") }
        #expect(try c.network(named: "v6").members.count == 3)
    }

    @Test("a node's /24 holds 253 workloads: the next is refused with the limit named", arguments: TestEngine.all)
    func fullNodeSubnet(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "shop")
        try db.node("n1", public: "198.51.100.1")
        for i in 2...254 { try c.addWorkload(name: "w\(i)", network: "shop", node: "n1") }
        let before = try db.dump()
        let e = #expect(throws: ConflictError.self) { try c.addWorkload(name: "w255", network: "shop", node: "n1") }
        #expect(e?.message.contains("holds 253 workloads") == true, "\(e?.message ?? "")")
        #expect(try db.dump() == before)
        // Without IPv4 the /64 keeps going.
        try c.createNetwork(name: "v6", noIPv4: true)
        for i in 2...256 { try c.addWorkload(name: "x\(i)", network: "v6", node: "n1") }
    }

    @Test(
        "an access peer gets the same host number in the last /24, and its wg-quick file both families",
        arguments: TestEngine.all)
    func accessPeer(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "shop", ipv4: "10.20.0.0/16")
        try db.node("hub", public: "198.51.100.1", hub: true)
        let g = try c.addAccessPeer(name: "laptop", network: "shop")
        #expect(g.ipv4Address == IPv4Address("10.20.255.2"))
        #expect(g.wgQuick.contains("Address = \(g.address)/128, 10.20.255.2/32"))
        #expect(g.wgQuick.contains("AllowedIPs = \(try c.networks()[0].prefix), 10.20.0.0/16"))
        let hubPlan = try c.plan(node: "hub")
        let peer = try #require(hubPlan.networks[0].peers.first { $0.kind == .access })
        #expect(peer.allowedIPs.contains(IPPrefix("10.20.255.2/32")!))
    }

    @Test(
        "egress on and off: every member's plan follows; the same value again is refused and changes nothing",
        arguments: TestEngine.all)
    func egressSwitch(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "shop", noIPv4: false, egress: false)
        try db.node("n1", public: "2001:db8::1")
        try db.node("n2", public: "198.51.100.2")
        try c.addWorkload(name: "w1", network: "shop", node: "n1")
        try c.addWorkload(name: "w2", network: "shop", node: "n2")
        #expect(try c.plan(node: "n1").networks[0].egress == nil)
        let revision = try c.plan(node: "n2").revision
        try c.setEgress(network: "shop", on: true)
        let n1 = try #require(try c.plan(node: "n1").networks[0].egress)
        let n2 = try #require(try c.plan(node: "n2").networks[0].egress)
        #expect(n1.nat44 && n1.nat66 && n2.nat44 && !n2.nat66)
        let id = try c.networks()[0].id
        #expect(n1.interface == "vx-\(id)" && n1.hostInterface == "ovx-\(id)")
        // The transfer address follows the listen port, unique on the node.
        let port = try c.plan(node: "n1").networks[0].listenPort
        #expect(n1.address == IPv4Address(0x647F_0000 + UInt32(port)) && n1.gateway == IPv4Address("169.254.1.1"))
        #expect(try c.plan(node: "n1").hostFirewall.egress)
        #expect(try c.plan(node: "n2").revision > revision)
        let before = try db.dump()
        let e = #expect(throws: ConflictError.self) { try c.setEgress(network: "shop", on: true) }
        #expect(e?.message == "network 'shop' already has egress on")
        #expect(throws: NotFoundError.self) { try c.setEgress(network: "nope", on: true) }
        #expect(try db.dump() == before)
        try c.setEgress(network: "shop", on: false)
        #expect(try c.plan(node: "n1").networks[0].egress == nil)
    }

    @Test(
        "apply -f: ipv4, noIPv4 and egress keys create networks; re-applying changes nothing; a different value is refused",
        arguments: TestEngine.all)
    func applyKeys(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        let text = """
            networks:
              - name: a
                ipv4: 10.30.0.0/16
                egress: false
              - name: b
                noIPv4: true
              - name: c
            """
        _ = try c.apply(try TopologyFile.parse(text), dryRun: false)
        let nets = Dictionary(uniqueKeysWithValues: try c.networks().map { ($0.name, $0) })
        #expect(nets["a"]?.ipv4Prefix == IPv4Prefix("10.30.0.0/16") && nets["a"]?.egress == false)
        #expect(nets["b"]?.ipv4Prefix == nil && nets["b"]?.egress == true)
        #expect(nets["c"]?.ipv4Prefix == IPv4Prefix("100.64.0.0/16") && nets["c"]?.egress == true)
        let before = try db.dump()
        let second = try c.apply(try TopologyFile.parse(text), dryRun: false)
        #expect(second.created.isEmpty)
        #expect(try db.dump() == before, "re-applying changed the database")
        for (changed, message) in [
            (
                "networks:\n  - name: a\n    ipv4: 10.31.0.0/16\n",
                "exists with IPv4 prefix 10.30.0.0/16, not 10.31.0.0/16"
            ),
            ("networks:\n  - name: a\n    egress: true\n", "network set a --egress on"),
            ("networks:\n  - name: c\n    noIPv4: true\n", "not without IPv4"),
        ] {
            let e = #expect(throws: ConflictError.self) { try c.apply(try TopologyFile.parse(changed), dryRun: false) }
            #expect(e?.message.contains(message) == true, "\(e?.message ?? "")")
        }
        #expect(try db.dump() == before)
    }
}
