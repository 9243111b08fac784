import Foundation
import OverlayModel

/// A WireGuard interface as read back from the kernel or wireguard-go.
public struct Device: Sendable {
    public var name: String
    /// Nil when the device has no private key yet.
    public var publicKey: WireGuardKey?
    /// Present when the reader was allowed to see it (root); used to tell whether a key must be set.
    public var privateKey: SecretKey?
    /// 0 when none is set and the device has not picked one.
    public var listenPort: UInt16
    /// 0 is none.
    public var fwmark: UInt32
    public var peers: [Peer]

    public init(
        name: String, publicKey: WireGuardKey? = nil, privateKey: SecretKey? = nil, listenPort: UInt16 = 0,
        fwmark: UInt32 = 0, peers: [Peer] = []
    ) {
        self.name = name
        self.publicKey = publicKey
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.fwmark = fwmark
        self.peers = peers
    }

    public func peer(_ key: WireGuardKey) -> Peer? { peers.first { $0.config.publicKey == key } }

    /// A peer as configured plus what the tunnel reports about it.
    public struct Peer: Hashable, Sendable {
        public var config: PeerConfig
        /// Nil when there has never been a handshake.
        public var lastHandshake: Date?
        public var rxBytes: UInt64
        public var txBytes: UInt64

        public init(config: PeerConfig, lastHandshake: Date? = nil, rxBytes: UInt64 = 0, txBytes: UInt64 = 0) {
            self.config = config
            self.lastHandshake = lastHandshake
            self.rxBytes = rxBytes
            self.txBytes = txBytes
        }

        public var publicKey: WireGuardKey { config.publicKey }
        public var endpoint: Endpoint? { config.endpoint }
        public var allowedIPs: [IPPrefix] { config.allowedIPs }
        public var persistentKeepalive: UInt16 { config.persistentKeepalive }
        public var presharedKey: WireGuardKey? { config.presharedKey }
    }

    /// Both protocols report the handshake as seconds + nanoseconds since the epoch, zero for never.
    static func handshakeDate(seconds: Int64, nanoseconds: Int64) -> Date? {
        guard seconds != 0 || nanoseconds != 0 else { return nil }
        return Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9)
    }
}
