import Foundation
import Glibc
import OverlayHTTPClient
import OverlayModel

/// What an agent remembers about its controller after joining: where its replicas are, which
/// node it is there, and the controller's Ed25519 key pinned at join (every replica signs with
/// the same key). Plans are only accepted under that key; nothing ever re-pins it silently (a
/// new key needs a new join with a new token).
public struct ControllerLink: Codable, Equatable, Sendable {
    /// The first replica's base URL, e.g. `http://192.0.2.10:7800`: the whole record of an agent
    /// that knows one controller, kept so that such records stay readable both ways.
    public var url: String
    /// Every replica's base URL, `url` first; a record written with one URL reads as `[url]`.
    public var urls: [String]
    /// The node this identity was registered as.
    public var node: String
    /// The controller's Ed25519 public key, base64 (32 bytes).
    public var controllerKey: String
    /// The fingerprints of the HTTPS certificates pinned (from the join token, then announced in
    /// signed plans); absent when the controller is trusted through certificate authorities or
    /// spoken to over plain HTTP.
    public var tlsFingerprints: [CertificateFingerprint]?

    public init(
        url: String, node: String, controllerKey: String, tlsFingerprints: [CertificateFingerprint]? = nil
    ) {
        self.init(urls: [url], node: node, controllerKey: controllerKey, tlsFingerprints: tlsFingerprints)
    }

    /// - Parameter urls: at least one.
    public init(
        urls: [String], node: String, controllerKey: String, tlsFingerprints: [CertificateFingerprint]? = nil
    ) {
        precondition(!urls.isEmpty, "a controller link needs a URL")
        url = urls[0]
        self.urls = urls
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

    enum CodingKeys: String, CodingKey { case url, urls, node, controllerKey, tlsFingerprints }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let url = try c.decode(String.self, forKey: .url)
        let urls = try c.decodeIfPresent([String].self, forKey: .urls) ?? [url]
        guard urls.first == url else {
            throw DecodingError.dataCorruptedError(
                forKey: .urls, in: c, debugDescription: "the replicas do not start with url \(url)")
        }
        self.init(
            urls: urls, node: try c.decode(String.self, forKey: .node),
            controllerKey: try c.decode(String.self, forKey: .controllerKey),
            tlsFingerprints: try c.decodeIfPresent([CertificateFingerprint].self, forKey: .tlsFingerprints))
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

    /// Checks the replicas' URLs as given (`--controller` repeated, each possibly a comma-separated
    /// list), in order: each one valid and named once.
    public static func validateURLs(_ texts: [String]) throws -> [String] {
        var urls: [String] = []
        for text in texts {
            for part in text.split(separator: ",", omittingEmptySubsequences: false) {
                let url = try validateURL(part.trimmingCharacters(in: .whitespaces))
                guard !urls.contains(url) else {
                    throw ValidationError("controller URL", url, allowed: "each replica named once")
                }
                urls.append(url)
            }
        }
        return urls
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
