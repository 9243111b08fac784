import Glibc

/// A 128-bit IPv6 address, held as two big-endian halves so that ordering and arithmetic
/// are plain integer operations.
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// From 16 bytes in network order.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
        }
        self.init(high: h, low: l)
    }

    /// Parses the textual forms of RFC 4291 (no zone, no brackets).
    public init?(_ text: String) {
        var raw = in6_addr()
        let ok = text.withCString { inet_pton(AF_INET6, $0, &raw) } == 1
        guard ok else { return nil }
        let (h, l) = withUnsafeBytes(of: &raw) { b in
            (0..<8).reduce((UInt64(0), UInt64(0))) { ($0.0 << 8 | UInt64(b[$1]), $0.1 << 8 | UInt64(b[8 + $1])) }
        }
        self.init(high: h, low: l)
    }

    /// The 16 bytes in network order.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            out[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * i))
            out[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * i))
        }
        return out
    }

    /// RFC 5952 canonical text.
    public var description: String {
        var raw = in6_addr()
        withUnsafeMutableBytes(of: &raw) { dst in
            for i in 0..<8 {
                dst[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * i))
                dst[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * i))
            }
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN)) { buffer in
            _ = inet_ntop(AF_INET6, &raw, buffer.baseAddress, socklen_t(buffer.count))
            return String(cString: buffer.baseAddress!)
        }
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }

    /// The address `n` above this one (wrapping within 128 bits).
    public func adding(_ n: UInt64) -> IPv6Address {
        let (l, carry) = low.addingReportingOverflow(n)
        return IPv6Address(high: carry ? high &+ 1 : high, low: l)
    }
}

extension IPv6Address: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = IPv6Address(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an IPv6 address"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
