/// An address with a prefix length, of either family: an interface address (`fd00::1/64`),
/// a route destination or an AllowedIPs entry. Host bits may be set; `masked` clears them.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var length: UInt8

    /// Returns nil when the length is longer than the family allows.
    public init?(address: IPAddress, length: UInt8) {
        guard length <= address.bitWidth else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses `ADDR/LEN`; a bare address means a host prefix (/32 or /128).
    public init?(_ text: String) {
        // By UTF-8 bytes: stored rows are parsed by the thousand, and `split` over a generic
        // `StringProtocol` walks characters.
        guard let slash = text.utf8.firstIndex(of: UInt8(ascii: "/")) else {
            guard let address = IPAddress(text) else { return nil }
            self.init(address: address, length: address.bitWidth)
            return
        }
        let lengthText = text[text.utf8.index(after: slash)...]
        guard let address = IPAddress(text[..<slash]), let n = UInt8(lengthText), String(n) == lengthText else {
            return nil
        }
        self.init(address: address, length: n)
    }

    public static func host(_ address: IPAddress) -> IPPrefix {
        IPPrefix(address: address, length: address.bitWidth)!
    }

    /// The same prefix with its host bits cleared.
    public var masked: IPPrefix {
        var bytes = address.bytes
        for i in 0..<bytes.count {
            let bitsBefore = i * 8
            if bitsBefore >= Int(length) {
                bytes[i] = 0
            } else if bitsBefore + 8 > Int(length) {
                bytes[i] &= UInt8(0xFF) << (8 - (Int(length) - bitsBefore))
            }
        }
        return IPPrefix(address: IPAddress(bytes: bytes)!, length: length)!
    }

    public var isIPv6: Bool { address.isIPv6 }

    public func contains(_ other: IPAddress) -> Bool {
        guard other.isIPv6 == address.isIPv6 else { return false }
        return IPPrefix(address: other, length: length)!.masked == masked
    }

    public var description: String { "\(address)/\(length)" }
}

extension IPPrefix: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = IPPrefix(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an IP prefix"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
