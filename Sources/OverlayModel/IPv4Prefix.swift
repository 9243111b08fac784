/// An IPv4 network prefix: host bits are always zero. A network's IPv4 range (a /16 by default)
/// and a node's /24 inside it.
public struct IPv4Prefix: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let network: IPv4Address
    public let length: UInt8

    /// Nil when the length exceeds 32 or host bits are set.
    public init?(network: IPv4Address, length: UInt8) {
        guard length <= 32, network.value & ~IPv4Prefix.mask(length) == 0 else { return nil }
        self.network = network
        self.length = length
    }

    /// Parses `A.B.C.D/LEN` with host bits zero.
    public init?(_ text: String) {
        guard text.utf8.contains(UInt8(ascii: "/")), let p = IPPrefix(text), case .v4(let a) = p.address else {
            return nil
        }
        self.init(network: a, length: p.length)
    }

    static func mask(_ length: UInt8) -> UInt32 {
        length == 0 ? 0 : ~UInt32(0) << UInt32(32 - Int(length))
    }

    public func contains(_ a: IPv4Address) -> Bool {
        a.value & IPv4Prefix.mask(length) == network.value
    }

    public func contains(_ p: IPv4Prefix) -> Bool {
        p.length >= length && contains(p.network)
    }

    public func overlaps(_ p: IPv4Prefix) -> Bool {
        contains(p) || p.contains(self)
    }

    /// How many sub-prefixes of `newLength` it holds (nil when `newLength` is shorter).
    public func count(of newLength: UInt8) -> UInt64? {
        guard newLength >= length, newLength <= 32 else { return nil }
        return UInt64(1) << UInt64(newLength - length)
    }

    /// The `index`-th sub-prefix of length `newLength` (e.g. /24 number 3 of a /16).
    public func subnet(_ index: UInt64, length newLength: UInt8) -> IPv4Prefix? {
        guard let n = count(of: newLength), index < n else { return nil }
        let shifted = UInt64(network.value) | index << UInt64(32 - Int(newLength))
        return IPv4Prefix(network: IPv4Address(UInt32(truncatingIfNeeded: shifted)), length: newLength)
    }

    /// The address `number` places above the network address, when it lies inside the prefix.
    public func host(_ number: UInt64) -> IPv4Address? {
        guard let n = count(of: 32), number < n else { return nil }
        return IPv4Address(network.value + UInt32(number))
    }

    public var asIPPrefix: IPPrefix { IPPrefix(address: .v4(network), length: length)! }

    public var description: String { "\(network)/\(length)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.network, a.length) < (b.network, b.length)
    }
}

extension IPv4Prefix: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = IPv4Prefix(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an IPv4 network prefix"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
