import OverlayModel

/// What a peer should look like: the part of a peer the agent decides.
public struct PeerConfig: Hashable, Sendable {
    public var publicKey: WireGuardKey
    /// Nil: no preshared key.
    public var presharedKey: WireGuardKey?
    /// Nil: the peer dials us (hidden node, access peer); WireGuard learns the endpoint.
    public var endpoint: Endpoint?
    public var allowedIPs: [IPPrefix]
    /// Seconds; 0 is off.
    public var persistentKeepalive: UInt16

    public init(
        publicKey: WireGuardKey, presharedKey: WireGuardKey? = nil, endpoint: Endpoint? = nil,
        allowedIPs: [IPPrefix] = [], persistentKeepalive: UInt16 = 0
    ) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.persistentKeepalive = persistentKeepalive
    }
}

/// What an interface should look like. Nil device fields mean "leave as it is".
public struct DeviceConfig: Sendable {
    public var privateKey: SecretKey?
    public var listenPort: UInt16?
    public var fwmark: UInt32?
    public var peers: [PeerConfig]

    public init(
        privateKey: SecretKey? = nil, listenPort: UInt16? = nil, fwmark: UInt32? = nil, peers: [PeerConfig] = []
    ) {
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.fwmark = fwmark
        self.peers = peers
    }
}

extension WireGuardKey {
    /// All zeros: what both UAPI and netlink take to mean "no preshared key".
    public static let zero = WireGuardKey(bytes: [UInt8](repeating: 0, count: 32))!

    var isZero: Bool { bytes.allSatisfy { $0 == 0 } }
}
