import CSodium
import OverlayModel

/// libsodium must be initialised once before use; every entry point of this module calls this.
enum Sodium {
    static let ready: Bool = sodium_init() >= 0

    static func ensure() {
        precondition(ready, "libsodium failed to initialise")
    }
}

public enum CryptoError: Error, Equatable, CustomStringConvertible {
    case badKey(String)
    case openFailed
    case badSignature

    public var description: String {
        switch self {
        case .badKey(let what): "invalid key: \(what)"
        case .openFailed: "the sealed key could not be opened with this node's identity (wrong node, or corrupted)"
        case .badSignature: "signature does not verify"
        }
    }
}

/// Random bytes from the kernel's CSPRNG, through libsodium.
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        Sodium.ensure()
        var out = [UInt8](repeating: 0, count: count)
        randombytes_buf(&out, count)
        return out
    }

    public static func hex(_ count: Int) -> String {
        Digest.hex(bytes(count))
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
