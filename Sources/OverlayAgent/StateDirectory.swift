import Foundation
import Glibc
import OverlayCrypto
import OverlayModel
import SystemCalls

/// The agent's state directory: its identity (0600), the last good plan and the opened keys
/// (0600, see `StateDirectory+Plan.swift`).
public struct StateDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    var identityPath: String { path + "/identity.key" }

    /// Loads the node identity, creating it on first use. Returns whether it was created.
    public func loadOrCreateIdentity() throws -> (identity: Ed25519Identity, created: Bool) {
        if let existing = try loadIdentity() { return (existing, false) }
        try createDirectory()
        let identity = Ed25519Identity.generate()
        try writeSecret(identity.seed, to: identityPath)
        return (identity, true)
    }

    public func loadIdentity() throws -> Ed25519Identity? {
        try checkDirectory()
        guard let seed = try readSecret(identityPath, upTo: 32) else { return nil }
        guard seed.count == 32 else {
            throw StateDirectoryError.corrupt("\(identityPath) is not a 32-byte Ed25519 seed")
        }
        return try Ed25519Identity(seed: seed)
    }

    /// Refuses a state directory that others may write to: they could plant a plan, a join
    /// record or an identity. (One that others may list is fine: every file in it is 0600.)
    func checkDirectory() throws(StateDirectoryError) {
        var st = stat()
        do throws(SystemCallError) { try systemCall("stat", path) { stat(path, &st) } } catch
            where error.errno == .ENOENT
        {
            return
        } catch {
            throw .io(error)
        }
        guard st.st_mode & 0o022 == 0 else {
            throw .exposed(path, mode: st.st_mode & 0o7777, fix: "chmod 700 \(path)")
        }
    }

    func createDirectory() throws {
        try Self.makeDirectory(path)
    }

    /// `mkdir` 0700; one that exists already is fine.
    static func makeDirectory(_ path: String) throws(StateDirectoryError) {
        do throws(SystemCallError) { try systemCall("mkdir", path) { mkdir(path, 0o700) } } catch
            where error.errno == .EEXIST
        {} catch {
            throw .io(error)
        }
    }

    /// Writes secret bytes to a new 0600 file atomically (temp file, fsync, rename).
    func writeSecret(_ secret: SecretKey, to target: String) throws(StateDirectoryError) {
        let tmp = target + ".tmp"
        do throws(SystemCallError) {
            // A fresh file: a stale one left by a crash could carry a looser mode into the rename.
            unlink(tmp)
            let fd = try systemCall("create", tmp) { open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
            defer { close(fd) }
            let written = try systemCall("write", tmp) { secret.withBytes { write(fd, $0.baseAddress, $0.count) } }
            guard written == secret.count else { throw SystemCallError(call: "write", object: tmp, errno: .EIO) }
            try systemCall("fsync", tmp) { fsync(fd) }
            try systemCall("rename", "\(tmp) to \(target)") { rename(tmp, target) }
        } catch {
            unlink(tmp)
            throw .io(error)
        }
    }

    /// The bytes of a secret file (at most `limit`), or nil when there is no such file. A file that
    /// others may read is refused: the secret in it may be known.
    func readSecret(_ file: String, upTo limit: Int = 64) throws(StateDirectoryError) -> SecretKey? {
        let fd: Int32
        do throws(SystemCallError) { fd = try systemCall("open", file) { open(file, O_RDONLY | O_CLOEXEC) } } catch
            where error.errno == .ENOENT
        {
            return nil
        } catch {
            throw .io(error)
        }
        defer { close(fd) }
        var st = stat()
        do throws(SystemCallError) { try systemCall("fstat", file) { fstat(fd, &st) } } catch { throw .io(error) }
        guard st.st_mode & 0o077 == 0 else {
            throw .exposed(file, mode: st.st_mode & 0o7777, fix: "chmod 600 \(file), or remove it if it may be known")
        }
        let buffer = SecretKey(count: limit)
        do throws(SystemCallError) {
            let n = try systemCall("read", file) { buffer.withMutableBytes { read(fd, $0.baseAddress, limit) } }
            return buffer.withBytes { SecretKey(copying: $0.prefix(n)) }
        } catch {
            throw .io(error)
        }
    }
}

/// What went wrong with the agent's state directory: a file operation, or content that is not
/// what the agent wrote there.
public enum StateDirectoryError: Error, CustomStringConvertible {
    case io(SystemCallError)
    case corrupt(String)
    /// The sealed key of `network` cannot be opened and the key kept from an earlier plan is not
    /// the one the plan names (the membership was re-keyed): running on would use a stale key.
    case keyMismatch(network: String, planned: WireGuardKey, kept: WireGuardKey)
    /// A secret others may read, or a directory others may write to.
    case exposed(String, mode: mode_t, fix: String)

    public var description: String {
        switch self {
        case .exposed(let path, let mode, let fix):
            "\(path) is open to other users (mode \(String(mode, radix: 8))); refused: \(fix)"
        case .io(let e): e.description
        case .corrupt(let what): what
        case .keyMismatch(let network, let planned, let kept):
            "network \(network): cannot open its sealed private key with this node's identity, and the key kept "
                + "from an earlier plan has public key \(kept), not the planned \(planned) (re-keyed for another "
                + "identity?): join again or re-issue the plan for this node"
        }
    }
}
