import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner

/// A node plan as the controller sends it: the exact JSON bytes and the controller's Ed25519
/// signature over them. The agent checks the signature with the key it pinned when it joined
/// before it decodes anything.
public struct SignedPlan: Codable, Equatable, Sendable {
    public var node: String
    public var revision: Int64
    /// Base64 of the plan's JSON document.
    public var plan: String
    /// Base64 Ed25519 signature over `"overlay-plan-v1\n" + node + "\n" + plan JSON bytes`.
    public var signature: String
    /// The fingerprints of the certificates the controller serves HTTPS with now and will next
    /// (absent over plain HTTP): the agent adds them to the ones it pins, so a rotated
    /// certificate needs no new join.
    public var tls: [CertificateFingerprint]?
    /// Base64 Ed25519 signature over `"overlay-tls-v1\n" + node + "\n"` and each fingerprint
    /// (`sha256:HEX`) followed by a newline.
    public var tlsSignature: String?

    public init(
        node: String, revision: Int64, plan: String, signature: String, tls: [CertificateFingerprint]? = nil,
        tlsSignature: String? = nil
    ) {
        self.node = node
        self.revision = revision
        self.plan = plan
        self.signature = signature
        self.tls = tls
        self.tlsSignature = tlsSignature
    }

    static func tlsMessage(node: String, fingerprints: [CertificateFingerprint]) -> [UInt8] {
        Array(("overlay-tls-v1\n\(node)\n" + fingerprints.map { "\($0)\n" }.joined()).utf8)
    }

    /// The announced certificate fingerprints, once their signature verifies with the pinned
    /// controller key; empty when none are announced.
    public func announcedCertificates(controllerKey: [UInt8], expectedNode: String) throws -> [CertificateFingerprint] {
        guard let tls, !tls.isEmpty else { return [] }
        guard node == expectedNode else { throw SignedPlanError.wrongNode(node, expected: expectedNode) }
        guard let text = tlsSignature, let sig = Data(base64Encoded: text),
            Ed25519Identity.verify(
                signature: Array(sig), message: Self.tlsMessage(node: node, fingerprints: tls), publicKey: controllerKey
            )
        else { throw SignedPlanError.badSignature }
        return tls
    }

    static func message(node: String, planJSON: [UInt8]) -> [UInt8] {
        Array("overlay-plan-v1\n\(node)\n".utf8) + planJSON
    }

    /// Signs an encoded plan.
    public static func sign(
        planJSON: [UInt8], node: String, revision: Int64, with key: Ed25519Identity, tls: [CertificateFingerprint] = []
    ) -> SignedPlan {
        let sig = key.sign(message(node: node, planJSON: planJSON))
        var signed = SignedPlan(
            node: node, revision: revision, plan: Data(planJSON).base64EncodedString(),
            signature: Data(sig).base64EncodedString())
        if !tls.isEmpty {
            signed.tls = tls
            signed.tlsSignature = Data(key.sign(tlsMessage(node: node, fingerprints: tls))).base64EncodedString()
        }
        return signed
    }

    /// Verifies with the pinned controller key and returns the plan.
    public func open(controllerKey: [UInt8], expectedNode: String) throws -> NodePlan {
        guard let bytes = Data(base64Encoded: plan) else { throw SignedPlanError.malformed("plan is not base64") }
        guard let sig = Data(base64Encoded: signature) else {
            throw SignedPlanError.malformed("signature is not base64")
        }
        guard
            Ed25519Identity.verify(
                signature: Array(sig), message: Self.message(node: node, planJSON: Array(bytes)),
                publicKey: controllerKey)
        else { throw SignedPlanError.badSignature }
        guard node == expectedNode else { throw SignedPlanError.wrongNode(node, expected: expectedNode) }
        let decoded: NodePlan
        do { decoded = try JSONDecoder().decode(NodePlan.self, from: bytes) } catch {
            throw SignedPlanError.malformed("plan JSON: \(error)")
        }
        guard decoded.node == node, decoded.revision == revision else {
            throw SignedPlanError.mismatch(
                "envelope says \(node)@\(revision), plan says \(decoded.node)@\(decoded.revision)")
        }
        return decoded
    }
}

/// Why a signed plan is refused: malformed, not signed by the pinned key, or for another node.
public enum SignedPlanError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case badSignature
    case wrongNode(String, expected: String)
    case mismatch(String)

    public var description: String {
        switch self {
        case .malformed(let why): "signed plan is malformed: \(why)"
        case .badSignature: "the plan signature does not match the pinned controller key; plan refused"
        case .wrongNode(let n, let e): "the plan is for node '\(n)', this agent is '\(e)'; plan refused"
        case .mismatch(let why): "signed plan envelope disagrees with its content: \(why)"
        }
    }
}
