import Foundation

/// A machine that runs workloads, identified by its Ed25519 public key.
public struct Node: Hashable, Sendable, Codable {
    public var name: String
    /// Ed25519 public key, 32 bytes; empty while the node has not joined yet.
    public var identity: [UInt8]
    /// Public IP addresses; empty means hidden behind NAT.
    public var publicAddresses: [IPAddress]
    public var listenPorts: ClosedRange<UInt16>
    public var region: String?
    public var hub: Bool
    public var gateway: Bool
    public var domain: String?

    public static let defaultListenPorts: ClosedRange<UInt16> = 51820...52819

    public init(
        name: String, identity: [UInt8], publicAddresses: [IPAddress] = [],
        listenPorts: ClosedRange<UInt16> = Node.defaultListenPorts, region: String? = nil,
        hub: Bool = false, gateway: Bool = false, domain: String? = nil
    ) {
        self.name = name
        self.identity = identity
        self.publicAddresses = publicAddresses
        self.listenPorts = listenPorts
        self.region = region
        self.hub = hub
        self.gateway = gateway
        self.domain = domain
    }

    public var isHidden: Bool { publicAddresses.isEmpty }

    /// Whether the node has an identity (given to `node add`, or registered when it joined).
    public var hasJoined: Bool { identity.count == 32 }

    public var identityBase64: String { Data(identity).base64EncodedString() }

    /// An Ed25519 public key in base64 (32 bytes).
    public static func parseIdentity(_ text: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: text), data.count == 32 else {
            throw ValidationError(
                "identity", text,
                allowed: "an Ed25519 public key: 32 bytes in base64 (44 characters), as printed by 'overlay-agent init'"
            )
        }
        return Array(data)
    }

    /// A public address: an IP literal that is globally routable in form (not loopback, link-local,
    /// multicast, unspecified or a ULA, which cannot be reached across the internet).
    public static func parsePublicAddress(_ text: String) throws -> IPAddress {
        let allowed =
            "an IPv4 or IPv6 address that other nodes can reach (not loopback, link-local, multicast, unspecified or ULA)"
        guard let a = IPAddress(text) else { throw ValidationError("public address", text, allowed: allowed) }
        switch a {
        case .v4(let v4):
            let first = v4.value >> 24
            if first == 0 || first == 127 || first >= 224 || v4.value >> 16 == 0xA9FE {
                throw ValidationError("public address", text, allowed: allowed)
            }
        case .v6(let v6):
            let bad = ["::/128", "::1/128", "fe80::/10", "ff00::/8", "fc00::/7"].map { IPv6Prefix($0)! }
            if bad.contains(where: { $0.contains(v6) }) {
                throw ValidationError("public address", text, allowed: allowed)
            }
        }
        return a
    }

    /// `FROM-TO` with 1 <= FROM <= TO <= 65535.
    public static func parsePortRange(_ text: String) throws -> ClosedRange<UInt16> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = UInt16(parts[0]), let b = UInt16(parts[1]), a > 0, a <= b,
            String(a) == parts[0], String(b) == parts[1]
        else {
            throw ValidationError(
                "listen ports", text, allowed: "FROM-TO with 1 <= FROM <= TO <= 65535, e.g. 51820-52819")
        }
        return a...b
    }
}
