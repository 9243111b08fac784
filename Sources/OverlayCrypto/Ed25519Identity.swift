import CSodium
import Foundation
import OverlayModel

/// A node's (or the controller's) long-term identity: an Ed25519 key pair.
public struct Ed25519Identity: Sendable {
    /// libsodium's 64-byte secret key (seed followed by public key).
    public let secretKey: SecretKey
    public let publicKey: [UInt8]

    public static func generate() -> Ed25519Identity {
        Sodium.ensure()
        let sk = SecretKey(count: Int(crypto_sign_SECRETKEYBYTES))
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        sk.withMutableBytes { _ = crypto_sign_keypair(&pk, $0.bindMemory(to: UInt8.self).baseAddress!) }
        return Ed25519Identity(secretKey: sk, publicKey: pk)
    }

    /// Restores an identity from its 32-byte seed (what the state directory keeps).
    public init(seed: SecretKey) throws {
        Sodium.ensure()
        guard seed.count == Int(crypto_sign_SEEDBYTES) else { throw CryptoError.badKey("an Ed25519 seed is 32 bytes") }
        let sk = SecretKey(count: Int(crypto_sign_SECRETKEYBYTES))
        var pk = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        seed.withBytes { s in
            sk.withMutableBytes { k in
                _ = crypto_sign_seed_keypair(
                    &pk, k.bindMemory(to: UInt8.self).baseAddress!,
                    s.bindMemory(to: UInt8.self).baseAddress!)
            }
        }
        self.init(secretKey: sk, publicKey: pk)
    }

    private init(secretKey: SecretKey, publicKey: [UInt8]) {
        self.secretKey = secretKey
        self.publicKey = publicKey
    }

    /// The 32-byte seed, for storing the identity.
    public var seed: SecretKey {
        secretKey.withBytes { SecretKey(copying: $0.prefix(Int(crypto_sign_SEEDBYTES))) }
    }

    public var publicKeyBase64: String { Data(publicKey).base64EncodedString() }

    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        secretKey.withBytes { sk in
            _ = crypto_sign_detached(
                &sig, nil, message, UInt64(message.count), sk.bindMemory(to: UInt8.self).baseAddress!)
        }
        return sig
    }

    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Sodium.ensure()
        guard signature.count == Int(crypto_sign_BYTES), publicKey.count == Int(crypto_sign_PUBLICKEYBYTES) else {
            return false
        }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}
