import Foundation

/// A 32-byte Curve25519 key as WireGuard writes it: 44 characters of base64.
/// Used for public keys and preshared keys; private keys are `SecretKey`.
public struct WireGuardKey: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Accepts exactly the 44-character base64 form (`wg pubkey` output).
    public init?(base64: some StringProtocol) {
        guard base64.count == 44, base64.hasSuffix("="),
            let data = Data(base64Encoded: String(base64)), data.count == 32
        else { return nil }
        self.bytes = Array(data)
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
                .init(codingPath: decoder.codingPath,
                      debugDescription: "'\(text)' is not a base64 WireGuard key (44 characters, 32 bytes)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(base64)
    }
}
