import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayController

/// Every rejected command names the bad value and leaves the database as it was.
@Suite("Bad input")
struct BadInputTests {
    /// A populated database: two networks, a hub, a plain node, a hidden node, two gateways,
    /// workloads, an access peer and a gateway route.
    static func fixture(_ engine: TestEngine) throws -> TestDB {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "alpha", prefix: "fd12:3456:789a::/48")
        try c.createNetwork(name: "beta")
        try db.node("hub1", public: "198.51.100.1", hub: true)
        try db.node("plain", public: "198.51.100.2")
        try db.node("hidden")
        try db.node("gw", public: "198.51.100.3", gateway: true, domain: "apps.example.com")
        try db.node("gw2", public: "198.51.100.4", gateway: true, domain: "other.example.net")
        try c.addWorkload(name: "web", network: "alpha", node: "plain", expose: ["tcp/80"])
        try c.addWorkload(name: "api", network: "alpha", node: "hidden", namespace: "api-ns")
        try c.addWorkload(name: "db", network: "beta", node: "plain", expose: ["tcp/5432"])
        _ = try c.addAccessPeer(name: "phone", network: "alpha")
        try c.addGatewayRoute(.init(name: "site", node: "gw", label: "site", backends: ["web:80"]))
        return db
    }

    @Test("networks", arguments: TestEngine.all)
    func networks(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        try expectRefused(db, "bad name", mentions: ["'Bad_Name'", "network name", "1-63 characters"]) {
            try c.createNetwork(name: "Bad_Name")
        }
        try expectRefused(db, "not /48", mentions: ["'fd12:3456:789b::/64'", "/48"]) {
            try c.createNetwork(name: "n1", prefix: "fd12:3456:789b::/64")
        }
        try expectRefused(db, "not ULA", mentions: ["'2001:db8::/48'", "fd00::/8"]) {
            try c.createNetwork(name: "n1", prefix: "2001:db8::/48")
        }
        try expectRefused(db, "fc00::/7 but not fd", mentions: ["'fc12:3456:789a::/48'"]) {
            try c.createNetwork(name: "n1", prefix: "fc12:3456:789a::/48")
        }
        try expectRefused(db, "host bits", mentions: ["'fd12:3456:789b::1/48'", "host bits zero"]) {
            try c.createNetwork(name: "n1", prefix: "fd12:3456:789b::1/48")
        }
        try expectRefused(db, "garbage prefix", mentions: ["'fd12::zz/48'"]) {
            try c.createNetwork(name: "n1", prefix: "fd12::zz/48")
        }
        try expectRefused(db, "mtu", mentions: ["'1279'", "1280 to 9000"]) {
            try c.createNetwork(name: "n1", mtu: 1279)
        }
        try expectRefused(db, "duplicate name", mentions: ["'alpha'", "already exists"]) {
            try c.createNetwork(name: "alpha")
        }
        try expectRefused(db, "duplicate prefix", mentions: ["fd12:3456:789a::/48", "already used"]) {
            try c.createNetwork(name: "n1", prefix: "fd12:3456:789a::/48")
        }
        try expectRefused(db, "delete unknown", mentions: ["network", "'nope'"]) { try c.deleteNetwork(name: "nope") }
        try expectRefused(db, "attach unknown network", mentions: ["network", "'nope'"]) {
            try c.attach(network: "nope", node: "plain")
        }
        try expectRefused(db, "attach unknown node", mentions: ["node", "'ghost'"]) {
            try c.attach(network: "alpha", node: "ghost")
        }
        try expectRefused(db, "detach unknown node", mentions: ["node", "'ghost'"]) {
            try c.detach(network: "alpha", node: "ghost")
        }
        try expectRefused(db, "graph unknown", mentions: ["'nope'"]) { try c.graph(network: "nope") }
    }

    @Test("nodes", arguments: TestEngine.all)
    func nodes(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        let id = Ed25519Identity.generate().publicKeyBase64
        let hubIdentity = try c.node(named: "hub1").node.identityBase64
        func add(_ s: Controller.NodeSpec) throws -> Node { try c.addNode(s) }
        try expectRefused(db, "bad name", mentions: ["'Node1'", "node name"]) {
            try add(.init(name: "Node1", identity: id))
        }
        try expectRefused(db, "short identity", mentions: ["'AAAA'", "identity", "32 bytes"]) {
            try add(.init(name: "n1", identity: "AAAA"))
        }
        try expectRefused(db, "non-base64 identity", mentions: ["'not a key!'"]) {
            try add(.init(name: "n1", identity: "not a key!"))
        }
        for bad in ["127.0.0.1", "fe80::1", "fd00::1", "ff02::1", "0.0.0.0", "1.2.3", "198.51.100.9:51820"] {
            try expectRefused(db, "public address \(bad)", mentions: ["'\(bad)'", "public address"]) {
                try add(.init(name: "n1", identity: id, publicAddresses: [bad]))
            }
        }
        try expectRefused(db, "same address twice", mentions: ["'192.0.2.7'", "each address once"]) {
            try add(.init(name: "n1", identity: id, publicAddresses: ["192.0.2.7", "192.0.2.7"]))
        }
        for bad in ["100-10", "0-10", "1-70000", "51820", "a-b"] {
            try expectRefused(db, "port range \(bad)", mentions: ["'\(bad)'", "listen ports"]) {
                try add(.init(name: "n1", identity: id, publicAddresses: ["192.0.2.7"], listenPorts: bad))
            }
        }
        try expectRefused(db, "region", mentions: ["'EU West'", "region"]) {
            try add(.init(name: "n1", identity: id, region: "EU West"))
        }
        try expectRefused(db, "hub without public address", mentions: ["hub", "'n1'", "--public-address"]) {
            try add(.init(name: "n1", identity: id, hub: true))
        }
        try expectRefused(db, "gateway without domain", mentions: ["gateway", "'n1'", "--domain"]) {
            try add(.init(name: "n1", identity: id, publicAddresses: ["192.0.2.7"], gateway: true))
        }
        try expectRefused(db, "gateway without address", mentions: ["'n1'", "--public-address"]) {
            try add(.init(name: "n1", identity: id, gateway: true, domain: "x.example.com"))
        }
        try expectRefused(db, "bad domain", mentions: ["'example'", "domain"]) {
            try add(.init(name: "n1", identity: id, publicAddresses: ["192.0.2.7"], gateway: true, domain: "example"))
        }
        try expectRefused(db, "domain without gateway", mentions: ["'x.example.com'", "--gateway"]) {
            try add(.init(name: "n1", identity: id, domain: "x.example.com"))
        }
        try expectRefused(db, "duplicate name", mentions: ["'plain'", "already exists"]) {
            try add(.init(name: "plain", identity: id))
        }
        try expectRefused(db, "duplicate identity", mentions: [hubIdentity, "'hub1'"]) {
            try add(.init(name: "n1", identity: hubIdentity))
        }
        try expectRefused(db, "duplicate domain", mentions: ["'apps.example.com'", "'gw'"]) {
            try add(
                .init(
                    name: "n1", identity: id, publicAddresses: ["192.0.2.7"], gateway: true, domain: "Apps.Example.com")
            )
        }
        try expectRefused(db, "remove unknown", mentions: ["node", "'ghost'"]) { try c.removeNode(name: "ghost") }
        try expectRefused(db, "remove a node hosting workloads", mentions: ["'plain'", "workloads", "db", "web"]) {
            try c.removeNode(name: "plain")
        }
        try expectRefused(db, "remove a hub access peers dial", mentions: ["'hub1'", "phone"]) {
            try c.removeNode(name: "hub1")
        }
        try expectRefused(db, "remove a gateway with routes", mentions: ["'gw'", "site"]) {
            try c.removeNode(name: "gw")
        }
        try expectRefused(db, "plan of unknown node", mentions: ["'ghost'"]) { try c.plan(node: "ghost") }
    }

    @Test("workloads", arguments: TestEngine.all)
    func workloads(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        try expectRefused(db, "bad name", mentions: ["'Web'", "workload name"]) {
            try c.addWorkload(name: "Web", network: "alpha", node: "plain")
        }
        try expectRefused(db, "bad netns", mentions: ["'../etc'", "netns"]) {
            try c.addWorkload(name: "w1", network: "alpha", node: "plain", namespace: "../etc")
        }
        for (bad, named) in [
            ("tcp/0", "'0'"), ("tcp/65536", "'65536'"), ("icmp/1", "'icmp/1'"), ("80", "'80'"), ("tcp/08", "'08'"),
        ] {
            try expectRefused(db, "expose \(bad)", mentions: [named, "port"]) {
                try c.addWorkload(name: "w1", network: "alpha", node: "plain", expose: [bad])
            }
        }
        try expectRefused(db, "unknown network", mentions: ["network", "'gamma'"]) {
            try c.addWorkload(name: "w1", network: "gamma", node: "plain")
        }
        try expectRefused(db, "unknown node", mentions: ["node", "'ghost'"]) {
            try c.addWorkload(name: "w1", network: "alpha", node: "ghost")
        }
        try expectRefused(db, "duplicate name", mentions: ["'web'", "already exists"]) {
            try c.addWorkload(name: "web", network: "beta", node: "hub1")
        }
        try expectRefused(db, "namespace taken on the node", mentions: ["'api-ns'", "'hidden'", "'api'"]) {
            try c.addWorkload(name: "w1", network: "beta", node: "hidden", namespace: "api-ns")
        }
        try expectRefused(db, "remove unknown", mentions: ["workload", "'ghost'"]) {
            try c.removeWorkload(name: "ghost")
        }
        try expectRefused(db, "remove a gateway backend", mentions: ["'web'", "site"]) {
            try c.removeWorkload(name: "web")
        }
        try expectRefused(db, "show unknown", mentions: ["'ghost'"]) { try c.workload(named: "ghost") }
    }

    @Test("access peers", arguments: TestEngine.all)
    func access(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        let memberKey = try c.node(named: "plain").memberships[0].publicKey.base64
        let phoneKey = try c.accessPeers()[0].publicKey.base64
        let fresh = X25519.generateKeyPair().publicKey.base64
        try expectRefused(db, "bad name", mentions: ["'Phone 2'", "access peer name"]) {
            try c.addAccessPeer(name: "Phone 2", network: "alpha")
        }
        for bad in ["abc", String(fresh.dropLast()), fresh.replacingOccurrences(of: "=", with: "A"), fresh + "="] {
            try expectRefused(db, "key \(bad)", mentions: ["'\(bad)'", "public key", "44 characters"]) {
                try c.addAccessPeer(name: "p2", network: "alpha", publicKey: bad)
            }
        }
        try expectRefused(db, "key of a membership", mentions: [memberKey, "already in use"]) {
            try c.addAccessPeer(name: "p2", network: "alpha", publicKey: memberKey)
        }
        try expectRefused(db, "key of another access peer", mentions: [phoneKey, "already in use"]) {
            try c.addAccessPeer(name: "p2", network: "beta", publicKey: phoneKey)
        }
        try expectRefused(db, "hub that is not a hub", mentions: ["'plain'", "--hub"]) {
            try c.addAccessPeer(name: "p2", network: "alpha", publicKey: fresh, hub: "plain")
        }
        try expectRefused(db, "unknown hub", mentions: ["node", "'ghost'"]) {
            try c.addAccessPeer(name: "p2", network: "alpha", publicKey: fresh, hub: "ghost")
        }
        try expectRefused(db, "unknown network", mentions: ["network", "'gamma'"]) {
            try c.addAccessPeer(name: "p2", network: "gamma", publicKey: fresh)
        }
        try expectRefused(db, "duplicate name", mentions: ["'phone'", "already exists"]) {
            try c.addAccessPeer(name: "phone", network: "alpha", publicKey: fresh)
        }
        try expectRefused(db, "remove unknown", mentions: ["access peer", "'ghost'"]) {
            try c.removeAccessPeer(name: "ghost")
        }
    }

    @Test("gateway routes", arguments: TestEngine.all)
    func gateways(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        typealias Spec = Controller.GatewaySpec
        func add(_ s: Spec) throws -> GatewayRoute { try c.addGatewayRoute(s) }
        try expectRefused(db, "bad route name", mentions: ["'Site2'", "route name"]) {
            try add(Spec(name: "Site2", node: "gw", label: "s2", backends: ["web:80"]))
        }
        try expectRefused(db, "no match", mentions: ["'r2'", "exactly one of"]) {
            try add(Spec(name: "r2", node: "gw", backends: ["web:80"]))
        }
        try expectRefused(db, "two matches", mentions: ["'r2'", "exactly one of"]) {
            try add(Spec(name: "r2", node: "gw", label: "x", tcp: "8080", backends: ["web:80"]))
        }
        try expectRefused(db, "bad label", mentions: ["'a_b'"]) {
            try add(Spec(name: "r2", node: "gw", label: "a_b", backends: ["web:80"]))
        }
        try expectRefused(db, "bad fqdn", mentions: ["'localhost'", "fqdn"]) {
            try add(Spec(name: "r2", node: "gw", fqdn: "localhost", backends: ["web:80"]))
        }
        try expectRefused(db, "bad tcp port", mentions: ["'0'", "tcp port"]) {
            try add(Spec(name: "r2", node: "gw", tcp: "0", backends: ["web:80"]))
        }
        try expectRefused(db, "tls passthrough on tcp", mentions: ["'r2'", "tls-passthrough"]) {
            try add(Spec(name: "r2", node: "gw", tcp: "8443", backends: ["web:80"], tlsPassthrough: true))
        }
        try expectRefused(db, "no backends", mentions: ["backend", "at least one"]) {
            try add(Spec(name: "r2", node: "gw", label: "x", backends: []))
        }
        try expectRefused(db, "backend without port", mentions: ["'web'", "WORKLOAD:PORT"]) {
            try add(Spec(name: "r2", node: "gw", label: "x", backends: ["web"]))
        }
        try expectRefused(db, "backend bad port", mentions: ["'99999'", "backend port"]) {
            try add(Spec(name: "r2", node: "gw", label: "x", backends: ["web:99999"]))
        }
        try expectRefused(db, "unknown workload", mentions: ["workload", "'ghost'"]) {
            try add(Spec(name: "r2", node: "gw", label: "x", backends: ["ghost:80"]))
        }
        try expectRefused(db, "unknown node", mentions: ["node", "'nowhere'"]) {
            try add(Spec(name: "r2", node: "nowhere", label: "x", backends: ["web:80"]))
        }
        try expectRefused(db, "not a gateway", mentions: ["'plain'", "--gateway"]) {
            try add(Spec(name: "r2", node: "plain", label: "x", backends: ["web:80"]))
        }
        try expectRefused(db, "port not exposed", mentions: ["'web:8080'", "tcp/80", "--expose tcp/8080"]) {
            try add(Spec(name: "r2", node: "gw", label: "x", backends: ["web:8080"]))
        }
        try expectRefused(db, "udp port not exposed", mentions: ["'web:80'", "udp/80"]) {
            try add(Spec(name: "r2", node: "gw", udp: "5353", backends: ["web:80"]))
        }
        try expectRefused(db, "backends in two networks", mentions: ["'db:5432'", "one network"]) {
            try add(Spec(name: "r2", node: "gw", label: "x", backends: ["web:80", "db:5432"]))
        }
        try expectRefused(db, "duplicate route name", mentions: ["'site'", "already exists"]) {
            try add(Spec(name: "site", node: "gw", label: "other", backends: ["web:80"]))
        }
        try expectRefused(db, "duplicate host", mentions: ["'site.apps.example.com'", "'site'"]) {
            try add(Spec(name: "r2", node: "gw", fqdn: "site.apps.example.com", backends: ["web:80"]))
        }
        try expectRefused(
            db, "fqdn under another gateway's domain",
            mentions: ["'www.other.example.net'", "'gw2'", "other.example.net"]
        ) {
            try add(Spec(name: "r2", node: "gw", fqdn: "www.other.example.net", backends: ["web:80"]))
        }
        try expectRefused(db, "fqdn equal to another gateway's domain", mentions: ["'other.example.net'", "'gw2'"]) {
            try add(Spec(name: "r2", node: "gw", fqdn: "Other.Example.NET", backends: ["web:80"]))
        }
        try expectRefused(db, "remove unknown", mentions: ["gateway route", "'ghost'"]) {
            try c.removeGatewayRoute(name: "ghost")
        }

        // The same port twice on one gateway.
        try add(Spec(name: "raw", node: "gw", tcp: "8080", backends: ["web:80"]))
        try expectRefused(db, "port mapped twice", mentions: ["tcp/8080", "'gw'", "already mapped"]) {
            try add(Spec(name: "raw2", node: "gw", tcp: "8080", backends: ["web:80"]))
        }
    }

    @Test(
        "a hidden node with no hub anywhere is refused with the topology error, and nothing is stored",
        arguments: TestEngine.all)
    func hiddenWithoutHub(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        try db.controller.createNetwork(name: "solo")
        try db.node("behind-nat")
        try expectRefused(db, "hidden without hubs", mentions: ["'solo'", "behind-nat", "no hub"]) {
            try db.controller.addWorkload(name: "w", network: "solo", node: "behind-nat")
        }
    }
}

@Suite("The refusal checker itself")
struct ExpectRefusedTests {
    struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }

    @Test("it reports an accepted command, a missing mention and a changed database", arguments: TestEngine.all)
    func catchesProblems(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        withKnownIssue("an accepted command") {
            try expectRefused(db, "accepted", mentions: []) { try db.controller.createNetwork(name: "fine") }
        }
        withKnownIssue("the error does not name the value") {
            try expectRefused(db, "wrong text", mentions: ["'zzz'"]) { try db.controller.createNetwork(name: "Bad") }
        }
        withKnownIssue("a refused command that changed the database") {
            try expectRefused(db, "half done", mentions: ["boom"]) {
                try db.controller.createNetwork(name: "half")
                throw Boom()
            }
        }
    }
}
