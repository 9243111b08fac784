import OverlayModel

/// A peer's UDP endpoint: an IP literal and a port. WireGuard itself takes no host names
/// (both UAPI and netlink carry a socket address), so names are resolved before this point.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// Parses `192.0.2.1:51820` or `[2001:db8::1]:51820`. A zone (`%eth0`) is dropped:
    /// overlay endpoints are global or ULA addresses, never link-local.
    public init?(_ text: some StringProtocol) {
        let text = Substring(text)
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            var host = text[text.index(after: text.startIndex)..<close]
            if let percent = host.firstIndex(of: "%") { host = host[..<percent] }
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()), let a = IPv6Address(host) else {
                return nil
            }
            self.init(address: .v6(a), port: port)
        } else {
            guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]),
                let a = IPv4Address(text[..<colon])
            else { return nil }
            self.init(address: .v4(a), port: port)
        }
    }

    /// `host:port`, with brackets around IPv6 as both `wg` and wireguard-go expect.
    public var description: String {
        switch address {
        case .v4(let a): "\(a):\(port)"
        case .v6(let a): "[\(a)]:\(port)"
        }
    }
}
