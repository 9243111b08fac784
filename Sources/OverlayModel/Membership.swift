/// A network present on a node (the "network resource"): its /64, its WireGuard keys, its port.
public struct Membership: Hashable, Sendable, Codable {
    public var network: String
    public var node: String
    public var subnetID: UInt16
    public var publicKey: WireGuardKey
    /// The private key sealed to the node's X25519 key (crypto_box_seal); never stored in clear.
    public var sealedPrivateKey: [UInt8]
    public var listenPort: UInt16
    /// On a hub: the port of its relay forwarder in this network (from the same range as the
    /// listen ports), which passes a hidden member's WireGuard datagrams on to the other relay hub
    /// when the member's own path to that hub breaks (docs/failover.md). Nil on other members.
    public var relayPort: UInt16?

    public init(
        network: String, node: String, subnetID: UInt16, publicKey: WireGuardKey,
        sealedPrivateKey: [UInt8], listenPort: UInt16, relayPort: UInt16? = nil
    ) {
        self.network = network
        self.node = node
        self.subnetID = subnetID
        self.publicKey = publicKey
        self.sealedPrivateKey = sealedPrivateKey
        self.listenPort = listenPort
        self.relayPort = relayPort
    }
}
