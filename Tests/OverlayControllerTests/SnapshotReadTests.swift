import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import OverlayStore
import OverlayTestSupport
import Testing

/// Reading a network back from the store: every member, every field as written, whatever the
/// number of rows (the SQLite engine gathers rows in batches of about a thousand values).
@Suite struct SnapshotReadTests {
    @Test("a network of 300 members reads back whole, each field as written", arguments: TestEngine.all)
    func readsBackWhole(engine: TestEngine) throws {
        let db = try TestDB(engine)
        try db.controller.createNetwork(name: "big", prefix: "fd42:4242:4242::/48", noIPv4: true)
        var rng = SeededRNG(seed: 0x5A4)
        var written: [NetworkSnapshot.Member] = []
        for i in 0..<300 {
            let addresses: [IPAddress] =
                switch i % 4 {
                case 0: []
                case 1: [.v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: UInt64(i)))]
                case 2: [.v4(IPv4Address(0xC633_6400 | UInt32(i % 250))), .v6(IPv6Address(high: 0x2001_0db8, low: 1))]
                default: [.v4(IPv4Address(0xCB00_7100 | UInt32(i % 250)))]
                }
            let hub = i % 4 != 0 && i % 50 == 1
            let node = Node(
                name: "n\(i)", identity: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) },
                publicAddresses: addresses, listenPorts: 40000...40100, region: i % 3 == 0 ? "r\(i % 5)" : nil,
                hub: hub, gateway: i % 7 == 0, domain: i % 7 == 0 ? "n\(i).example.com" : nil)
            let membership = Membership(
                network: "big", node: node.name, subnetID: UInt16(300 - i),
                publicKey: WireGuardKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })!,
                sealedPrivateKey: (0..<(i % 2 == 0 ? 80 : 81)).map { _ in UInt8.random(in: 0...255, using: &rng) },
                listenPort: 40000 + UInt16(i % 100), relayPort: hub ? 40100 : nil)
            written.append(.init(node: node, membership: membership))
        }
        try db.controller.store.write { tx in
            for m in written {
                try tx.insert(m.node)
                try tx.insert(m.membership, pinned: true)
            }
        }
        let (snapshot, nodes) = try db.controller.store.read { tx in
            (try #require(try tx.snapshot(network: "big")), try tx.nodes())
        }
        // Read in subnet ID order.
        let expected = written.sorted { $0.membership.subnetID < $1.membership.subnetID }
        #expect(snapshot.members.count == expected.count)
        for (read, wrote) in zip(snapshot.members, expected) {
            #expect(read == wrote, "\(wrote.node.name) reads back as \(read)")
        }
        #expect(nodes == written.map(\.node).sorted { $0.name < $1.name })

        // Planned from what was read, in any order, each member gets its own membership.
        var rng2 = SeededRNG(seed: 7)
        var shuffled = snapshot
        shuffled.members.shuffle(using: &rng2)
        let planned = try PlannedNetwork(snapshot)
        let plannedShuffled = try PlannedNetwork(shuffled)
        #expect(plannedShuffled.topology.members == planned.topology.members)
        #expect(planned.topology.members.map(\.name) == expected.map(\.node.name))
        for m in written {
            #expect(plannedShuffled.membership(of: m.node.name) == m.membership)
            #expect(plannedShuffled.resource(for: m.node.name) == planned.resource(for: m.node.name))
        }
        #expect(planned.membership(of: "absent") == nil)
    }
}
