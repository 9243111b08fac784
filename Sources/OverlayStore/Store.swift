import Foundation
import GRDB
import OverlayModel

/// The desired state in one SQLite file (WAL mode). Every command runs in one write transaction;
/// an error anywhere rolls the whole command back.
public final class Store: Sendable {
    let pool: DatabasePool

    /// Opens (creating when missing) the database at `path` and migrates it to the current schema.
    public init(path: String) throws {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let existed = FileManager.default.fileExists(atPath: path)
        pool = try DatabasePool(path: path, configuration: config)
        if !existed { chmod(path, 0o600) }
        try Schema.migrator.migrate(pool)
    }

    public func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        try pool.write { db in try body(Transaction(db: db)) }
    }

    public func read<T>(_ body: (Transaction) throws -> T) throws -> T {
        try pool.read { db in try body(Transaction(db: db)) }
    }
}

/// One transaction's view of the store: typed reads and writes.
public struct Transaction {
    let db: Database
}
