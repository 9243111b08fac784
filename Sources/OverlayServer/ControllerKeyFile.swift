import Foundation
import OverlayCrypto
import OverlayModel
import SystemCalls

/// The controller's Ed25519 signing key: a 32-byte seed in a 0600 file of its own, never in the
/// database (a copied database does not let anyone sign plans).
public enum ControllerKeyFile {
    /// Loads the key at `path`, creating it (0600) when the file does not exist.
    public static func loadOrCreate(path: String) throws -> (key: Ed25519Identity, created: Bool) {
        var st = stat()
        do throws(SystemCallError) { try systemCall("stat", path) { stat(path, &st) } } catch
            where error.errno == .ENOENT
        {
            return (try create(path), true)
        } catch {
            throw ControllerKeyFileError(description: "cannot read the controller key: \(error)")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw ControllerKeyFileError(
                description:
                    "\(path) is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        let seed = SecretKey(count: 32)
        let n: Int
        do throws(SystemCallError) {
            let fd = try systemCall("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
            defer { close(fd) }
            n = try systemCall("read", path) { seed.withMutableBytes { read(fd, $0.baseAddress, 32) } }
        } catch {
            throw ControllerKeyFileError(description: "cannot read the controller key: \(error)")
        }
        guard n == 32 else { throw ControllerKeyFileError(description: "\(path) is not a 32-byte Ed25519 seed") }
        return (try Ed25519Identity(seed: seed), false)
    }

    private static func create(_ path: String) throws(ControllerKeyFileError) -> Ed25519Identity {
        let key = Ed25519Identity.generate()
        do throws(SystemCallError) {
            let fd = try systemCall("create", path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
            defer { close(fd) }
            let n = try systemCall("write", path) { key.seed.withBytes { write(fd, $0.baseAddress, $0.count) } }
            guard n == 32 else { throw SystemCallError(call: "write", object: path, errno: .EIO) }
            try systemCall("fsync", path) { fsync(fd) }
        } catch {
            throw ControllerKeyFileError(description: "cannot create the controller key: \(error)")
        }
        return key
    }
}

/// `ADDR:PORT`, `[IPv6]:PORT`.
public enum ListenAddress {
    public static func parse(_ text: String) throws -> (host: String, port: Int) {
        let bad = ValidationError(
            "listen address", text, allowed: "ADDR:PORT, e.g. 127.0.0.1:8470 or [::]:8470 (port 0-65535)")
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw bad
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard IPAddress(String(host)) != nil else { throw bad }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw bad }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.isEmpty, !host.contains(":") else { throw bad }
        }
        guard let port = Int(portText), (0...65535).contains(port), String(port) == portText else { throw bad }
        return (String(host), port)
    }
}

/// Why the controller's signing key cannot be loaded or created.
public struct ControllerKeyFileError: Error, CustomStringConvertible {
    public var description: String
}
