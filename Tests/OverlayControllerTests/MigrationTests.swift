import Foundation
import GRDB
import OverlayModel
import Testing

@testable import OverlayController
@testable import OverlayStore

@Suite("Migration to dual stack")
struct MigrationTests {
    @Test("a network from before IPv4 and egress stays IPv6-only and sealed; new networks get both")
    func existingNetworksKeepNoIPv4() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "overlay-migration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.db").path
        // The schema as it was before, with one network in it.
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v2-gateway-tls")
            try queue.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO networks (name, net_id, prefix, mtu) VALUES ('old', '0a1b2c3d', 'fd00:1:2::/48', 1420)"
                )
            }
        }
        // Made owner-only, as the store makes its files.
        chmod(path, 0o600)
        let c = try Controller(databasePath: path)
        let old = try #require(try c.networks().first { $0.name == "old" })
        #expect(old.ipv4Prefix == nil && !old.egress)
        let new = try c.createNetwork(name: "new")
        #expect(new.ipv4Prefix == IPv4Prefix("100.64.0.0/16") && new.egress)
        // The old network can be given egress later; it stays IPv6-only, so there is nothing to NAT.
        try c.setEgress(network: "old", on: true)
        #expect(try c.networks().first { $0.name == "old" }?.egress == true)
    }
}
