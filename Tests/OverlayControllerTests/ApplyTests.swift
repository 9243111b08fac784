import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayController

@Suite("Topology file")
struct ApplyTests {
    static func yaml(_ ids: [String: String], laptop: String) -> String {
        """
        networks:
          - name: shop
            prefix: fd12:3456:789a::/48
          - name: lab
            mtu: 1380
        nodes:
          - name: hub1
            identity: "\(ids["hub1"]!)"
            publicAddresses: ["198.51.100.1"]
            hub: true
            region: eu
          - name: edge
            identity: "\(ids["edge"]!)"
            publicAddresses: ["198.51.100.2", "2001:db8::2"]
            listenPorts: 40000-40010
          - name: home
            identity: "\(ids["home"]!)"
          - name: gw
            identity: "\(ids["gw"]!)"
            publicAddresses: ["198.51.100.3"]
            gateway: true
            domain: apps.example.com
        workloads:
          - name: web
            network: shop
            node: edge
            expose: [tcp/80, tcp/443]
          - name: worker
            network: shop
            node: home
            netns: wl-worker2
          - name: scratch
            network: lab
            node: edge
        access:
          - name: laptop
            network: shop
            publicKey: "\(laptop)"
            hub: hub1
        gateways:
          - name: site
            node: gw
            host: site
            backends: ["web:80"]
          - name: secure
            node: gw
            fqdn: shop.example.org
            tlsPassthrough: true
            backends: ["web:443"]

        """
    }

    static func file() throws -> (TopologyFile, text: String) {
        var ids: [String: String] = [:]
        for n in ["hub1", "edge", "home", "gw"] { ids[n] = Ed25519Identity.generate().publicKeyBase64 }
        let text = yaml(ids, laptop: X25519.generateKeyPair().publicKey.base64)
        return (try TopologyFile.parse(text), text)
    }

    static func planRevisions(_ c: Controller) throws -> [String: Int64] {
        Dictionary(uniqueKeysWithValues: try c.nodes().map { ($0.name, try c.node(named: $0.name).planRevision) })
    }

