import Foundation
import OverlayCrypto

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
