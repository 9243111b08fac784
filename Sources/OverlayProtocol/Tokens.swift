import Foundation
import OverlayCrypto
import OverlayModel

/// Bearer tokens (admin) and join tokens: random, shown once, stored only as a hash.
public enum Token {
    public enum Kind: String, Sendable {
        case admin = "ovla"
        case join = "ovlj"
    }

    /// `PREFIX_` followed by 32 random bytes in URL-safe base64 (43 characters).
    public static func generate(_ kind: Kind) -> String {
        let raw = Data(SecureRandom.bytes(32)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return kind.rawValue + "_" + raw
    }

    /// Whether `token` has the shape of a token of `kind` (checked before any lookup).
    public static func isWellFormed(_ token: String, _ kind: Kind) -> Bool {
        let prefix = kind.rawValue + "_"
        guard token.hasPrefix(prefix), token.count == prefix.count + 43 else { return false }
        return token.dropFirst(prefix.count).allSatisfy {
            $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_")
        }
    }

    /// What the database stores: SHA-256 of the token, hex.
    public static func hash(_ token: String) -> String {
        Digest.hex(Digest.sha256(Array(token.utf8)))
    }
}

/// A join token as handed to `overlay-agent run --join`: the single-use secret, and the
/// fingerprints of the certificates the controller presents (or is about to), so the agent can pin
/// the controller's TLS certificate with nothing else to copy. Written
/// `ovlj_SECRET` then `.FINGERPRINT` for each certificate (43 characters of URL-safe base64 each).
/// Only the secret goes to the controller; a plain-HTTP controller's tokens carry no fingerprint.
public struct JoinToken: Equatable, Sendable, CustomStringConvertible {
    /// `ovlj_` and 43 characters: what the controller stores the hash of.
    public var secret: String
    public var fingerprints: [CertificateFingerprint]

    public init(secret: String, fingerprints: [CertificateFingerprint]) {
        self.secret = secret
        self.fingerprints = fingerprints
    }

    public var description: String { ([secret] + fingerprints.map(\.tokenForm)).joined(separator: ".") }

    static let allowed =
        "ovlj_ and 43 characters, then '.' and a 43-character certificate fingerprint for each pinned certificate (from 'overlayctl node join-token NODE')"

    public init(parsing text: String) throws {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let secret = parts.first, Token.isWellFormed(secret, .join), parts.count <= 5 else {
            throw ValidationError("join token", text, allowed: Self.allowed)
        }
        var fingerprints: [CertificateFingerprint] = []
        for p in parts.dropFirst() {
            guard let f = CertificateFingerprint(tokenForm: p) else {
                throw ValidationError("join token", text, allowed: Self.allowed)
            }
            fingerprints.append(f)
        }
        self.init(secret: secret, fingerprints: fingerprints)
    }
}
