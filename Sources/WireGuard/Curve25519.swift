import CSodium
import OverlayModel

/// X25519 public key derivation, for wireguard-go, whose `get` reports the private key only.
enum Curve25519 {
    /// sodium_init picks the fastest implementation; it is idempotent and thread-safe.
    private static let ready: Bool = sodium_init() >= 0

    static func publicKey(for secret: SecretKey) -> WireGuardKey? {
        guard ready, secret.count == 32 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        let rc = secret.withBytes { sk in
            out.withUnsafeMutableBytes { pk in
                crypto_scalarmult_curve25519_base(
                    pk.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        // An all-zero private key (an unset device) gives no usable public key.
        guard rc == 0 else { return nil }
        return WireGuardKey(bytes: out)
    }
}
