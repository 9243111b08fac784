import CSodium
import Glibc
import OverlayModel

/// WireGuard's keys: X25519 (RFC 7748).
public enum X25519 {
    /// A fresh private key, clamped as `wg genkey` clamps it, and its public key.
    public static func generateKeyPair() -> (privateKey: SecretKey, publicKey: WireGuardKey) {
        Sodium.ensure()
        let key = SecretKey(count: 32)
        key.withMutableBytes { buf in
            randombytes_buf(buf.baseAddress!, 32)
            buf[0] &= 248
            buf[31] = (buf[31] & 127) | 64
        }
        return (key, publicKey(for: key))
    }

    /// The public key of a private key (scalar multiplication of the base point).
    public static func publicKey(for privateKey: SecretKey) -> WireGuardKey {
        Sodium.ensure()
        var pub = [UInt8](repeating: 0, count: 32)
        privateKey.withBytes { sk in
            _ = crypto_scalarmult_curve25519_base(&pub, sk.bindMemory(to: UInt8.self).baseAddress!)
        }
        return WireGuardKey(bytes: pub)!
    }

    /// The raw X25519 function: scalar times point. Nil for a low-order point (all-zero result).
    public static func scalarMult(scalar: [UInt8], point: [UInt8]) -> [UInt8]? {
        Sodium.ensure()
        precondition(scalar.count == 32 && point.count == 32)
        var out = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult_curve25519(&out, scalar, point) == 0 else { return nil }
        return out
    }
}
