import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayAgent

/// The state directory under damaged files: the cached plan and the kept WireGuard keys.
@Suite struct StateDirectoryTests {
    func tempState() -> StateDirectory {
        StateDirectory(path: NSTemporaryDirectory() + "overlay-state-test-" + SecureRandom.hex(6))
    }

    /// A one-network plan whose private key is sealed to `identity`.
    func plan(sealedTo identity: Ed25519Identity, node: String = "a") throws -> (NodePlan, SecretKey) {
        let (key, pub) = X25519.generateKeyPair()
        var network = Fixtures.network()
        network.publicKey = pub
        network.sealedPrivateKey = Data(try SealedBox.seal(key, toIdentity: identity.publicKey)).base64EncodedString()
        var p = Fixtures.plan([network])
        p.node = node
        return (p, key)
    }

    @Test func aTruncatedCachedPlanIsAnErrorNamingTheFile() throws {
        let state = tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let (p, _) = try plan(sealedTo: Ed25519Identity.generate())
        try state.savePlan(p)
        #expect(try state.cachedPlan() == p)
        let whole = try #require(FileManager.default.contents(atPath: state.planPath))
        FileManager.default.createFile(atPath: state.planPath, contents: whole.prefix(whole.count / 2))
        let e = #expect(throws: StateDirectoryError.self) { try state.cachedPlan() }
        #expect(e?.description.hasPrefix("\(state.planPath): not a plan document") == true)
    }

    @Test func aPlanForAnotherNodeIsNotOpenedWithTheKeyKeptForTheSameInterface() throws {
        let state = tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let mine = Ed25519Identity.generate()
        let theirs = Ed25519Identity.generate()
        let (myPlan, myKey) = try plan(sealedTo: mine)
        #expect(try state.openKeys(myPlan, identity: mine) == [myPlan.networks[0].interface: myKey])
        // Same network, same interface name, its key sealed to another node.
        let (theirPlan, _) = try plan(sealedTo: theirs, node: "b")
        #expect(throws: StateDirectoryError.self) { try state.openKeys(theirPlan, identity: mine) }
        // A box this identity cannot open (a re-keyed node) still falls back to the kept key when
        // it is the plan's key.
        var resealed = myPlan
        resealed.networks[0].sealedPrivateKey = theirPlan.networks[0].sealedPrivateKey
        #expect(try state.openKeys(resealed, identity: mine) == [myPlan.networks[0].interface: myKey])
    }
}
