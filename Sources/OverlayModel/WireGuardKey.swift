import Foundation

/// A 32-byte Curve25519 key as WireGuard writes it: 44 characters of base64.
/// Used for public keys and preshared keys; private keys are `SecretKey`.
public struct WireGuardKey: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Accepts exactly the 44-character base64 form (`wg pubkey` output). Decoded by hand: keys
    /// are read for every member of every network the planner sees, and this is 10x Foundation's.
    public init?(base64: some StringProtocol) {
        var text = String(base64)
        guard let decoded = text.withUTF8(WireGuardKey.decode) else { return nil }
        self.bytes = decoded
    }

    private static func decode(_ chars: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard chars.count == 44, chars[43] == UInt8(ascii: "=") else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        var acc: UInt32 = 0
        for k in 0..<43 {
            guard let v = sextet(chars[k]) else { return nil }
            acc = acc << 6 | UInt32(v)
            if k % 4 == 3 {
                let at = k / 4 * 3
                out[at] = UInt8(truncatingIfNeeded: acc >> 16)
                out[at + 1] = UInt8(truncatingIfNeeded: acc >> 8)
                out[at + 2] = UInt8(truncatingIfNeeded: acc)
                acc = 0
            }
        }
        // 43 characters = 10 full groups (30 bytes) + 3 characters: 2 bytes and 2 zero bits.
        guard acc & 0b11 == 0 else { return nil }
        out[30] = UInt8(truncatingIfNeeded: acc >> 10)
        out[31] = UInt8(truncatingIfNeeded: acc >> 2)
        return out
    }

    private static func sextet(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }

    public var base64: String { Data(bytes).base64EncodedString() }

    /// Lowercase hex, as the UAPI protocol writes keys.
    public var hex: String { bytes.map { String(format: "%02x", $0) }.joined() }

    public init?(hex: some StringProtocol) {
        // Only hex digits: UInt8(_:radix:) alone would also take a sign ("+f", "-0").
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit), hex.allSatisfy(\.isASCII) else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(32)
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
            out.append(b)
            i = j
        }
        self.bytes = out
    }

    public var description: String { base64 }
}

extension WireGuardKey: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = WireGuardKey(base64: text) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "'\(text)' is not a base64 WireGuard key (44 characters, 32 bytes)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(base64)
    }
}
