import Foundation
import OverlayCrypto
import OverlayModel
import OverlayStore
import Synchronization
import Testing

@testable import OverlayController

/// Several controller replicas on one PostgreSQL database, and the move from SQLite to it.
@Suite("PostgreSQL replicas", .enabled(if: TestEngine.all.contains(.postgres), "OVERLAY_SKIP_POSTGRES=1"))
struct PostgresReplicaTests {
    @Test("concurrent workload adds through two replicas' stores get distinct addresses, subnets and ports")
    func concurrentAdds() throws {
        let pg = try TestPostgres()
        let replicas = [
            Controller(store: try Store(postgres: pg.location)), Controller(store: try Store(postgres: pg.location)),
        ]
        let c = replicas[0]
        try c.createNetwork(name: "n", prefix: "fd12:3456:789a::/48")
        try c.createNetwork(name: "m", prefix: "fd12:3456:789b::/48")
        for i in 1...4 {
            try c.addNode(
                .init(
                    name: "h\(i)", identity: Ed25519Identity.generate().publicKeyBase64,
                    publicAddresses: ["192.0.2.\(i)"], region: nil, hub: false, gateway: false, domain: nil))
        }
        let count = 16
        let failures = Mutex<[String]>([])
        let added = Mutex<[(String, IPv6Address)]>([])
        // Threads of their own, as the controller's database executor runs store calls.
        let done = DispatchGroup()
        for i in 0..<count {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do {
                    let (w, address) = try replicas[i % 2].addWorkload(
                        name: "w\(i)", network: i % 4 == 3 ? "m" : "n", node: "h\(i % 4 + 1)")
                    added.withLock { $0.append((w.name, address)) }
                } catch {
                    failures.withLock { $0.append("w\(i): \(error)") }
                }
            }
        }
        #expect(done.wait(timeout: .now() + 120) == .success, "the concurrent adds did not finish in 120 s")
        #expect(failures.withLock { $0 } == [])
        let addresses = added.withLock { $0.map(\.1) }
        #expect(addresses.count == count)
        #expect(Set(addresses).count == count, "addresses handed out twice: \(addresses)")
        // What the store holds agrees with what each replica answered, on either replica.
        for (name, address) in added.withLock({ $0 }) {
            #expect(try replicas[1].workload(named: name).1 == address)
        }
        for network in ["n", "m"] {
            let members = try replicas[1].network(named: network).members
            #expect(Set(members.map(\.membership.subnetID)).count == members.count)
        }
        for node in 1...4 {
            let ports = try replicas[0].node(named: "h\(node)").memberships.map(\.listenPort)
            #expect(Set(ports).count == ports.count)
        }
    }

    @Test("a SQLite store copied into PostgreSQL dumps the same; a second copy into it is refused")
    func migrateFromSQLite() throws {
        let db = try TestDB(.sqlite)
        let c = db.controller
        try c.createNetwork(name: "n", prefix: "fd12:3456:789a::/48")
        try db.node("hub", public: "198.51.100.1", hub: true)
        try db.node("plain", public: "198.51.100.2")
        try db.node("hidden")
        try c.addWorkload(name: "a", network: "n", node: "plain", expose: ["tcp/80"])
        try c.addWorkload(name: "b", network: "n", node: "hidden")
        _ = try c.createAdminToken(name: "ops")
        let pg = try TestPostgres()
        let target = try Store(postgres: pg.location)
        try c.store.copy(to: target)
        let sqliteDump = try c.store.dump()
        #expect(sqliteDump.contains("workloads: "))
        #expect(try target.dump() == sqliteDump)
        // The copy carries on where SQLite left: new rows get fresh ids and the next revision.
        let moved = Controller(store: target)
        try moved.addWorkload(name: "c", network: "n", node: "plain")
        #expect(try moved.store.read { try $0.revision() } == (try c.store.read { try $0.revision() }) + 1)
        #expect(throws: StoreCopyError.targetNotEmpty) { try c.store.copy(to: target) }
    }
}
