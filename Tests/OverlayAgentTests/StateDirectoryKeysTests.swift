import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayAgent

/// Which WireGuard private key the agent runs a network with: the one sealed in the plan, or the
/// copy kept from an earlier plan only while it is still the key the plan names.
@Suite struct StateDirectoryKeysTests {
    let me = Ed25519Identity.generate()
    let other = Ed25519Identity.generate()

    func withState(_ body: (StateDirectory) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "overlay-agent-keys-" + SecureRandom.hex(6)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(StateDirectory(path: dir))
    }

    /// A plan whose one network has `key`, sealed to `recipient`.
    func plan(key: SecretKey, sealedTo recipient: Ed25519Identity, revision: Int64) throws -> NodePlan {
        var n = Fixtures.network()
        n.publicKey = X25519.publicKey(for: key)
        n.sealedPrivateKey = Data(try SealedBox.seal(key, toIdentity: recipient.publicKey)).base64EncodedString()
        return Fixtures.plan([n], revision: revision)
    }

    @Test func theSealedKeyIsOpenedAndKept() throws {
        try withState { state in
            let key = X25519.generateKeyPair().privateKey
            let keys = try state.openKeys(plan(key: key, sealedTo: me, revision: 1), identity: me)
            #expect(keys["wg-0a0b0c0d"] == key)
            #expect(try state.readSecret(state.keysPath + "/wg-0a0b0c0d.key") == key)
        }
    }

    @Test func theKeptKeyIsUsedWhenTheBoxCannotBeOpenedButTheKeyIsStillThePlannedOne() throws {
        try withState { state in
            let key = X25519.generateKeyPair().privateKey
            _ = try state.openKeys(plan(key: key, sealedTo: me, revision: 1), identity: me)
            let keys = try state.openKeys(plan(key: key, sealedTo: other, revision: 2), identity: me)
            #expect(keys["wg-0a0b0c0d"] == key)
        }
    }

    @Test func aReKeyedMembershipThatCannotBeOpenedIsRefusedNamingBothKeys() throws {
        try withState { state in
            let old = X25519.generateKeyPair().privateKey
            _ = try state.openKeys(plan(key: old, sealedTo: me, revision: 1), identity: me)
            let new = X25519.generateKeyPair().privateKey
            let rekeyed = try plan(key: new, sealedTo: other, revision: 2)
            let error = #expect(throws: StateDirectoryError.self) { try state.openKeys(rekeyed, identity: me) }
            guard case .keyMismatch(let network, let planned, let kept)? = error else {
                Issue.record("expected a key mismatch, got \(String(describing: error))")
                return
            }
            #expect(network == "shop")
            #expect(planned == X25519.publicKey(for: new))
            #expect(kept == X25519.publicKey(for: old))
            let text = "\(error!)"
            #expect(text.contains("network shop"))
            #expect(text.contains("\(X25519.publicKey(for: new))"))
            #expect(text.contains("\(X25519.publicKey(for: old))"))
            // Nothing changed: the kept key is still the old one.
            #expect(try state.readSecret(state.keysPath + "/wg-0a0b0c0d.key") == old)
        }
    }

    @Test func aKeyThatCannotBeOpenedAndWasNeverKeptIsRefused() throws {
        try withState { state in
            let key = X25519.generateKeyPair().privateKey
            #expect(throws: StateDirectoryError.self) {
                try state.openKeys(plan(key: key, sealedTo: other, revision: 1), identity: me)
            }
        }
    }
}
