/// An IPv6 network prefix: host bits are always zero. Networks are /48s, node subnets /64s.
public struct IPv6Prefix: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let network: IPv6Address
    public let length: UInt8

    /// Nil when the length exceeds 128 or host bits are set.
    public init?(network: IPv6Address, length: UInt8) {
        guard length <= 128 else { return nil }
        let masked = IPv6Prefix.mask(network, length)
        guard masked == network else { return nil }
        self.network = network
        self.length = length
    }

    /// Parses `ADDR/LEN` with host bits zero.
    public init?(_ text: String) {
        guard text.utf8.contains(UInt8(ascii: "/")), let p = IPPrefix(text), case .v6(let a) = p.address else {
            return nil
        }
        self.init(network: a, length: p.length)
    }

    static func mask(_ a: IPv6Address, _ length: UInt8) -> IPv6Address {
        let l = Int(length)
        let highMask: UInt64 = l >= 64 ? .max : (l == 0 ? 0 : ~(UInt64.max >> l))
        let lowMask: UInt64 = l <= 64 ? 0 : (l >= 128 ? .max : ~(UInt64.max >> (l - 64)))
        return IPv6Address(high: a.high & highMask, low: a.low & lowMask)
    }

    public func contains(_ a: IPv6Address) -> Bool {
        IPv6Prefix.mask(a, length) == network
    }

    public func contains(_ p: IPv6Prefix) -> Bool {
        p.length >= length && contains(p.network)
    }

    public func overlaps(_ p: IPv6Prefix) -> Bool {
        contains(p) || p.contains(self)
    }

    /// The `index`-th sub-prefix of length `newLength` (e.g. /64 number 3 of a /48).
    public func subnet(_ index: UInt64, length newLength: UInt8) -> IPv6Prefix? {
        guard newLength >= length, newLength <= 128 else { return nil }
        let bits = Int(newLength - length)
        guard bits == 64 || index < (UInt64(1) << UInt64(bits)) else { return nil }
        // Shift index into position just above the new host bits.
        let shift = 128 - Int(newLength)
        var high = network.high
        var low = network.low
        if shift >= 64 {
            high |= index << UInt64(shift - 64)
        } else {
            low |= index << UInt64(shift)
            if shift > 0 { high |= index >> UInt64(64 - shift) }
        }
        return IPv6Prefix(network: IPv6Address(high: high, low: low), length: newLength)
    }

    public var asIPPrefix: IPPrefix { IPPrefix(address: .v6(network), length: length)! }

    public var description: String { "\(network)/\(length)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.network, a.length) < (b.network, b.length)
    }
}

extension IPv6Prefix: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = IPv6Prefix(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an IPv6 network prefix"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
