import Foundation
import Glibc
import OverlayHTTPClient
import OverlayModel

/// What an agent remembers about its controller after joining: where it is, which node it is
/// there, and the controller's Ed25519 key pinned at join. Plans are only accepted under that
/// key; nothing ever re-pins it silently (a new key needs a new join with a new token).
public struct ControllerLink: Codable, Equatable, Sendable {
    /// Base URL, e.g. `http://192.0.2.10:7800`.
    public var url: String
    /// The node this identity was registered as.
    public var node: String
    /// The controller's Ed25519 public key, base64 (32 bytes).
    public var controllerKey: String
    /// The fingerprints of the HTTPS certificates pinned (from the join token, then announced in
    /// signed plans); absent when the controller is trusted through certificate authorities or
    /// spoken to over plain HTTP.
    public var tlsFingerprints: [CertificateFingerprint]?

    public init(url: String, node: String, controllerKey: String, tlsFingerprints: [CertificateFingerprint]? = nil) {
        self.url = url
        self.node = node
        self.controllerKey = controllerKey
        self.tlsFingerprints = tlsFingerprints
    }

    /// How the controller's certificate is checked: by the pinned fingerprints when there are
    /// any, else by the system's certificate authorities.
    public var trust: ControllerTrust {
        if let f = tlsFingerprints, !f.isEmpty { return .pinned(f) }
        return .system
    }

    /// The pinned key's raw bytes; nil when the record holds something else.
    public var pinnedKey: [UInt8]? {
        guard let d = Data(base64Encoded: controllerKey), d.count == 32 else { return nil }
        return Array(d)
    }

    /// Checks a base URL given on the command line or stored: `http(s)://host[:port]`, no path
    /// beyond `/`, no query, no credentials.
    public static func validateURL(_ text: String) throws -> String {
        let allowed = "http://HOST[:PORT] or https://HOST[:PORT] (no path, query or credentials)"
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = c.host, !host.isEmpty, c.user == nil, c.password == nil, c.query == nil, c.fragment == nil,
            c.path.isEmpty || c.path == "/"
        else { throw ValidationError("controller URL", text, allowed: allowed) }
        if let p = c.port, !(1...65535).contains(p) { throw ValidationError("controller URL", text, allowed: allowed) }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}

extension StateDirectory {
    var controllerPath: String { path + "/controller.json" }

    /// The join record, or nil when this agent never joined a controller.
    public func controllerLink() throws -> ControllerLink? {
        guard let data = FileManager.default.contents(atPath: controllerPath) else { return nil }
        let link: ControllerLink
        do { link = try JSONDecoder().decode(ControllerLink.self, from: data) } catch {
            throw StateDirectoryError.corrupt("\(controllerPath) is not a controller record: \(error)")
        }
        guard link.pinnedKey != nil else {
            throw StateDirectoryError.corrupt("\(controllerPath): the pinned key is not 32 bytes of base64")
        }
        return link
    }

    /// Keeps the join record (0600, written atomically).
    public func saveControllerLink(_ link: ControllerLink) throws {
        try createDirectory()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try writeSecret(SecretKey(copying: try encoder.encode(link)), to: controllerPath)
    }
}
