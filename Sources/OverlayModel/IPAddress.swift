/// An address of either family, for the places (endpoints, kernel objects) that take both.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public init?(_ text: String) {
        // Only IPv6 text has a colon: parse once, in the right family.
        // Searched in the contiguous bytes: `utf8.contains` walks a view's iterator, and stored
        // addresses are parsed by the thousand.
        let colon = UInt8(ascii: ":")
        if text.utf8.withContiguousStorageIfAvailable({ $0.contains(colon) }) ?? text.utf8.contains(colon) {
            guard let a = IPv6Address(text) else { return nil }
            self = .v6(a)
        } else {
            guard let a = IPv4Address(text) else { return nil }
            self = .v4(a)
        }
    }

    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: self = .v4(IPv4Address(bytes: bytes)!)
        case 16: self = .v6(IPv6Address(bytes: bytes)!)
        default: return nil
        }
    }

    public var bytes: [UInt8] {
        switch self {
        case .v4(let a): a.bytes
        case .v6(let a): a.bytes
        }
    }

    public var isIPv6: Bool {
        if case .v6 = self { true } else { false }
    }

    /// The number of bits in an address of this family.
    public var bitWidth: UInt8 { isIPv6 ? 128 : 32 }

    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }
}

extension IPAddress: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = IPAddress(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an IP address"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
