import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import OverlayStore
import OverlayTestSupport
import Testing

@testable import OverlayController

/// A controller on a fresh database (a SQLite file, or a PostgreSQL database of its own) with a
/// temporary directory for its files, removed afterwards.
final class TestDB {
    let engine: TestEngine
    let directory: URL
    /// What `--db` takes: the SQLite file, or the PostgreSQL URL.
    let path: String
    let controller: Controller
    /// Node name -> its identity, so tests can open the sealed keys.
    var identities: [String: Ed25519Identity] = [:]
    private let postgres: TestPostgres?

    init(_ engine: TestEngine = .sqlite) throws {
        self.engine = engine
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("overlay-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        switch engine {
        case .sqlite:
            postgres = nil
            path = directory.appendingPathComponent("state.db").path
            controller = try Controller(databasePath: path)
        case .postgres:
            let pg = try TestPostgres()
            postgres = pg
            path = pg.location.description
            controller = Controller(store: try Store(postgres: pg.location))
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    func dump() throws -> String { try controller.store.dump() }

    /// Adds a node with a fresh identity.
    @discardableResult
    func node(
        _ name: String, public address: String? = nil, hub: Bool = false, gateway: Bool = false,
        domain: String? = nil, region: String? = nil
    ) throws -> Node {
        let id = Ed25519Identity.generate()
        let n = try controller.addNode(
            .init(
                name: name, identity: id.publicKeyBase64, publicAddresses: address.map { [$0] } ?? [], region: region,
                hub: hub, gateway: gateway, domain: domain))
        identities[name] = id
        return n
    }

    /// Every node's plan with the revision field cleared, for "did it change" comparisons.
    /// Each network is planned once (what `Controller.plan(node:)` does per node, shared).
    func plansWithoutRevision() throws -> [String: NodePlan] {
        try controller.store.read { tx in
            let planned = try tx.networks().compactMap { try tx.snapshot(network: $0.name) }.map(PlannedNetwork.init)
            var out: [String: NodePlan] = [:]
            for node in try tx.nodes() {
                let mine = planned.filter { $0.topology.indexByName[node.name] != nil }
                out[node.name] = Planner.nodePlan(
                    node: node, revision: 0, networks: mine,
                    gatewayRoutes: try tx.gatewayRoutes(node: node.name))
            }
            return out
        }
    }
}

/// Runs `body`, expects it to throw, and checks that the error's text contains every one of
/// `mentions` and that the database is unchanged afterwards.
func expectRefused(
    _ db: TestDB, _ label: String, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Any
) throws {
    let before = try db.dump()
    do {
        let result = try body()
        Issue.record("\(label): accepted (gave \(result))", sourceLocation: sourceLocation)
    } catch {
        let text = "\(error)"
        for m in mentions {
            #expect(
                text.contains(m), "\(label): error '\(text)' does not mention '\(m)'", sourceLocation: sourceLocation)
        }
    }
    let after = try db.dump()
    if before != after {
        let b = Set(before.split(separator: "\n"))
        let a = Set(after.split(separator: "\n"))
        Issue.record(
            "\(label): the database changed; removed \(b.subtracting(a)), added \(a.subtracting(b))",
            sourceLocation: sourceLocation)
    }
}

extension Data {
    func contains(_ bytes: [UInt8]) -> Bool { !bytes.isEmpty && range(of: Data(bytes)) != nil }
}
