import OverlayModel

/// One request's worth of changes to an interface: the device fields that change and the peers
/// that change. Everything not named here is left alone, so live tunnels of unchanged peers keep
/// their sessions. An empty change sends nothing.
public struct DeviceChange: Sendable {
    public var privateKey: SecretKey?
    public var listenPort: UInt16?
    /// 0 clears the mark.
    public var fwmark: UInt32?
    /// Drop every peer not named in `peers` first. Never produced by `DeviceChange.between`:
    /// a full replace tears down every session and makes wireguard-go's memory grow.
    public var replacePeers: Bool
    public var peers: [PeerChange]

    public init(
        privateKey: SecretKey? = nil, listenPort: UInt16? = nil, fwmark: UInt32? = nil, replacePeers: Bool = false,
        peers: [PeerChange] = []
    ) {
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.fwmark = fwmark
        self.replacePeers = replacePeers
        self.peers = peers
    }

    public var isEmpty: Bool {
        privateKey == nil && listenPort == nil && fwmark == nil && !replacePeers && peers.isEmpty
    }

    public var hasDeviceFields: Bool { privateKey != nil || listenPort != nil || fwmark != nil || replacePeers }
}

/// What happens to one peer.
public enum PeerChange: Hashable, Sendable {
    /// Create the peer with exactly this configuration (idempotent: an existing peer of that key
    /// gets these fields and exactly these AllowedIPs).
    case add(PeerConfig)
    /// Change only the fields set in the update; the peer must exist.
    case update(PeerUpdate)
    case remove(WireGuardKey)

    public var publicKey: WireGuardKey {
        switch self {
        case .add(let c): c.publicKey
        case .update(let u): u.publicKey
        case .remove(let k): k
        }
    }
}

/// The fields of an existing peer that change; nil fields stay as they are.
public struct PeerUpdate: Hashable, Sendable {
    public var publicKey: WireGuardKey
    /// `WireGuardKey.zero` removes the preshared key.
    public var presharedKey: WireGuardKey?
    public var endpoint: Endpoint?
    /// Replaces the peer's whole AllowedIPs list (an empty list clears it).
    public var allowedIPs: [IPPrefix]?
    public var persistentKeepalive: UInt16?

    public init(
        publicKey: WireGuardKey, presharedKey: WireGuardKey? = nil, endpoint: Endpoint? = nil,
        allowedIPs: [IPPrefix]? = nil, persistentKeepalive: UInt16? = nil
    ) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.persistentKeepalive = persistentKeepalive
    }

    public var isEmpty: Bool {
        presharedKey == nil && endpoint == nil && allowedIPs == nil && persistentKeepalive == nil
    }
}
