import Foundation
import HTTPTypes
import HummingbirdTesting
import OverlayController
import OverlayCrypto
import OverlayProtocol
import OverlayStore
import Testing

/// A database of its own on the test PostgreSQL server (OVERLAY_TEST_POSTGRES), dropped when
/// released. Without the variable the tests fail, unless OVERLAY_SKIP_POSTGRES=1.
final class ReplicaDatabase: Sendable {
    static let skipped = ProcessInfo.processInfo.environment["OVERLAY_SKIP_POSTGRES"] == "1"
    let location: PostgresLocation
    private let server: PostgresLocation

    init() throws {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["OVERLAY_TEST_POSTGRES"], !url.isEmpty else {
            throw MissingPostgres(
                "OVERLAY_TEST_POSTGRES is not set: run the tests through `make test` (it starts a throwaway "
                    + "PostgreSQL) or `netns-tests/lib/postgres.sh run swift test`, or set OVERLAY_SKIP_POSTGRES=1")
        }
        server = try PostgresLocation(parsing: url, password: env["PGPASSWORD"])
        var l = server
        l.database = "overlay_s_" + SecureRandom.hex(12)
        location = l
        try Store.createPostgresDatabase(l.database, server: server)
    }

    deinit { try? Store.dropPostgresDatabase(location.database, server: server) }
}

struct MissingPostgres: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

@Suite("Replicas on PostgreSQL", .enabled(if: !ReplicaDatabase.skipped, "OVERLAY_SKIP_POSTGRES=1"))
struct ReplicaTests {
    @Test("a change committed through one replica wakes exactly the affected long-polls on the other")
    func crossReplicaWake() async throws {
        let db = try ReplicaDatabase()
        let key = Ed25519Identity.generate()
        let a = try Harness(store: try Store(postgres: db.location), key: key)
        let b = try Harness(store: try Store(postgres: db.location), key: key)
        let idA = try a.joinedNode("a1")
        let idB = try a.joinedNode("b1")
        try a.controller.createNetwork(name: "net-a")
        try a.controller.createNetwork(name: "net-b")
        try a.controller.addWorkload(name: "wa", network: "net-a", node: "a1")
        try a.controller.addWorkload(name: "wb", network: "net-b", node: "b1")
        let revA = try #require(try b.controller.planRevision(node: "a1"))
        let revB = try #require(try b.controller.planRevision(node: "b1"))
        try await b.test { client in
            func poll(_ id: Ed25519Identity, _ node: String, after: Int64, wait: Int) async throws -> (
                TestResponse, Duration
            ) {
                let uri = "/v1/agent/plan?after=\(after)&wait=\(wait)"
                let start = ContinuousClock.now
                let r = try await client.execute(
                    uri: uri, method: .get, headers: signed(id, node: node, method: "GET", uri: uri))
                return (r, ContinuousClock.now - start)
            }
            async let pollA = poll(idA, "a1", after: revA, wait: 3)
            async let pollB = poll(idB, "b1", after: revB, wait: 25)
            let waitStart = ContinuousClock.now
            while b.server.longPollsInFlight < 2 && ContinuousClock.now - waitStart < .seconds(10) {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(b.server.longPollsInFlight == 2)
            // Written through replica a; b learns of it only through PostgreSQL.
            try a.controller.addWorkload(name: "wb2", network: "net-b", node: "b1")
            let (rb, tb) = try await pollB
            #expect(rb.status == .ok && tb < .seconds(15), "b1 waited \(tb) (\(rb.status))")
            let plan = try JSONDecoder().decode(SignedPlan.self, from: Data(rb.bytes))
            #expect(plan.revision > revB)
            let opened = try plan.open(controllerKey: key.publicKey, expectedNode: "b1")
            #expect(opened.networks.first?.workloads.map(\.name).sorted() == ["wb", "wb2"])
            let (ra, ta) = try await pollA
            #expect(ra.status == .noContent && ta >= .milliseconds(2900), "a1 answered \(ra.status) after \(ta)")
        }
    }

    @Test("a signed agent request accepted by one replica is refused as a replay by the other")
    func replayAcrossReplicas() async throws {
        let db = try ReplicaDatabase()
        let key = Ed25519Identity.generate()
        let a = try Harness(store: try Store(postgres: db.location), key: key)
        let b = try Harness(store: try Store(postgres: db.location), key: key)
        let id = try a.joinedNode("n1")
        let body = Array(
            try JSONEncoder().encode(AgentStatus(appliedRevision: 1, networks: [], errors: [], wireguard: "kernel")))
        let headers = signed(id, node: "n1", method: "POST", uri: AgentPaths.status, body: body)
        let first = try await a.test { client in
            try await client.execute(uri: AgentPaths.status, method: .post, headers: headers, body: buffer(body))
        }
        #expect(first.status == .noContent, "\(first.text)")
        let before = try b.store.dump()
        let replayed = try await b.test { client in
            try await client.execute(uri: AgentPaths.status, method: .post, headers: headers, body: buffer(body))
        }
        #expect(replayed.status == .unauthorized, "\(replayed.text)")
        #expect(replayed.error?.contains("already seen (replay)") == true, "\(replayed.text)")
        #expect(try b.store.dump() == before)
        // The agent's next report, with a fresh nonce, is taken by either replica.
        let nextBody = Array(
            try JSONEncoder().encode(AgentStatus(appliedRevision: 2, networks: [], errors: [], wireguard: "kernel")))
        let next = try await b.test { client in
            try await client.execute(
                uri: AgentPaths.status, method: .post,
                headers: signed(id, node: "n1", method: "POST", uri: AgentPaths.status, body: nextBody),
                body: buffer(nextBody))
        }
        #expect(next.status == .noContent, "\(next.text)")
        #expect(try a.controller.node(named: "n1").status?.status.appliedRevision == 2)
    }
}
