import Foundation
import OverlayCrypto
import OverlayStore
import Testing

/// The database file holds sealed keys and token hashes: created owner-only, with owner-only
/// parent directories, and refused when others may read it.
@Suite struct DatabaseFileTests {
    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func aNewDatabaseAndItsMissingDirectoriesAreOwnerOnly() throws {
        let root = NSTemporaryDirectory() + "overlay-dbfile-" + SecureRandom.hex(6)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/a/b/state.db"
        let store = try Store(path: path)
        #expect(try mode(root) == 0o700)
        #expect(try mode(root + "/a") == 0o700)
        #expect(try mode(root + "/a/b") == 0o700)
        #expect(try mode(path) == 0o600)
        // While it is open, SQLite's own files take the database file's mode.
        #expect(try mode(path + "-wal") == 0o600)
        withExtendedLifetime(store) {}
    }

    @Test func aDatabaseOthersCanReadIsRefusedAndLeftAsItIs() throws {
        let root = NSTemporaryDirectory() + "overlay-dbfile-" + SecureRandom.hex(6)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let path = root + "/state.db"
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644])
        let e = #expect(throws: StoreFileError.self) { _ = try Store(path: path) }
        #expect(e?.description.hasPrefix("database \(path) is open to other users (mode 644)") == true)
        #expect(try mode(path) == 0o644)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 0)
    }
}
