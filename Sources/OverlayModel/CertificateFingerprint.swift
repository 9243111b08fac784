/// The SHA-256 digest of a certificate's DER bytes: what a client pins instead of trusting a
/// certificate authority. Written `sha256:` and 64 hex digits; in a join token as 43 characters of
/// URL-safe base64.
public struct CertificateFingerprint: Hashable, Sendable, CustomStringConvertible, Codable {
    public let bytes: [UInt8]

    /// - Precondition: `bytes` has 32 bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a SHA-256 fingerprint has 32 bytes")
        self.bytes = bytes
    }

    /// `sha256:HEX`, as overlayd prints it and the flags take it.
    public var description: String {
        "sha256:" + bytes.map { Self.hexDigit($0 >> 4) + Self.hexDigit($0 & 15) }.joined()
    }

    static let allowed =
        "sha256: followed by 64 hex digits (colons between byte pairs allowed), as 'overlayd tls fingerprint' prints it"

    /// Parses `sha256:HEX` (upper or lower case; `AB:CD:...` as openssl prints it is accepted too).
    public init(parsing text: String) throws {
        var rest = Substring(text)
        if rest.lowercased().hasPrefix("sha256:") { rest = rest.dropFirst(7) }
        let digits = rest.filter { $0 != ":" }
        guard digits.count == 64, digits.allSatisfy(\.isHexDigit) else {
            throw ValidationError("certificate fingerprint", text, allowed: Self.allowed)
        }
        var out: [UInt8] = []
        var i = digits.startIndex
        while i < digits.endIndex {
            let j = digits.index(i, offsetBy: 2)
            out.append(UInt8(digits[i..<j], radix: 16)!)
            i = j
        }
        self.init(bytes: out)
    }

    /// 43 characters of URL-safe base64 without padding: the form a join token carries.
    public var tokenForm: String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var out = ""
        var bits = 0
        var acc = 0
        for b in bytes {
            acc = (acc << 8) | Int(b)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[(acc >> bits) & 63])
            }
        }
        if bits > 0 { out.append(alphabet[(acc << (6 - bits)) & 63]) }
        return out
    }

    /// The fingerprint from its token form; nil when `text` is not one.
    public init?(tokenForm text: String) {
        guard text.count == 43 else { return nil }
        var acc = 0
        var bits = 0
        var out: [UInt8] = []
        for c in text.utf8 {
            let v: Int
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = Int(c) - 65
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = Int(c) - 97 + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = Int(c) - 48 + 52
            case UInt8(ascii: "-"): v = 62
            case UInt8(ascii: "_"): v = 63
            default: return nil
            }
            acc = (acc << 6) | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> bits) & 0xFF))
            }
        }
        // 43 characters hold 258 bits: the last two must be zero for a canonical form.
        guard out.count == 32, acc & ((1 << bits) - 1) == 0 else { return nil }
        self.init(bytes: out)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    private static func hexDigit(_ v: UInt8) -> String { String(v, radix: 16) }
}
