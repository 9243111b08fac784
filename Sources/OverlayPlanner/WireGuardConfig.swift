import OverlayModel

/// wg-quick configuration text.
public enum WireGuardConfig {
    /// An access peer's file: its address in the access /64 (and the access /24), the whole /48
    /// (and the IPv4 prefix) through its hub.
    public static func accessPeer(
        privateKeyBase64: String, address: IPv6Address, ipv4Address: IPv4Address? = nil, mtu: Int, hubName: String,
        hubKey: WireGuardKey, hubEndpoint: Endpoint, network: IPv6Prefix, ipv4Network: IPv4Prefix? = nil
    ) -> String {
        let addresses = ["\(address)/128"] + (ipv4Address.map { ["\($0)/32"] } ?? [])
        let allowed = [network.description] + (ipv4Network.map { [$0.description] } ?? [])
        return """
            [Interface]
            PrivateKey = \(privateKeyBase64)
            Address = \(addresses.joined(separator: ", "))
            MTU = \(mtu)

            [Peer]
            # hub \(hubName)
            PublicKey = \(hubKey.base64)
            Endpoint = \(hubEndpoint)
            AllowedIPs = \(allowed.joined(separator: ", "))
            PersistentKeepalive = \(Topology.hiddenKeepalive)

            """
    }
}
