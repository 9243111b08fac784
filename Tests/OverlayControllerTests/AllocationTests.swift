import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import OverlayStore
import OverlayTestSupport
import Testing

@testable import OverlayController

@Suite("Allocation")
struct AllocationTests {
    enum Kind: CaseIterable { case open, hidden, hub }

    /// Everything the random run remembers, to check what the controller reports against it.
    struct Model {
        var nodes: [String: Kind] = [:]
        /// Workload -> the address it was given when created.
        var workloads: [String: IPv6Address] = [:]
        var access: [String: IPv6Address] = [:]
        var counter = 0
        mutating func fresh(_ prefix: String) -> String {
            counter += 1
            return "\(prefix)\(counter)"
        }
    }

    static func checkInvariants(_ db: TestDB, _ model: Model, step: String, rng: inout SeededRNG) throws {
        let c = db.controller
        let networks = try c.networks()
        // Prefixes of different networks never overlap; all are ULA /48s.
        for (i, a) in networks.enumerated() {
            #expect(a.prefix.length == 48 && AddressPlan.ula.contains(a.prefix), "\(step): \(a.name) has \(a.prefix)")
            for b in networks[(i + 1)...] {
                #expect(!a.prefix.overlaps(b.prefix), "\(step): \(a.name) \(a.prefix) overlaps \(b.name) \(b.prefix)")
            }
        }
        var subnetOf: [String: [String: IPv6Prefix]] = [:]  // network -> node -> /64
        var portsOf: [String: [UInt16]] = [:]
        let details = try networks.map { try c.network(named: $0.name) }
        for d in details {
            let n = d.network
            var seen: [UInt16: String] = [:]
            for m in d.members {
                #expect(
                    AddressPlan.nodeSubnetIDs.contains(m.membership.subnetID),
                    "\(step): \(m.node.name) in \(n.name) has subnet ID \(m.membership.subnetID)")
                if let other = seen[m.membership.subnetID] {
                    Issue.record(
                        "\(step): \(m.node.name) and \(other) share subnet \(m.membership.subnetID) in \(n.name)")
                }
                seen[m.membership.subnetID] = m.node.name
                let subnet = AddressPlan.subnet(n.prefix, m.membership.subnetID)
                #expect(n.prefix.contains(subnet), "\(step): \(subnet) outside \(n.prefix)")
                subnetOf[n.name, default: [:]][m.node.name] = subnet
                portsOf[m.node.name, default: []].append(m.membership.listenPort)
                // A hub has a relay forwarder port in each of its networks, from the same range.
                #expect(
                    (m.membership.relayPort != nil) == (m.node.hub && !m.node.isHidden),
                    "\(step): \(m.node.name) in \(n.name) has relay port \(String(describing: m.membership.relayPort))")
                if let r = m.membership.relayPort {
                    #expect(m.node.listenPorts.contains(r), "\(step): relay port \(r) outside \(m.node.listenPorts)")
                    portsOf[m.node.name, default: []].append(r)
                }
            }
        }
        // Listen ports and relay ports are unique per node.
        for (node, ports) in portsOf {
            #expect(Set(ports).count == ports.count, "\(step): \(node) uses a listen port twice: \(ports)")
        }
        var addresses: [IPv6Address: String] = [:]
        let workloads = details.flatMap(\.workloads)
        #expect(Set(workloads.map(\.name)) == Set(model.workloads.keys), "\(step): workload set")
        // The controller's own answer for one workload; the others computed from the plan of record.
        if let w = workloads.randomElement(using: &rng) {
            let (_, address) = try c.workload(named: w.name)
            #expect(model.workloads[w.name] == address, "\(step): workload(named: \(w.name)) says \(address)")
        }
        for w in workloads {
            let address = try #require(
                subnetOf[w.network]?[w.node].map { AddressPlan.host($0, w.hostNumber) },
                "\(step): \(w.node) hosts \(w.name) but is not a member of \(w.network)")
            if let other = addresses[address] { Issue.record("\(step): \(w.name) and \(other) share \(address)") }
            addresses[address] = w.name
            let subnet = try #require(
                subnetOf[w.network]?[w.node], "\(step): \(w.node) hosts \(w.name) but is not a member of \(w.network)")
            #expect(subnet.contains(address), "\(step): \(w.name) at \(address) is outside \(w.node)'s \(subnet)")
            #expect(address != AddressPlan.routerAddress(subnet), "\(step): \(w.name) has the router address")
            #expect(
                model.workloads[w.name] == address,
                "\(step): \(w.name) moved from \(model.workloads[w.name].map(\.description) ?? "?") to \(address)")
        }
        // IPv4: the workload's host number in its node's /24 (the /24 of its subnet number), unique.
        let ipv4 = try c.workloadIPv4Addresses()
        var ipv4Seen: [IPv4Address: String] = [:]
        for w in workloads {
            let net = try #require(networks.first { $0.name == w.network })
            guard let p4 = net.ipv4Prefix else {
                #expect(ipv4[w.name] == nil, "\(step): \(w.name) has IPv4 in an IPv6-only network")
                continue
            }
            let id = try #require(
                details.first { $0.network.name == w.network }?.members.first { $0.node.name == w.node })
            let expected = AddressPlan.ipv4Subnet(p4, id.membership.subnetID).flatMap {
                AddressPlan.ipv4Host($0, w.hostNumber)
            }
            #expect(
                ipv4[w.name] != nil && ipv4[w.name] == expected,
                "\(step): \(w.name) has IPv4 \(ipv4[w.name].map(\.description) ?? "none")")
            if let a = ipv4[w.name] {
                #expect(p4.contains(a), "\(step): \(w.name) at \(a) is outside \(p4)")
                if let other = ipv4Seen[a] { Issue.record("\(step): \(w.name) and \(other) share \(a)") }
                ipv4Seen[a] = w.name
            }
        }
        for a in try c.accessPeers() {
            let net = try #require(networks.first { $0.name == a.network })
            let address = AddressPlan.host(AddressPlan.subnet(net.prefix, AddressPlan.accessSubnetID), a.hostNumber)
            if let other = addresses[address] {
                Issue.record("\(step): access peer \(a.name) and \(other) share \(address)")
            }
            addresses[address] = a.name
            #expect(model.access[a.name] == address, "\(step): access peer \(a.name) moved to \(address)")
            #expect(
                subnetOf[a.network]?[a.hub] != nil, "\(step): \(a.name)'s hub \(a.hub) is not a member of \(a.network)")
        }
    }

    @Test(
        "random adds and removes: unique addresses inside their networks, stable, and plan revisions follow plan changes",
        arguments: TestEngine.all, [0xA110C as UInt64])
    func randomOperations(_ engine: TestEngine, seed: UInt64) throws {
        var rng = SeededRNG(seed: seed)
        let db = try TestDB(engine)
        let c = db.controller
        var model = Model()
        let networks = ["blue", "green", "red"]
        try c.createNetwork(name: "blue", prefix: "fd00:0:1::/48")
        try c.createNetwork(name: "green")
        try c.createNetwork(name: "red", mtu: 1280)
        for (i, h) in ["hub-a", "hub-b"].enumerated() {
            try db.node(h, public: "198.51.100.\(i + 1)", hub: true, region: i == 0 ? "eu" : "us")
            model.nodes[h] = .hub
        }
        var failures: [String: Int] = [:]
        var successes = 0
        var plansBefore = try db.plansWithoutRevision()

        for step in 0..<200 {
            let label = "seed \(seed) step \(step)"
            let revisionBefore = try c.revision()
            let dumpBefore = try db.dump()
            var description = ""
            var touched: [String]?
            var expectedFailure = false
            do {
                let roll = Int.random(in: 0..<100, using: &rng)
                switch roll {
                case 0..<15:
                    let kind = Kind.allCases.randomElement(using: &rng)!
                    let name = model.fresh("n")
                    description = "add node \(name) (\(kind))"
                    let address = kind == .hidden ? nil : "203.0.113.\(model.counter % 250 + 1)"
                    try db.node(
                        name, public: address, hub: kind == .hub,
                        region: ["eu", "us", nil].randomElement(using: &rng)!)
                    model.nodes[name] = kind
                case 15..<25:
                    guard let name = model.nodes.keys.sorted().randomElement(using: &rng) else { continue }
                    description = "remove node \(name)"
                    // Refused while it hosts workloads or access peers dial it.
                    let hosts = try c.node(named: name).workloads
                    let dialled = try c.accessPeers().contains { $0.hub == name }
                    expectedFailure = !hosts.isEmpty || dialled
                    touched = try c.removeNode(name: name).touchedNodes
                    model.nodes[name] = nil
                case 25..<60:
                    guard let node = model.nodes.keys.sorted().randomElement(using: &rng) else { continue }
                    let network = networks.randomElement(using: &rng)!
                    let name = model.fresh("w")
                    description = "add workload \(name) on \(node) in \(network)"
                    let expose = Bool.random(using: &rng) ? ["tcp/80"] : []
                    let (_, address) = try c.addWorkload(name: name, network: network, node: node, expose: expose)
                    model.workloads[name] = address
                case 60..<80:
                    guard let name = model.workloads.keys.sorted().randomElement(using: &rng) else { continue }
                    description = "remove workload \(name)"
                    touched = try c.removeWorkload(name: name).touchedNodes
                    model.workloads[name] = nil
                case 80..<90:
                    let network = networks.randomElement(using: &rng)!
                    let name = model.fresh("a")
                    let hubs = model.nodes.filter { $0.value == .hub }.keys.sorted()
                    let hub = Bool.random(using: &rng) ? hubs.randomElement(using: &rng) : nil
                    description = "add access peer \(name) to \(network) via \(hub ?? "default hub")"
                    let givenKey = Bool.random(using: &rng) ? X25519.generateKeyPair().publicKey.base64 : nil
                    let grant = try c.addAccessPeer(name: name, network: network, publicKey: givenKey, hub: hub)
                    model.access[name] = grant.address
                case 90..<95:
                    guard let name = model.access.keys.sorted().randomElement(using: &rng) else { continue }
                    description = "remove access peer \(name)"
                    touched = try c.removeAccessPeer(name: name).touchedNodes
                    model.access[name] = nil
                default:
                    guard let node = model.nodes.keys.sorted().randomElement(using: &rng) else { continue }
                    let network = networks.randomElement(using: &rng)!
                    if Bool.random(using: &rng) {
                        description = "attach \(node) to \(network)"
                        touched = try c.attach(network: network, node: node).touchedNodes
                    } else {
                        description = "detach \(node) from \(network)"
                        // Only an attached member can be detached.
                        expectedFailure = try !c.store.read { try $0.pinnedMembers(network: network).contains(node) }
                        touched = try c.detach(network: network, node: node).touchedNodes
                    }
                }
                successes += 1
                #expect(!expectedFailure, "\(label): \(description) should have been refused")
                #expect(
                    try c.revision() == revisionBefore + 1, "\(label): \(description) did not take exactly one revision"
                )
            } catch {
                let kind = "\(type(of: error))"
                failures[kind, default: 0] += 1
                #expect(expectedFailure, "\(label): \(description) failed: \(error)")
                #expect(try db.dump() == dumpBefore, "\(label): refused \(description) changed the database")
            }

            // A node whose plan changed must carry the new revision, or its agent never fetches it.
            let revision = try c.revision()
            let plansAfter = try db.plansWithoutRevision()
            let changed = plansAfter.filter { plansBefore[$0.key] != $0.value }
            let planRevisions = try c.store.read { tx in try changed.keys.map { ($0, try tx.planRevision(node: $0)) } }
            for (name, planRevision) in planRevisions {
                let plan = changed[name]!
                if plansBefore[name] == nil && plan.networks.isEmpty { continue }  // a new, empty node
                #expect(
                    planRevision == revision,
                    "\(label): \(description) changed \(name)'s plan but left its plan revision at \(planRevision) (store at \(revision))"
                )
                if let touched {
                    #expect(
                        touched.contains(name),
                        "\(label): \(description) changed \(name)'s plan; touched only \(touched)")
                }
            }
            // The controller's own per-node plan is the shared computation, at the node's plan revision.
            if let name = plansAfter.keys.sorted().randomElement(using: &rng) {
                var p = try c.plan(node: name)
                #expect(p.revision == (try c.node(named: name).planRevision))
                p.revision = 0
                #expect(p == plansAfter[name], "\(label): Controller.plan(node: \(name)) differs")
            }
            plansBefore = plansAfter
            try Self.checkInvariants(db, model, step: "\(label) after \(description)", rng: &rng)
        }
        #expect(successes > 150, "too few operations succeeded: \(successes); failures \(failures)")
        #expect(model.workloads.count > 5, "the run should leave workloads to check")
    }

    @Test("auto-generated prefixes are distinct ULA /48s, and a taken prefix is refused", arguments: TestEngine.all)
    func manyNetworks(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        var prefixes = Set<IPv6Prefix>()
        for i in 0..<300 {
            let n = try db.controller.createNetwork(name: "net\(i)")
            #expect(n.prefix.length == 48)
            #expect(AddressPlan.ula.contains(n.prefix), "\(n.prefix) is not in fd00::/8")
            #expect(prefixes.insert(n.prefix).inserted, "\(n.prefix) handed out twice")
            #expect((try? Network.validateID(n.id)) != nil)
        }
        let all = try db.controller.networks()
        #expect(Set(all.map(\.id)).count == 300, "network ids must be unique")
        let sorted = all.map(\.prefix).sorted()
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(!a.overlaps(b), "\(a) overlaps \(b)") }
        // The random part really is random: the 40 bits are not all alike.
        #expect(Set(sorted.map { $0.network.high >> 16 & 0xff_ffff_ffff }).count == 300)
        let taken = sorted[17].description
        try expectRefused(db, "taken prefix", mentions: [taken, "already used"]) {
            try db.controller.createNetwork(name: "again", prefix: taken)
        }
    }

    @Test("subnets and host numbers: lowest free, and never moved by other changes", arguments: TestEngine.all)
    func lowestFree(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "n", prefix: "fd12:3456:789a::/48")
        for name in ["a", "b", "c"] { try db.node(name, public: "192.0.2.\(name.utf8.first! - 96)") }
        let (_, a1) = try c.addWorkload(name: "a1", network: "n", node: "a")
        let (_, b1) = try c.addWorkload(name: "b1", network: "n", node: "b")
        let (_, a2) = try c.addWorkload(name: "a2", network: "n", node: "a")
        #expect(a1.description == "fd12:3456:789a:1::2")
        #expect(b1.description == "fd12:3456:789a:2::2")
        #expect(a2.description == "fd12:3456:789a:1::3")
        try c.removeWorkload(name: "a1")
        // a2 keeps its address; the freed ::2 goes to the next workload.
        #expect(try c.workload(named: "a2").1 == a2)
        let (_, a3) = try c.addWorkload(name: "a3", network: "n", node: "a")
        #expect(a3.description == "fd12:3456:789a:1::2")
        // b leaves when its last workload goes; c then takes the lowest free subnet, 2.
        try c.removeWorkload(name: "b1")
        #expect(try c.network(named: "n").members.map(\.node.name) == ["a"])
        let (_, c1) = try c.addWorkload(name: "c1", network: "n", node: "c")
        #expect(c1.description == "fd12:3456:789a:2::2")
        #expect(try c.workload(named: "a2").1 == a2)
        // Listen ports: lowest free in the node's range, per node.
        try c.createNetwork(name: "m", prefix: "fd12:3456:789b::/48")
        try c.addWorkload(name: "am", network: "m", node: "a")
        #expect(try c.node(named: "a").memberships.map(\.listenPort).sorted() == [51820, 51821])
    }
}
