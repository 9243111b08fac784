import Foundation
import GRDB
import OverlayCrypto
import OverlayModel
import Testing

@testable import OverlayController
@testable import OverlayStore

@Suite("Migration to relay forwarders")
struct RelayPortMigrationTests {
    @Test(
        "a hub's membership from before relay ports gets the lowest free port of its range; its members get new plans")
    func existingHubMembershipsGetAPort() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "overlay-relay-migration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.db").path
        let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
        let (hub, plain) = (Ed25519Identity.generate().publicKey, Ed25519Identity.generate().publicKey)
        // The schema as it was before, with a hub and a plain node in one network.
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v4-tenants")
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO networks (name, net_id, prefix, mtu) VALUES ('old', '0a1b2c3d', 'fd00:1:2::/48', 1420);
                        INSERT INTO nodes (name, identity, public_addresses, port_from, port_to, hub, gateway)
                        VALUES ('hub', x'\(hex(hub))', '198.51.100.1', 51820, 51829, 1, 0),
                               ('plain', x'\(hex(plain))', '198.51.100.2', 51820, 51829, 0, 0);
                        INSERT INTO memberships (network_id, node_id, subnet_id, public_key, sealed_private_key, listen_port)
                        VALUES (1, 1, 1, x'\(String(repeating: "03", count: 32))', x'00', 51820),
                               (1, 2, 2, x'\(String(repeating: "04", count: 32))', x'00', 51820);
                        """)
            }
        }
        chmod(path, 0o600)
        let c = try Controller(databasePath: path)
        #expect(try c.node(named: "hub").memberships.map(\.relayPort) == [51821])
        #expect(try c.node(named: "plain").memberships.map(\.relayPort) == [nil])
        let revision = try c.store.read { tx in try tx.planRevision(node: "plain") }
        #expect(revision > 0, "the network's plans are marked changed")
        // Opening again changes nothing.
        let again = try Controller(databasePath: path)
        #expect(try again.store.read { tx in try tx.planRevision(node: "plain") } == revision)
        // A new network on the hub: its listen port and relay port skip the ones taken.
        _ = try again.createNetwork(name: "new")
        _ = try again.attach(network: "new", node: "hub")
        let ports = try again.node(named: "hub").memberships.first { $0.network == "new" }
        #expect(ports?.listenPort == 51822 && ports?.relayPort == 51823)
    }
}
