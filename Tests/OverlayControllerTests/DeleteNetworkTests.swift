import Foundation
import OverlayModel
import Testing

@testable import OverlayController

/// Deleting a network takes everything in it along (memberships, workloads, access peers, the
/// gateway routes into it) and nothing outside it; an unknown network changes nothing.
@Suite("Delete network")
struct DeleteNetworkTests {
    /// Two networks with every kind of dependent object: `alpha` has workloads on a public and a
    /// hidden node (so a hub relays), an access peer, an explicit member and a gateway route;
    /// `beta` has a workload, a TCP gateway route on the same gateway, and a pinned hub.
    static func fixture(_ engine: TestEngine) throws -> TestDB {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "alpha", prefix: "fd12:3456:789a::/48")
        try c.createNetwork(name: "beta", prefix: "fd12:3456:789b::/48")
        try db.node("hub1", public: "198.51.100.1", hub: true)
        try db.node("plain", public: "198.51.100.2")
        try db.node("hidden")
        try db.node("spare", public: "198.51.100.5")
        try db.node("gw", public: "198.51.100.3", gateway: true, domain: "apps.example.com")
        try c.addWorkload(name: "web", network: "alpha", node: "plain", expose: ["tcp/80"])
        try c.addWorkload(name: "api", network: "alpha", node: "hidden", namespace: "api-ns")
        try c.addWorkload(name: "db", network: "beta", node: "plain", expose: ["tcp/5432"])
        _ = try c.addAccessPeer(name: "phone", network: "alpha")
        try c.attach(network: "alpha", node: "spare")
        try c.attach(network: "beta", node: "hub1")
        try c.addGatewayRoute(.init(name: "site", node: "gw", label: "site", backends: ["web:80"]))
        try c.addGatewayRoute(.init(name: "pg", node: "gw", tcp: "5432", backends: ["db:5432"]))
        return db
    }

    /// The dump's rows that refer to network row `id` (by `network_id`) or are that network.
    static func rows(of db: TestDB, network name: String) throws -> [String] {
        let dump = try db.dump().split(separator: "\n").map(String.init)
        guard let row = dump.first(where: { $0.hasPrefix("networks: ") && $0.contains("name='\(name)'") }),
            let id = row.split(separator: ",").first?.split(separator: "=").last
        else { return [] }
        return dump.filter { $0.contains("network_id=\(id),") || $0.hasSuffix("network_id=\(id)") } + [row]
    }

    @Test("a network with workloads, access peers, members and a gateway route into it", arguments: TestEngine.all)
    func deletesEverythingInIt(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        let betaBefore = try Self.rows(of: db, network: "beta")
        let betaPlans = try db.plansWithoutRevision().mapValues { $0.networks.filter { $0.name == "beta" } }
        #expect(try Self.rows(of: db, network: "alpha").count > 1)

        let change = try c.deleteNetwork(name: "alpha")

        #expect(try c.networks().map(\.name) == ["beta"])
        #expect(try c.workloads().map(\.name) == ["db"])
        #expect(try c.accessPeers().isEmpty)
        #expect(try c.gatewayRoutes().map(\.name) == ["pg"], "the route into alpha goes, the one into beta stays")
        #expect(try Self.rows(of: db, network: "alpha").isEmpty)
        #expect(try Self.rows(of: db, network: "beta") == betaBefore, "nothing of beta changed")
        #expect(try db.plansWithoutRevision().mapValues { $0.networks.filter { $0.name == "beta" } } == betaPlans)
        // Every former member and the gateway that lost a route get new plans.
        #expect(Set(change.touchedNodes).isSuperset(of: ["hub1", "plain", "hidden", "spare", "gw"]))
        for node in ["hub1", "plain", "hidden", "spare", "gw"] {
            #expect(try c.plan(node: node).networks.allSatisfy { $0.name != "alpha" }, "\(node) still plans alpha")
        }
        #expect(try c.plan(node: "gw").gateway?.routes.map(\.name) == ["pg"])

        // Nothing was left behind: the same names can be used again.
        try c.createNetwork(name: "alpha", prefix: "fd12:3456:789a::/48")
        try c.addWorkload(name: "web", network: "alpha", node: "plain", expose: ["tcp/80"])
        try c.addWorkload(name: "api", network: "alpha", node: "hidden", namespace: "api-ns")
        _ = try c.addAccessPeer(name: "phone", network: "alpha")
        try c.addGatewayRoute(.init(name: "site", node: "gw", label: "site", backends: ["web:80"]))
    }

    @Test(
        "a network whose gateway route shares the gateway with a route into another network", arguments: TestEngine.all)
    func deletesTheOtherNetwork(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        let alphaBefore = try Self.rows(of: db, network: "alpha")

        try c.deleteNetwork(name: "beta")

        #expect(try c.networks().map(\.name) == ["alpha"])
        #expect(try c.workloads().map(\.name) == ["api", "web"])
        #expect(try c.accessPeers().map(\.name) == ["phone"])
        #expect(try c.gatewayRoutes().map(\.name) == ["site"])
        #expect(try Self.rows(of: db, network: "beta").isEmpty)
        #expect(try Self.rows(of: db, network: "alpha") == alphaBefore)
        #expect(try c.plan(node: "gw").gateway?.routes.map(\.name) == ["site"])
    }

    @Test("a network with only workloads while a gateway route into another network exists", arguments: TestEngine.all)
    func workloadsOnlyWithRoutesElsewhere(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        try c.createNetwork(name: "gamma", prefix: "fd12:3456:789c::/48")
        try c.addWorkload(name: "batch", network: "gamma", node: "plain")

        try c.deleteNetwork(name: "gamma")

        #expect(try c.networks().map(\.name) == ["alpha", "beta"])
        #expect(try c.workloads().map(\.name) == ["api", "db", "web"])
        #expect(try c.gatewayRoutes().map(\.name) == ["pg", "site"])
    }

    @Test("an empty network, and an unknown one (refused, nothing changes)", arguments: TestEngine.all)
    func emptyAndUnknown(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        try c.createNetwork(name: "empty")
        try c.deleteNetwork(name: "empty")
        #expect(try c.networks().map(\.name) == ["alpha", "beta"])
        try expectRefused(db, "unknown network", mentions: ["network", "'nope'"]) { try c.deleteNetwork(name: "nope") }
        try expectRefused(db, "deleted network", mentions: ["network", "'empty'"]) {
            try c.deleteNetwork(name: "empty")
        }
    }
}
