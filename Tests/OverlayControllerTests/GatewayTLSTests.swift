import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayController

/// TLS termination: the operator's certificate and key are checked, the key is sealed to the
/// gateway node (never in the database in clear) and only that node can open it from its plan.
@Suite("Gateway TLS", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct GatewayTLSTests {
    /// A self-signed certificate for `host` and its key (PEM), made by openssl in `dir`.
    static func pair(_ host: String, in dir: URL, name: String) throws -> (cert: String, key: String) {
        let cert = dir.appendingPathComponent("\(name).crt").path
        let key = dir.appendingPathComponent("\(name).key").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=\(host)", "-addext", "subjectAltName=DNS:\(host)", "-keyout", key, "-out", cert,
        ]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return (try String(contentsOfFile: cert, encoding: .utf8), try String(contentsOfFile: key, encoding: .utf8))
    }

    static func fixture(_ engine: TestEngine) throws -> TestDB {
        let db = try TestDB(engine)
        try db.controller.createNetwork(name: "alpha")
        try db.node("plain", public: "198.51.100.2")
        try db.node("gw", public: "198.51.100.3", gateway: true, domain: "apps.example.com")
        try db.controller.addWorkload(name: "web", network: "alpha", node: "plain", expose: ["tcp/80", "udp/53"])
        return db
    }

    @Test(
        "a certificate and its key: sealed to the gateway, carried in its plan, never in clear",
        arguments: TestEngine.all)
    func accepted(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let (cert, key) = try Self.pair("site.apps.example.com", in: db.directory, name: "site")
        let r = try db.controller.addGatewayRoute(
            .init(
                name: "site", node: "gw", label: "site", backends: ["web:80"], certificate: cert,
                key: SecretKey(copying: Array(key.utf8))))
        #expect(r.tls?.certificate.contains("BEGIN CERTIFICATE") == true)
        let dump = try db.dump()
        #expect(!dump.contains("PRIVATE KEY"))
        if engine == .sqlite {
            let raw = try Data(contentsOf: URL(fileURLWithPath: db.path))
            #expect(raw.range(of: Data("PRIVATE KEY".utf8)) == nil)
        }
        let plan = try db.controller.plan(node: "gw")
        let route = try #require(plan.gateway?.routes.first)
        #expect(plan.hostFirewall.gatewayTCPPorts == [443])
        let tls = try #require(route.tls)
        let box = try #require(Data(base64Encoded: tls.sealedKey))
        let opened = try SealedBox.open(Array(box), with: try #require(db.identities["gw"]))
        #expect(opened.withBytes { Array($0) } == Array(key.utf8))
        #expect(throws: (any Error).self) { try SealedBox.open(Array(box), with: Ed25519Identity.generate()) }
    }

    @Test("bad certificates and keys are refused by name", arguments: TestEngine.all)
    func refused(_ engine: TestEngine) throws {
        let db = try Self.fixture(engine)
        let c = db.controller
        let (cert, key) = try Self.pair("site.apps.example.com", in: db.directory, name: "site")
        let (_, otherKey) = try Self.pair("site.apps.example.com", in: db.directory, name: "other")
        typealias Spec = Controller.GatewaySpec
        func spec(_ label: String = "site", cert: String?, key: String?, tcp: String? = nil) -> Spec {
            var s = Spec(
                name: "r", node: "gw", label: tcp == nil ? label : nil, tcp: tcp, backends: ["web:80"],
                certificate: cert, key: key.map { SecretKey(copying: Array($0.utf8)) })
            s.certificateFile = "site.crt"
            s.keyFile = "site.key"
            return s
        }
        try expectRefused(db, "key of another certificate", mentions: ["'site.key'", "private key of the certificate"])
        {
            try c.addGatewayRoute(spec(cert: cert, key: otherKey))
        }
        try expectRefused(db, "not a certificate", mentions: ["'site.crt'", "PEM certificate"]) {
            try c.addGatewayRoute(spec(cert: "hello", key: key))
        }
        try expectRefused(db, "not a key", mentions: ["'site.key'", "unencrypted PEM private key"]) {
            try c.addGatewayRoute(spec(cert: cert, key: cert))
        }
        try expectRefused(db, "certificate for another name", mentions: ["'site.crt'", "'other.apps.example.com'"]) {
            try c.addGatewayRoute(spec("other", cert: cert, key: key))
        }
        try expectRefused(db, "certificate without key", mentions: ["--cert and --key together"]) {
            try c.addGatewayRoute(spec(cert: cert, key: nil))
        }
        try expectRefused(db, "TLS on a TCP mapping", mentions: ["--name or --fqdn"]) {
            try c.addGatewayRoute(spec(cert: cert, key: key, tcp: "8443"))
        }
        try expectRefused(db, "passthrough and termination", mentions: ["either --tls-passthrough"]) {
            var s = spec(cert: cert, key: key)
            s.tlsPassthrough = true
            return try c.addGatewayRoute(s)
        }
        try expectRefused(db, "tcp 443 is the name routes'", mentions: ["'443'", "other than 80 and 443"]) {
            try c.addGatewayRoute(Spec(name: "r", node: "gw", tcp: "443", backends: ["web:80"]))
        }
        try expectRefused(db, "a WireGuard port", mentions: ["'51820'", "WireGuard ports"]) {
            try c.addGatewayRoute(Spec(name: "r", node: "gw", udp: "51820", backends: ["web:53"]))
        }
        try expectRefused(db, "unknown balance", mentions: ["'random'", "roundrobin or leastconn"]) {
            try c.addGatewayRoute(Spec(name: "r", node: "gw", label: "x", backends: ["web:80"], balance: "random"))
        }
        try c.addGatewayRoute(Spec(name: "r1", node: "gw", label: "site", backends: ["web:80"]))
        try expectRefused(db, "same name in another case", mentions: ["'site.apps.example.com'", "already served"]) {
            try c.addGatewayRoute(Spec(name: "r2", node: "gw", fqdn: "SITE.Apps.Example.com", backends: ["web:80"]))
        }
    }
}
