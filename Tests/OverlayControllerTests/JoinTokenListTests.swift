import Foundation
import OverlayCrypto
import OverlayModel
import Testing

@testable import OverlayController

/// Outstanding join tokens are listed by id (never the secret) and can be revoked; a revoked
/// token no longer joins.
@Suite struct JoinTokenListTests {
    @Test(arguments: TestEngine.all)
    func listsOnlyOutstandingTokensAndNeverTheirSecrets(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.addNode(.init(name: "n1"))
        try c.addNode(.init(name: "n2"))
        let a = try c.createJoinToken(node: "n1", expires: "1h", now: 1_000)
        let b = try c.createJoinToken(node: "n2", expires: "10m", now: 1_100)
        let used = try c.createJoinToken(node: "n2", now: 1_200)
        _ = try c.join(token: used.token, identity: Ed25519Identity.generate().publicKey, now: 1_300)

        let all = try c.outstandingJoinTokens(now: 1_400)
        #expect(all.map(\.id) == [a.id, b.id])
        #expect(all.map(\.node) == ["n1", "n2"])
        #expect(all.map(\.createdAt) == [1_000, 1_100])
        #expect(all.map(\.expiresAt) == [4_600, 1_700])
        #expect(a.id.count == 16 && a.token.hasPrefix("ovlj_") && !a.token.contains(a.id))
        #expect(try c.outstandingJoinTokens(node: "n2", now: 1_400).map(\.id) == [b.id])
        // b expires at 1,700.
        #expect(try c.outstandingJoinTokens(now: 1_700).map(\.id) == [a.id])
        #expect(throws: NotFoundError.self) { try c.outstandingJoinTokens(node: "ghost") }
    }

    @Test(arguments: TestEngine.all)
    func aRevokedTokenNoLongerJoins(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.addNode(.init(name: "n1"))
        let t = try c.createJoinToken(node: "n1", now: 1_000)
        let revoked = try c.revokeJoinToken(id: t.id, now: 1_010)
        #expect(revoked.id == t.id && revoked.node == "n1")
        #expect(try c.outstandingJoinTokens(now: 1_010).isEmpty)
        let e = #expect(throws: AccessDenied.self) {
            try c.join(token: t.token, identity: Ed25519Identity.generate().publicKey, now: 1_020)
        }
        #expect(e?.message.hasPrefix("unknown join token") == true)
    }

    @Test(arguments: TestEngine.all)
    func revokingWhatIsNotOutstandingIsRefusedAndChangesNothing(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.addNode(.init(name: "n1"))
        let used = try c.createJoinToken(node: "n1", now: 1_000)
        _ = try c.join(token: used.token, identity: Ed25519Identity.generate().publicKey, now: 1_001)
        let before = try db.dump()
        let e1 = #expect(throws: NotFoundError.self) { try c.revokeJoinToken(id: used.id, now: 1_002) }
        #expect(e1?.description == "no outstanding join token named '\(used.id)'")
        let e2 = #expect(throws: ValidationError.self) { try c.revokeJoinToken(id: "ovlj_secret") }
        #expect(e2?.description.contains("16 lowercase hex digits") == true)
        #expect(try db.dump() == before)
    }
}