    @Test("apply creates everything; re-applying changes nothing", arguments: TestEngine.all)
    func applyTwice(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        let (file, _) = try Self.file()
        let first = try c.apply(file, dryRun: false)
        #expect(!first.dryRun)
        #expect(
            first.created.sorted() == [
                "access peer laptop", "gateway route secure", "gateway route site", "network lab", "network shop",
                "node edge", "node gw", "node home", "node hub1", "workload scratch", "workload web", "workload worker",
            ])
        #expect(
            Set(first.nodes.keys) == ["edge", "gw", "home", "hub1"], "every node's plan changed: \(first.nodes.keys)")
        #expect(first.revision == (try c.revision()))
        #expect(try c.networks().map(\.name) == ["lab", "shop"])
        #expect(try c.network(named: "lab").network.mtu == 1380)
        #expect(try c.network(named: "shop").network.prefix.description == "fd12:3456:789a::/48")
        #expect(try c.workload(named: "worker").0.namespace == "wl-worker2")
        #expect(try c.node(named: "edge").memberships.map(\.listenPort).sorted() == [40000, 40001])
        #expect(try c.gatewayRoutes().map(\.name) == ["secure", "site"])
        // The hidden node pulled the hub into its network as relay.
        #expect(try c.network(named: "shop").members.map(\.node.name).contains("hub1"))

        let revision = try c.revision()
        let dump = try db.dump()
        let plans = try db.plansWithoutRevision()
        let planRevisions = try Self.planRevisions(c)
        let second = try c.apply(file, dryRun: false)
        #expect(second.created.isEmpty, "re-apply created \(second.created)")
        #expect(second.nodes.isEmpty, "re-apply changed plans: \(second.nodes)")
        #expect(try c.revision() == revision, "re-applying the same file took a new revision")
        #expect(try Self.planRevisions(c) == planRevisions, "re-applying bumped plan revisions")
        #expect(try db.plansWithoutRevision() == plans)
        #expect(try db.dump() == dump, "re-applying changed the database")
        for (name, plan) in plans {
            var withRevision = try c.plan(node: name)
            withRevision.revision = 0
            #expect(PlanDelta(from: plan, to: withRevision).isEmpty, "\(name): re-apply gives a non-empty delta")
        }
    }

    @Test("--dry-run reports what would change and changes nothing", arguments: TestEngine.all)
    func dryRun(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        let (file, _) = try Self.file()
        let before = try db.dump()
        let report = try c.apply(file, dryRun: true)
        #expect(report.dryRun)
        #expect(report.revision == nil)
        #expect(report.created.count == 12)
        #expect(report.nodes["edge"]?.networksAdded.sorted() == ["lab", "shop"])
        #expect(try db.dump() == before, "a dry run changed the database")
        #expect(try c.networks().isEmpty)

        // After a real apply, a dry run of the same file has nothing to report, and still changes nothing.
        _ = try c.apply(file, dryRun: false)
        let applied = try db.dump()
        let again = try c.apply(file, dryRun: true)
        #expect(again.created.isEmpty && again.nodes.isEmpty, "\(again.created) \(again.nodes)")
        #expect(try db.dump() == applied)
    }

    @Test("a dry run of a change reports the per-node deltas", arguments: TestEngine.all)
    func dryRunDelta(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        let (file, _) = try Self.file()
        _ = try c.apply(file, dryRun: false)
        let id = Ed25519Identity.generate().publicKeyBase64
        let more = try TopologyFile.parse(
            """
            nodes:
              - name: extra
                identity: "\(id)"
                publicAddresses: ["198.51.100.9"]
            workloads:
              - name: extra-web
                network: shop
                node: extra
            """)
        let before = try db.dump()
        let r = try c.apply(more, dryRun: true)
        #expect(r.created == ["node extra", "workload extra-web"])
        // Every non-hidden member of shop gets exactly the newcomer as a new peer.
        for name in ["edge", "hub1", "gw"] {
            #expect(r.nodes[name]?.peersAdded == 1, "\(name): \(String(describing: r.nodes[name]))")
            #expect(r.nodes[name]?.peersChanged == 0)
        }
        #expect(r.nodes["home"] == nil, "the hidden member does not peer with a non-hub newcomer")
        #expect(r.nodes["extra"]?.networksAdded == ["shop"])
        #expect(try db.dump() == before)
    }

    @Test("a file that conflicts with the store is refused and changes nothing", arguments: TestEngine.all)
    func conflicts(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let (file, text) = try Self.file()
        _ = try db.controller.apply(file, dryRun: false)
        let changed = try TopologyFile.parse(text.replacingOccurrences(of: "mtu: 1380", with: "mtu: 1400"))
        try expectRefused(db, "other mtu", mentions: ["'lab'", "1380", "1400"]) {
            try db.controller.apply(changed, dryRun: false)
        }
        let moved = try TopologyFile.parse(text.replacingOccurrences(of: "node: home", with: "node: hub1"))
        try expectRefused(db, "moved workload", mentions: ["'worker'", "other settings"]) {
            try db.controller.apply(moved, dryRun: false)
        }
        // Part of a file valid, part invalid: nothing of it is kept.
        let partial = try TopologyFile.parse(
            """
            networks:
              - name: fresh
            workloads:
              - name: bad
                network: fresh
                node: nobody
            """)
        try expectRefused(db, "partial file", mentions: ["node", "'nobody'"]) {
            try db.controller.apply(partial, dryRun: false)
        }
    }

    @Test(
        "unknown keys are refused, naming the key",
        arguments: [
            ("netwroks: []\n", "netwroks"),
            ("networks:\n  - name: a\n    prefx: fd00::/48\n", "networks[0].prefx"),
            ("nodes:\n  - name: a\n    identity: x\n  - name: b\n    identity: y\n    hubb: true\n", "nodes[1].hubb"),
            ("gateways:\n  - name: g\n    node: n\n    backends: []\n    tls: true\n", "gateways[0].tls"),
        ])
    func unknownKeys(text: String, key: String) {
        #expect {
            try TopologyFile.parse(text)
        } throws: { error in
            guard let e = error as? ValidationError else { return false }
            return e.value == key && e.description.contains("'\(key)'") && e.field == "topology file key"
        }
    }

    @Test("malformed files are refused with the path of the problem")
    func malformed() {
        let cases: [(String, String)] = [
            ("networks:\n  - prefix: fd00::/48\n", "networks[0].name"),
            ("networks:\n  - name: a\n    mtu: big\n", "networks[0].mtu"),
            ("[1, 2]\n", "top level"),
            ("networks: [\n", "valid YAML"),
        ]
        for (text, mention) in cases {
            do {
                _ = try TopologyFile.parse(text)
                Issue.record("accepted:\n\(text)")
            } catch {
                #expect("\(error)".contains(mention), "'\(error)' does not mention \(mention)")
            }
        }
    }
}
