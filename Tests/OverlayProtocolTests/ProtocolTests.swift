import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayProtocol

@Suite("Agent request signatures")
struct AgentSignatureTests {
    let node = Ed25519Identity.generate()
    let body = Array(#"{"appliedRevision":7}"#.utf8)

    func claim(_ headers: [String: String]) throws -> AgentSignature.Claim {
        try AgentSignature.Claim { name in headers.first { $0.key.lowercased() == name.lowercased() }?.value }
    }

    @Test("a signed request verifies with the node's key")
    func roundTrip() throws {
        let h = AgentSignature.headers(
            identity: node, node: "n1", method: "POST", pathAndQuery: "/v1/agent/status", body: body)
        try claim(h).verify(method: "POST", pathAndQuery: "/v1/agent/status", body: body, publicKey: node.publicKey)
    }

    @Test("method, path, body, node and key are all bound by the signature")
    func tampering() throws {
        let h = AgentSignature.headers(
            identity: node, node: "n1", method: "GET", pathAndQuery: "/v1/agent/plan?after=3", body: [])
        let c = try claim(h)
        let other = Ed25519Identity.generate()
        let cases: [(String, String, [UInt8], [UInt8])] = [
            ("POST", "/v1/agent/plan?after=3", [], node.publicKey),
            ("GET", "/v1/agent/plan?after=0", [], node.publicKey),
            ("GET", "/v1/agent/plan?after=3", [1], node.publicKey),
            ("GET", "/v1/agent/plan?after=3", [], other.publicKey),
        ]
        for (m, p, b, k) in cases {
            #expect(throws: AgentSignatureError.badSignature) {
                try c.verify(method: m, pathAndQuery: p, body: b, publicKey: k)
            }
        }
        var renamed = h
        renamed[AgentSignature.nodeHeader] = "n2"
        #expect(throws: AgentSignatureError.badSignature) {
            try claim(renamed).verify(
                method: "GET", pathAndQuery: "/v1/agent/plan?after=3", body: [], publicKey: node.publicKey)
        }
    }

    @Test("a request more than 60 s away from the controller's clock is refused")
    func skew() throws {
        let now: Int64 = 1_800_000_000
        for (offset, ok) in [(-61, false), (-60, true), (0, true), (60, true), (61, false)] as [(Int64, Bool)] {
            let h = AgentSignature.headers(
                identity: node, node: "n1", method: "GET", pathAndQuery: "/p", body: [], time: now + offset)
            let verify = {
                try self.claim(h).verify(
                    method: "GET", pathAndQuery: "/p", body: [], publicKey: self.node.publicKey, now: now)
            }
            if ok { try verify() } else { #expect(throws: AgentSignatureError.skew(offset)) { try verify() } }
        }
    }

    @Test("missing or malformed headers are named")
    func badHeaders() throws {
        let h = AgentSignature.headers(identity: node, node: "n1", method: "GET", pathAndQuery: "/p", body: [])
        for name in [
            AgentSignature.nodeHeader, AgentSignature.timeHeader, AgentSignature.nonceHeader,
            AgentSignature.signatureHeader,
        ] {
            var m = h
            m[name] = nil
            #expect(throws: AgentSignatureError.missingHeader(name)) { try claim(m) }
        }
        for (name, value) in [
            (AgentSignature.timeHeader, "soon"), (AgentSignature.nonceHeader, "xyz"),
            (AgentSignature.signatureHeader, "c2hvcnQ="),
        ] {
            var m = h
            m[name] = value
            #expect(throws: AgentSignatureError.badHeader(name, value)) { try claim(m) }
        }
    }
}

@Suite("Signed plans")
struct SignedPlanTests {
    let controller = Ed25519Identity.generate()
    let plan = NodePlan(
        node: "n1", revision: 9, hostFirewall: .init(wireguardPorts: [51820]), networks: [], gateway: nil)

    func signed() throws -> SignedPlan {
        SignedPlan.sign(planJSON: Array(try JSONEncoder().encode(plan)), node: "n1", revision: 9, with: controller)
    }

    @Test("opens with the pinned key")
    func opens() throws {
        #expect(try signed().open(controllerKey: controller.publicKey, expectedNode: "n1") == plan)
    }

