import Foundation
import GRDB
import OverlayModel
import SystemCalls

/// The desired state in one SQLite file (WAL mode). Every command runs in one write transaction;
/// an error anywhere rolls the whole command back.
public final class Store: Sendable {
    let pool: DatabasePool

    /// Opens (creating when missing) the database at `path` and migrates it to the current schema.
    public init(path: String) throws {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        // Reads are short; each reader connection keeps its own page cache (up to 2 MB), so two
        // in parallel are enough and keep the controller's memory what it was with one thread.
        config.maximumReaderCount = 2
        try Self.prepareFile(path)
        pool = try DatabasePool(path: path, configuration: config)
        try Schema.migrator.migrate(pool)
    }

    /// The database holds sealed keys and token hashes. Missing parent directories are made
    /// 0700 and a new file 0600 before SQLite opens it (its -wal and -shm files take the file's
    /// mode), whatever the umask; an existing file that others may read is refused.
    static func prepareFile(_ path: String) throws(StoreFileError) {
        let parent = (path as NSString).deletingLastPathComponent
        var dir = parent.hasPrefix("/") ? "/" : ""
        for part in parent.split(separator: "/") {
            dir += part
            do throws(SystemCallError) { try systemCall("mkdir", dir) { mkdir(dir, 0o700) } } catch
                where error.errno == .EEXIST
            {} catch {
                throw .io(error)
            }
            dir += "/"
        }
        do throws(SystemCallError) {
            let fd = try systemCall("create", path) { open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
            close(fd)
            return
        } catch  where error.errno == .EEXIST {
        } catch {
            throw .io(error)
        }
        var st = stat()
        do throws(SystemCallError) { try systemCall("stat", path) { stat(path, &st) } } catch { throw .io(error) }
        guard st.st_mode & 0o077 == 0 else { throw .exposed(path, mode: st.st_mode & 0o7777) }
    }

    public func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        try pool.write { db in try body(Transaction(db: db)) }
    }

    public func read<T>(_ body: (Transaction) throws -> T) throws -> T {
        try pool.read { db in try body(Transaction(db: db)) }
    }
}

/// Why the database file could not be opened safely.
public enum StoreFileError: Error, CustomStringConvertible {
    case io(SystemCallError)
    /// Others may read it: it holds sealed keys and token hashes.
    case exposed(String, mode: mode_t)

    public var description: String {
        switch self {
        case .io(let e): e.description
        case .exposed(let path, let mode):
            "database \(path) is open to other users (mode \(String(mode, radix: 8))); it holds sealed keys and "
                + "token hashes: chmod 600 \(path) (and its -wal and -shm files)"
        }
    }
}

/// One transaction's view of the store: typed reads and writes.
public struct Transaction {
    let db: Database
}
