import Foundation
import OverlayCrypto

/// How an agent signs each request with its node's Ed25519 key, and how the controller checks it.
///
/// The signed message binds the method, the path with its query, the node, the time, a fresh
/// nonce and the SHA-256 of the body, so a captured request cannot be replayed (the nonce is
/// remembered for the skew window), moved to another endpoint, or given another body.
public enum AgentSignature {
    public static let nodeHeader = "Overlay-Node"
    public static let timeHeader = "Overlay-Time"
    public static let nonceHeader = "Overlay-Nonce"
    public static let signatureHeader = "Overlay-Signature"
    /// Requests older or newer than this (seconds) are refused.
    public static let maxSkew: Int64 = 60

    /// The bytes that get signed.
    public static func message(
        method: String, pathAndQuery: String, node: String, time: Int64, nonce: String, body: [UInt8]
    ) -> [UInt8] {
        let text = [
            "overlay-agent-request-v1", method.uppercased(), pathAndQuery, node, String(time), nonce,
            Digest.hex(Digest.sha256(body)),
        ].joined(separator: "\n")
        return Array(text.utf8)
    }

    /// The four headers for one request.
    public static func headers(
        identity: Ed25519Identity, node: String, method: String, pathAndQuery: String, body: [UInt8],
        time: Int64 = Int64(Date().timeIntervalSince1970), nonce: String = SecureRandom.hex(16)
    ) -> [String: String] {
        let sig = identity.sign(
            message(method: method, pathAndQuery: pathAndQuery, node: node, time: time, nonce: nonce, body: body))
        return [
            nodeHeader: node, timeHeader: String(time), nonceHeader: nonce,
            signatureHeader: Data(sig).base64EncodedString(),
        ]
    }

    /// The parsed, not yet verified, authentication headers of a request.
    public struct Claim: Sendable, Equatable {
        public var node: String
        public var time: Int64
        public var nonce: String
        public var signature: [UInt8]

        /// Parses the headers (looked up case-insensitively by `header`).
        public init(header: (String) -> String?) throws {
            func get(_ name: String) throws -> String {
                guard let v = header(name), !v.isEmpty else { throw AgentSignatureError.missingHeader(name) }
                return v
            }
            node = try get(nodeHeader)
            let t = try get(timeHeader)
            guard let time = Int64(t), time > 0 else { throw AgentSignatureError.badHeader(timeHeader, t) }
            self.time = time
            nonce = try get(nonceHeader)
            guard (16...64).contains(nonce.count), nonce.allSatisfy(\.isHexDigit) else {
                throw AgentSignatureError.badHeader(nonceHeader, nonce)
            }
            let s = try get(signatureHeader)
            guard let sig = Data(base64Encoded: s), sig.count == 64 else {
                throw AgentSignatureError.badHeader(signatureHeader, s)
            }
            signature = Array(sig)
        }

        /// Checks time and signature (not replay: the controller remembers the nonces it accepted).
        /// The part of `verify` that needs no key: the server checks it before it looks the node
        /// up, so an unknown node and a bad signature cannot be told apart by their answers.
        public func checkTime(now: Int64 = Int64(Date().timeIntervalSince1970)) throws {
            guard abs(now - time) <= AgentSignature.maxSkew else { throw AgentSignatureError.skew(time - now) }
        }

        public func verify(
            method: String, pathAndQuery: String, body: [UInt8], publicKey: [UInt8],
            now: Int64 = Int64(Date().timeIntervalSince1970)
        ) throws {
            try checkTime(now: now)
            let m = AgentSignature.message(
                method: method, pathAndQuery: pathAndQuery, node: node, time: time, nonce: nonce, body: body)
            guard Ed25519Identity.verify(signature: signature, message: m, publicKey: publicKey) else {
                throw AgentSignatureError.badSignature
            }
        }
    }
}

/// Why a signed agent request is refused: a missing or bad header, clock skew, a bad signature
/// or a replayed nonce.
public enum AgentSignatureError: Error, Equatable, CustomStringConvertible {
    case missingHeader(String)
    case badHeader(String, String)
    case skew(Int64)
    case badSignature
    case replay

    public var description: String {
        switch self {
        case .missingHeader(let h): "missing header \(h)"
        case .badHeader(let h, let v): "invalid \(h) '\(v)'"
        case .skew(let s):
            "request time is \(s) s away from the controller's clock (at most \(AgentSignature.maxSkew) s allowed)"
        case .badSignature: "the request signature does not verify with the node's key"
        case .replay: "this request was already seen (replay)"
        }
    }
}
