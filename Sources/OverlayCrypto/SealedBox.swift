import CSodium
import OverlayModel

/// Private keys at rest: sealed (crypto_box_seal) to the X25519 form of a node's Ed25519 identity,
/// so only that node can open them and the store never holds them in clear.
public enum SealedBox {
    /// Seals `secret` to the holder of the Ed25519 public key `identity`.
    public static func seal(_ secret: SecretKey, toIdentity identity: [UInt8]) throws -> [UInt8] {
        Sodium.ensure()
        guard identity.count == 32 else { throw CryptoError.badKey("an Ed25519 public key is 32 bytes") }
        var curvePK = [UInt8](repeating: 0, count: 32)
        guard crypto_sign_ed25519_pk_to_curve25519(&curvePK, identity) == 0 else {
            throw CryptoError.badKey("not a valid Ed25519 public key")
        }
        var box = [UInt8](repeating: 0, count: secret.count + crypto_box_sealbytes())
        let rc = secret.withBytes { m in
            crypto_box_seal(&box, m.bindMemory(to: UInt8.self).baseAddress!, UInt64(m.count), curvePK)
        }
        guard rc == 0 else { throw CryptoError.badKey("sealing failed") }
        return box
    }

    /// Opens a box sealed to `identity`; the result is wiped when released.
    public static func open(_ box: [UInt8], with identity: Ed25519Identity) throws -> SecretKey {
        Sodium.ensure()
        guard box.count > crypto_box_sealbytes() else { throw CryptoError.openFailed }
        let curveSK = SecretKey(count: 32)
        var curvePK = [UInt8](repeating: 0, count: 32)
        let okSK = identity.secretKey.withBytes { sk in
            curveSK.withMutableBytes { out in
                crypto_sign_ed25519_sk_to_curve25519(
                    out.bindMemory(to: UInt8.self).baseAddress!,
                    sk.bindMemory(to: UInt8.self).baseAddress!)
            }
        }
        guard okSK == 0, crypto_sign_ed25519_pk_to_curve25519(&curvePK, identity.publicKey) == 0 else {
            throw CryptoError.openFailed
        }
        let plain = SecretKey(count: box.count - crypto_box_sealbytes())
        let rc = plain.withMutableBytes { out in
            curveSK.withBytes { sk in
                crypto_box_seal_open(
                    out.bindMemory(to: UInt8.self).baseAddress!, box, UInt64(box.count), curvePK,
                    sk.bindMemory(to: UInt8.self).baseAddress!)
            }
        }
        guard rc == 0 else { throw CryptoError.openFailed }
        return plain
    }
}
