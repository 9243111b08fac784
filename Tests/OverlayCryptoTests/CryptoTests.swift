import Foundation
import OverlayModel
import Testing

@testable import OverlayCrypto

func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16)!)
        i = j
    }
    return out
}

func hexString(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

@Suite("X25519")
struct X25519Tests {
    /// RFC 7748 §5.2: scalar, input u-coordinate, output u-coordinate.
    static let vectors: [(String, String, String)] = [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
        ),
        // The input u has its top bit set: X25519 must mask it.
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"
        ),
    ]

    @Test("RFC 7748 §5.2 scalar multiplication vectors", arguments: vectors)
    func rfc7748(scalar: String, u: String, out: String) throws {
        let r = try #require(X25519.scalarMult(scalar: hex(scalar), point: hex(u)))
        #expect(hexString(r) == out)
    }

    @Test("RFC 7748 §5.2 iterated vector, 1 and 1000 iterations")
    func iterated() throws {
        var k = hex("0900000000000000000000000000000000000000000000000000000000000000")
        var u = k
        for i in 1...1000 {
            let r = try #require(X25519.scalarMult(scalar: k, point: u))
            u = k
            k = r
            if i == 1 { #expect(hexString(k) == "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079") }
        }
        #expect(hexString(k) == "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
    }

    @Test("RFC 7748 §6.1 Diffie-Hellman: public keys and shared secret")
    func rfc7748DH() throws {
        let alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        let bob = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
        let alicePub = X25519.publicKey(for: SecretKey(copying: alice))
        let bobPub = X25519.publicKey(for: SecretKey(copying: bob))
        #expect(alicePub.hex == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        #expect(bobPub.hex == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        let k1 = try #require(X25519.scalarMult(scalar: alice, point: bobPub.bytes))
        let k2 = try #require(X25519.scalarMult(scalar: bob, point: alicePub.bytes))
        #expect(hexString(k1) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        #expect(k1 == k2)
        // publicKey(for:) is scalar multiplication of the base point 9.
        #expect(X25519.scalarMult(scalar: alice, point: [9] + [UInt8](repeating: 0, count: 31)) == alicePub.bytes)
    }

    @Test("a low-order point gives nil, not an all-zero secret")
    func lowOrder() {
        #expect(
            X25519.scalarMult(scalar: [UInt8](repeating: 1, count: 32), point: [UInt8](repeating: 0, count: 32)) == nil)
        #expect(
            X25519.scalarMult(scalar: [UInt8](repeating: 1, count: 32), point: [1] + [UInt8](repeating: 0, count: 31))
                == nil)
    }

    @Test("generated keys are clamped, fresh and match publicKey(for:)")
    func generated() {
        var seen = Set<[UInt8]>()
        for _ in 0..<200 {
            let (priv, pub) = X25519.generateKeyPair()
            let b = priv.withBytes { Array($0) }
            #expect(b.count == 32)
            #expect(b[0] & 0b111 == 0, "low three bits of byte 0 must be clear: \(b[0])")
            #expect(b[31] & 0x80 == 0, "top bit of byte 31 must be clear: \(b[31])")
            #expect(b[31] & 0x40 != 0, "second-highest bit of byte 31 must be set: \(b[31])")
            #expect(X25519.publicKey(for: priv) == pub)
            #expect(seen.insert(b).inserted, "a private key came out twice")
        }
    }

    @Test("clamping does not change the public key (X25519 clamps the scalar itself)")
    func clampingEquivalence() {
        var raw = [UInt8](repeating: 0xff, count: 32)
        let unclamped = X25519.publicKey(for: SecretKey(copying: raw))
        raw[0] &= 248
        raw[31] = (raw[31] & 127) | 64
        #expect(X25519.publicKey(for: SecretKey(copying: raw)) == unclamped)
    }

    static let wg = "/usr/bin/wg"

    @Test(
        "public keys equal what `wg pubkey` prints",
        .enabled(if: FileManager.default.isExecutableFile(atPath: wg), "wireguard-tools' /usr/bin/wg is not installed"))
    func wgPubkey() throws {
        for _ in 0..<8 {
            let (priv, pub) = X25519.generateKeyPair()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.wg)
            p.arguments = ["pubkey"]
            let stdin = Pipe()
            let stdout = Pipe()
            let stderr = Pipe()
            p.standardInput = stdin
            p.standardOutput = stdout
            p.standardError = stderr
            try p.run()
            stdin.fileHandleForWriting.write(Data((priv.base64 + "\n").utf8))
            try stdin.fileHandleForWriting.close()
            let out = stdout.fileHandleForReading.readDataToEndOfFile()
            let err = stderr.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "wg pubkey failed: \(String(decoding: err, as: UTF8.self))")
            let printed = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(
                printed == pub.base64,
                "wg pubkey printed \(printed) for our key whose public key we say is \(pub.base64)")
        }
    }
}

