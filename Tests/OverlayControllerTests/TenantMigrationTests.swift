import Foundation
import GRDB
import OverlayModel
import Testing

@testable import OverlayController
@testable import OverlayStore

@Suite("Migration to tenants")
struct TenantMigrationTests {
    @Test("networks and admin tokens from before tenants are the operator's; a tenant sees none of them")
    func existingRowsBelongToTheOperator() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "overlay-tenant-migration-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.db").path
        // The schema as it was before tenants, with a network and an admin token in it.
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v3-ipv4-egress")
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO networks (name, net_id, prefix, mtu) VALUES ('old', '0a1b2c3d', 'fd00:1:2::/48', 1420);
                        INSERT INTO admin_tokens (name, hash, created_at) VALUES ('ops', 'ab', 1);
                        """)
            }
        }
        chmod(path, 0o600)
        let c = try Controller(databasePath: path)
        #expect(try c.adminTokens().map(\.tenant) == [nil])
        #expect(try c.networkOwners().isEmpty)
        #expect(try c.networks().map(\.name) == ["old"])
        let acme = c.scoped(to: "acme")
        #expect(try acme.networks().isEmpty)
        #expect(throws: NotFoundError("network", "old")) { try acme.network(named: "old") }
        try acme.createNetwork(name: "new")
        #expect(try c.networkOwners() == ["new": "acme"])
        #expect(try acme.networks().map(\.name) == ["new"])
    }
}
