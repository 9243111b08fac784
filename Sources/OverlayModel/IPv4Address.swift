import Glibc

/// A 32-bit IPv4 address in host integer form.
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 4 else { return nil }
        self.value = bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Dotted-quad only (inet_pton's strict form: no octal, no shorthand).
    public init?(_ text: String) {
        var raw = in_addr()
        guard text.withCString({ inet_pton(AF_INET, $0, &raw) }) == 1 else { return nil }
        self.value = UInt32(bigEndian: raw.s_addr)
    }

    public var bytes: [UInt8] {
        [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }
    }

    public var description: String {
        bytes.map(String.init).joined(separator: ".")
    }

    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }
}

extension IPv4Address: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = IPv4Address(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an IPv4 address"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
