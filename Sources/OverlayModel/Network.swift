/// A tenant deployment's private overlay: one ULA /48.
public struct Network: Hashable, Sendable, Codable {
    public var name: String
    /// 8 lowercase hex characters, used in interface and namespace names.
    public var id: String
    public var prefix: IPv6Prefix
    public var mtu: Int

    public static let defaultMTU = 1420
    /// IPv6 needs at least 1280; above 9000 no underlay carries it.
    public static let mtuRange = 1280...9000

    public init(name: String, id: String, prefix: IPv6Prefix, mtu: Int = Network.defaultMTU) {
        self.name = name
        self.id = id
        self.prefix = prefix
        self.mtu = mtu
    }

    /// The names of what a node builds for this network.
    public var namespaceName: String { "ovl-\(id)" }
    public var interfaceName: String { "wg-\(id)" }
    public var bridgeName: String { "br-\(id)" }

    /// Checks a user-given prefix: a /48 inside fd00::/8 (RFC 4193 locally assigned ULA).
    public static func validatePrefix(_ text: String) throws -> IPv6Prefix {
        let allowed = "an IPv6 /48 inside fd00::/8 with host bits zero, e.g. fd12:3456:789a::/48"
        guard let p = IPv6Prefix(text), p.length == 48, AddressPlan.ula.contains(p) else {
            throw ValidationError("prefix", text, allowed: allowed)
        }
        return p
    }

    public static func validateMTU(_ value: Int) throws -> Int {
        guard mtuRange.contains(value) else {
            throw ValidationError("mtu", String(value), allowed: "an integer from 1280 to 9000")
        }
        return value
    }

    public static func validateID(_ text: String) throws -> String {
        guard text.utf8.count == 8,
            text.utf8.allSatisfy({
                ("0"..."9").contains(Character(UnicodeScalar($0))) || ("a"..."f").contains(Character(UnicodeScalar($0)))
            })
        else {
            throw ValidationError("network id", text, allowed: "8 lowercase hex characters")
        }
        return text
    }
}
