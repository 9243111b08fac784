import Foundation
import OverlayCrypto
import Testing

@testable import OverlayAgent

/// Secrets others may read, and a state directory others may write to, are refused with the fix
/// named; nothing is rewritten behind the operator's back.
@Suite struct StateDirectoryPermissionTests {
    func tempState() throws -> StateDirectory {
        let state = StateDirectory(path: NSTemporaryDirectory() + "overlay-perm-test-" + SecureRandom.hex(6))
        try state.createDirectory()
        return state
    }

    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func anIdentityOthersCanReadIsRefused() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let (identity, created) = try state.loadOrCreateIdentity()
        #expect(created)
        #expect(try mode(state.identityPath) == 0o600)
        #expect(try mode(state.path) == 0o700)
        chmod(state.identityPath, 0o644)
        let e = #expect(throws: StateDirectoryError.self) { try state.loadIdentity() }
        #expect(
            e?.description
                == "\(state.identityPath) is open to other users (mode 644); refused: chmod 600 \(state.identityPath), or remove it if it may be known"
        )
        // Not replaced by a new identity either.
        #expect(throws: StateDirectoryError.self) { try state.loadOrCreateIdentity() }
        chmod(state.identityPath, 0o600)
        #expect(try state.loadIdentity()?.publicKeyBase64 == identity.publicKeyBase64)
    }

    @Test func aStateDirectoryOthersCanWriteToIsRefused() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        _ = try state.loadOrCreateIdentity()
        chmod(state.path, 0o777)
        let e = #expect(throws: StateDirectoryError.self) { try state.loadIdentity() }
        #expect(e?.description == "\(state.path) is open to other users (mode 777); refused: chmod 700 \(state.path)")
        // Others may list it (every file in it is 0600): that is allowed.
        chmod(state.path, 0o755)
        #expect(try state.loadIdentity() != nil)
    }

    @Test func aStaleTemporaryFileCannotLoosenANewSecret() throws {
        let state = try tempState()
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let tmp = state.identityPath + ".tmp"
        FileManager.default.createFile(atPath: tmp, contents: Data("old".utf8), attributes: [.posixPermissions: 0o666])
        _ = try state.loadOrCreateIdentity()
        #expect(try mode(state.identityPath) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: tmp))
    }
}
