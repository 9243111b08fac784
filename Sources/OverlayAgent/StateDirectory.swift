import Foundation
import Glibc
import OverlayCrypto
import OverlayModel

/// The agent's state directory: its identity (0600), the last good plan and the opened keys
/// (0600, see `StateDirectory+Plan.swift`).
public struct StateDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    var identityPath: String { path + "/identity.key" }

    public enum Failure: Error, CustomStringConvertible {
        case io(String, Int32)
        case corrupt(String)

        public var description: String {
            switch self {
            case .io(let what, let e): "\(what): \(String(cString: strerror(e)))"
            case .corrupt(let what): what
            }
        }
    }

    /// Loads the node identity, creating it on first use. Returns whether it was created.
    public func loadOrCreateIdentity() throws -> (identity: Ed25519Identity, created: Bool) {
        if let existing = try loadIdentity() { return (existing, false) }
        try createDirectory()
        let identity = Ed25519Identity.generate()
        try writeSecret(identity.seed, to: identityPath)
        return (identity, true)
    }

    public func loadIdentity() throws -> Ed25519Identity? {
        let fd = open(identityPath, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw Failure.io("open \(identityPath)", errno)
        }
        defer { close(fd) }
        let seed = SecretKey(count: 32)
        let n = seed.withMutableBytes { read(fd, $0.baseAddress, 32) }
        guard n == 32 else { throw Failure.corrupt("\(identityPath) is not a 32-byte Ed25519 seed") }
        return try Ed25519Identity(seed: seed)
    }

    func createDirectory() throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw Failure.io("mkdir \(path)", errno) }
    }

    /// Writes secret bytes to a new 0600 file atomically (temp file, fsync, rename).
    func writeSecret(_ secret: SecretKey, to target: String) throws {
        let tmp = target + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure.io("create \(tmp)", errno) }
        let written = secret.withBytes { write(fd, $0.baseAddress, $0.count) }
        let ok = written == secret.count && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, target) == 0 else {
            unlink(tmp)
            throw Failure.io("write \(target)", errno)
        }
    }
}