@Suite("Ed25519Identity")
struct Ed25519Tests {
    @Test("RFC 8032 §7.1 test 1: seed -> public key and signature of the empty message")
    func rfc8032() throws {
        let id = try Ed25519Identity(
            seed: SecretKey(copying: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")))
        #expect(hexString(id.publicKey) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let sig = id.sign([])
        #expect(
            hexString(sig)
                == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )
        #expect(Ed25519Identity.verify(signature: sig, message: [], publicKey: id.publicKey))
    }

    @Test("sign/verify, tampering and wrong keys")
    func signVerify() {
        let id = Ed25519Identity.generate()
        let other = Ed25519Identity.generate()
        #expect(id.publicKey.count == 32)
        #expect(id.publicKey != other.publicKey)
        let message = Array("POST /v1/plan 1700000000 abc".utf8)
        let sig = id.sign(message)
        #expect(sig.count == 64)
        #expect(Ed25519Identity.verify(signature: sig, message: message, publicKey: id.publicKey))
        var tamperedMessage = message
        tamperedMessage[0] ^= 1
        #expect(!Ed25519Identity.verify(signature: sig, message: tamperedMessage, publicKey: id.publicKey))
        for i in [0, 31, 32, 63] {
            var bad = sig
            bad[i] ^= 0x01
            #expect(
                !Ed25519Identity.verify(signature: bad, message: message, publicKey: id.publicKey), "flipped byte \(i)")
        }
        #expect(!Ed25519Identity.verify(signature: sig, message: message, publicKey: other.publicKey))
        #expect(!Ed25519Identity.verify(signature: Array(sig.prefix(63)), message: message, publicKey: id.publicKey))
        #expect(!Ed25519Identity.verify(signature: sig, message: message, publicKey: Array(id.publicKey.prefix(31))))
        #expect(!Ed25519Identity.verify(signature: sig, message: message + [0], publicKey: id.publicKey))
    }

    @Test("an identity restored from its seed is the same identity")
    func seedRestore() throws {
        let id = Ed25519Identity.generate()
        let seed = id.seed
        #expect(seed.count == 32)
        let restored = try Ed25519Identity(seed: seed)
        #expect(restored.publicKey == id.publicKey)
        #expect(restored.sign([1, 2, 3]) == id.sign([1, 2, 3]), "Ed25519 signatures are deterministic")
        #expect(id.publicKeyBase64 == Data(id.publicKey).base64EncodedString())
        #expect(throws: CryptoError.badKey("an Ed25519 seed is 32 bytes")) {
            try Ed25519Identity(seed: SecretKey(count: 31))
        }
    }
}

@Suite("SealedBox")
struct SealedBoxTests {
    @Test("seal to an identity, open with it")
    func roundTrip() throws {
        let id = Ed25519Identity.generate()
        let (priv, _) = X25519.generateKeyPair()
        let box = try SealedBox.seal(priv, toIdentity: id.publicKey)
        #expect(box.count == 32 + 48, "crypto_box_seal adds 48 bytes")
        let box2 = try SealedBox.seal(priv, toIdentity: id.publicKey)
        #expect(box != box2, "every seal uses a fresh ephemeral key")
        let opened = try SealedBox.open(box, with: id)
        #expect(opened == priv)
        #expect(try SealedBox.open(box2, with: id) == priv)
        let plain = priv.withBytes { Array($0) }
        #expect(Data(box).range(of: Data(plain)) == nil, "the box holds the key in clear")
    }

    @Test("opening with the wrong identity, or a tampered or short box, fails")
    func wrongIdentity() throws {
        let id = Ed25519Identity.generate()
        let other = Ed25519Identity.generate()
        let (priv, _) = X25519.generateKeyPair()
        let box = try SealedBox.seal(priv, toIdentity: id.publicKey)
        #expect(throws: CryptoError.openFailed) { try SealedBox.open(box, with: other) }
        var tampered = box
        tampered[tampered.count - 1] ^= 0x80
        #expect(throws: CryptoError.openFailed) { try SealedBox.open(tampered, with: id) }
        #expect(throws: CryptoError.openFailed) { try SealedBox.open(Array(box.prefix(48)), with: id) }
        #expect(throws: CryptoError.openFailed) { try SealedBox.open([], with: id) }
        #expect("\(CryptoError.openFailed)".contains("could not be opened"))
    }

    @Test("sealing to a malformed identity is refused")
    func badIdentity() {
        let (priv, _) = X25519.generateKeyPair()
        #expect(throws: CryptoError.badKey("an Ed25519 public key is 32 bytes")) {
            try SealedBox.seal(priv, toIdentity: [UInt8](repeating: 1, count: 31))
        }
    }
}

@Suite("SecureRandom and Digest")
struct RandomDigestTests {
    @Test("random bytes and hex")
    func random() {
        #expect(SecureRandom.bytes(0).isEmpty)
        let a = SecureRandom.bytes(32)
        let b = SecureRandom.bytes(32)
        #expect(a.count == 32 && a != b)
        var ids = Set<String>()
        for _ in 0..<200 {
            let h = SecureRandom.hex(4)
            #expect(h.count == 8 && h.allSatisfy { "0123456789abcdef".contains($0) }, "'\(h)' is not 8 lowercase hex")
            #expect(throws: Never.self) { try Network.validateID(h) }
            ids.insert(h)
        }
        #expect(ids.count > 190)
    }

    @Test("BLAKE2b-256 known answers")
    func blake2b() {
        #expect(hexString(Digest.blake2b([])) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        #expect(
            hexString(Digest.blake2b(Array("abc".utf8)))
                == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
        #expect(Digest.blake2b([1], length: 64).count == 64)
    }
}
