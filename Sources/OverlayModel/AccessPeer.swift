/// A person's device dialling into a network through a hub.
public struct AccessPeer: Hashable, Sendable, Codable {
    public var name: String
    public var network: String
    /// Host number in the network's access /64 (subnet ffff).
    public var hostNumber: UInt64
    public var publicKey: WireGuardKey
    public var hub: String

    public init(name: String, network: String, hostNumber: UInt64, publicKey: WireGuardKey, hub: String) {
        self.name = name
        self.network = network
        self.hostNumber = hostNumber
        self.publicKey = publicKey
        self.hub = hub
    }
}
