/// A tenant deployment's private overlay: one ULA /48 and, unless created without, a private
/// IPv4 prefix beside it.
public struct Network: Hashable, Sendable, Codable {
    public var name: String
    /// 8 lowercase hex characters, used in interface and namespace names.
    public var id: String
    public var prefix: IPv6Prefix
    public var mtu: Int
    /// Nil for IPv6-only networks (`--no-ipv4`, and every network created before IPv4 existed).
    public var ipv4Prefix: IPv4Prefix?
    /// Whether workloads reach the internet through their node (NAT44, and NAT66 where the node
    /// has public IPv6). Off for networks created before egress existed.
    public var egress: Bool

    public static let defaultMTU = 1420
    /// IPv6 needs at least 1280; above 9000 no underlay carries it.
    public static let mtuRange = 1280...9000

    public init(
        name: String, id: String, prefix: IPv6Prefix, mtu: Int = Network.defaultMTU, ipv4Prefix: IPv4Prefix? = nil,
        egress: Bool = false
    ) {
        self.name = name
        self.id = id
        self.prefix = prefix
        self.mtu = mtu
        self.ipv4Prefix = ipv4Prefix
        self.egress = egress
    }

    enum CodingKeys: String, CodingKey { case name, id, prefix, mtu, ipv4Prefix, egress }

    /// Documents written before IPv4 and egress read as an IPv6-only, sealed network.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        id = try c.decode(String.self, forKey: .id)
        prefix = try c.decode(IPv6Prefix.self, forKey: .prefix)
        mtu = try c.decode(Int.self, forKey: .mtu)
        ipv4Prefix = try c.decodeIfPresent(IPv4Prefix.self, forKey: .ipv4Prefix)
        egress = try c.decodeIfPresent(Bool.self, forKey: .egress) ?? false
    }

    /// The names of what a node builds for this network.
    public var namespaceName: String { "ovl-\(id)" }
    public var interfaceName: String { "wg-\(id)" }
    public var bridgeName: String { "br-\(id)" }
    /// The egress transfer veth: its end in the network namespace and its end in the host.
    public var transferInterfaceName: String { "vx-\(id)" }
    public var transferHostInterfaceName: String { "ovx-\(id)" }

    /// Checks a user-given prefix: a /48 inside fd00::/8 (RFC 4193 locally assigned ULA).
    public static func validatePrefix(_ text: String) throws -> IPv6Prefix {
        let allowed = "an IPv6 /48 inside fd00::/8 with host bits zero, e.g. fd12:3456:789a::/48"
        guard let p = IPv6Prefix(text), p.length == 48, AddressPlan.ula.contains(p) else {
            throw ValidationError("prefix", text, allowed: allowed)
        }
        return p
    }

    /// Checks a user-given IPv4 prefix: private (RFC 1918 or RFC 6598), host bits zero, room for
    /// at least two member /24s beside the unused first one and the access peers' last one.
    public static func validateIPv4Prefix(_ text: String) throws -> IPv4Prefix {
        let lengths = AddressPlan.ipv4Lengths
        let allowed =
            "an IPv4 prefix from /\(lengths.lowerBound) to /\(lengths.upperBound) with host bits zero inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10 but not in 100.127.0.0/16 (the egress transfer links), e.g. 100.64.0.0/16"
        guard let p = IPv4Prefix(text), lengths.contains(p.length),
            AddressPlan.privateIPv4.contains(where: { $0.contains(p) }), !p.overlaps(AddressPlan.transferIPv4)
        else {
            throw ValidationError("ipv4 prefix", text, allowed: allowed)
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
