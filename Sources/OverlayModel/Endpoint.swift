/// A UDP endpoint: an IP literal and a port. Written `192.0.2.1:51820` or `[2001:db8::1]:51820`.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// Parses `192.0.2.1:51820` or `[2001:db8::1]:51820`. A zone (`%eth0`) is dropped: overlay
    /// endpoints are global addresses, never link-local.
    public init?(_ text: String) {
        let text = Substring(text)
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            var host = text[text.index(after: text.startIndex)..<close]
            if let percent = host.firstIndex(of: "%") { host = host[..<percent] }
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()), port > 0, let a = IPv6Address(host) else {
                return nil
            }
            self.init(address: .v6(a), port: port)
        } else {
            guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0,
                let a = IPv4Address(text[..<colon])
            else { return nil }
            self.init(address: .v4(a), port: port)
        }
    }

    public var description: String {
        switch address {
        case .v4(let a): "\(a):\(port)"
        case .v6(let a): "[\(a)]:\(port)"
        }
    }
}

extension Endpoint: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Endpoint(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an endpoint ADDR:PORT"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