    @Test("another key, another node, or edited content is refused")
    func refused() throws {
        let s = try signed()
        #expect(throws: SignedPlanError.badSignature) {
            try s.open(controllerKey: Ed25519Identity.generate().publicKey, expectedNode: "n1")
        }
        #expect(throws: SignedPlanError.wrongNode("n1", expected: "n2")) {
            try s.open(controllerKey: controller.publicKey, expectedNode: "n2")
        }
        var edited = plan
        edited.hostFirewall.wireguardPorts = [1]
        var forged = s
        forged.plan = try JSONEncoder().encode(edited).base64EncodedString()
        #expect(throws: SignedPlanError.badSignature) {
            try forged.open(controllerKey: controller.publicKey, expectedNode: "n1")
        }
        var relabelled = s
        relabelled.revision = 10
        #expect(throws: SignedPlanError.self) {
            try relabelled.open(controllerKey: controller.publicKey, expectedNode: "n1")
        }
    }
}

@Suite("Tokens")
struct TokenTests {
    @Test("generated tokens are well formed, distinct, and hashed without the token")
    func tokens() {
        let a = Token.generate(.admin)
        let b = Token.generate(.admin)
        let j = Token.generate(.join)
        #expect(a != b)
        #expect(Token.isWellFormed(a, .admin) && Token.isWellFormed(j, .join))
        #expect(!Token.isWellFormed(a, .join) && !Token.isWellFormed(j, .admin))
        #expect(
            !Token.isWellFormed(a + "x", .admin)
                && !Token.isWellFormed("ovla_" + String(repeating: "/", count: 43), .admin))
        #expect(Token.hash(a).count == 64 && Token.hash(a) != Token.hash(b) && !Token.hash(a).contains(a))
    }
}

@Suite("Join tokens with certificate fingerprints")
struct JoinTokenTests {
    let secret = Token.generate(.join)
    let a = CertificateFingerprint(bytes: Array(repeating: 0xAB, count: 32))
    let b = CertificateFingerprint(bytes: (0..<32).map { UInt8($0) })

    @Test("a token carries its fingerprints and parses back; a bare one carries none")
    func roundTrip() throws {
        let t = JoinToken(secret: secret, fingerprints: [a, b])
        #expect(t.description == secret + "." + a.tokenForm + "." + b.tokenForm)
        #expect(try JoinToken(parsing: t.description) == t)
        #expect(try JoinToken(parsing: secret) == JoinToken(secret: secret, fingerprints: []))
    }

    @Test(
        "malformed tokens are refused with what is allowed",
        arguments: [
            "", "ovlj_short", "ovla_" + String(repeating: "a", count: 43), "SECRET.", "SECRET.abc", "SECRET..x",
        ])
    func refused(text: String) {
        let token = text.replacingOccurrences(of: "SECRET", with: Token.generate(.join))
        #expect {
            try JoinToken(parsing: token)
        } throws: { error in
            "\(error)".contains("invalid join token") && "\(error)".contains("ovlj_ and 43 characters")
        }
    }
}

@Suite("Certificates announced in signed plans")
struct AnnouncedCertificateTests {
    let key = Ed25519Identity.generate()
    let pins = [
        CertificateFingerprint(bytes: Array(repeating: 1, count: 32)),
        CertificateFingerprint(bytes: Array(repeating: 2, count: 32)),
    ]

    @Test("the announcement verifies with the controller key and survives JSON")
    func verified() throws {
        let signed = SignedPlan.sign(planJSON: Array("{}".utf8), node: "n1", revision: 3, with: key, tls: pins)
        let decoded = try JSONDecoder().decode(SignedPlan.self, from: try JSONEncoder().encode(signed))
        #expect(try decoded.announcedCertificates(controllerKey: key.publicKey, expectedNode: "n1") == pins)
        let none = SignedPlan.sign(planJSON: Array("{}".utf8), node: "n1", revision: 3, with: key)
        #expect(try none.announcedCertificates(controllerKey: key.publicKey, expectedNode: "n1") == [])
        #expect(!String(decoding: try JSONEncoder().encode(none), as: UTF8.self).contains("tls"))
    }

    @Test("a changed fingerprint, another key or another node is refused")
    func tampered() throws {
        let signed = SignedPlan.sign(planJSON: Array("{}".utf8), node: "n1", revision: 3, with: key, tls: pins)
        var changed = signed
        changed.tls = [pins[0], CertificateFingerprint(bytes: Array(repeating: 3, count: 32))]
        #expect(throws: SignedPlanError.badSignature) {
            try changed.announcedCertificates(controllerKey: key.publicKey, expectedNode: "n1")
        }
        #expect(throws: SignedPlanError.badSignature) {
            try signed.announcedCertificates(controllerKey: Ed25519Identity.generate().publicKey, expectedNode: "n1")
        }
        #expect(throws: SignedPlanError.wrongNode("n1", expected: "n2")) {
            try signed.announcedCertificates(controllerKey: key.publicKey, expectedNode: "n2")
        }
    }
}
