import OverlayModel

/// wg-quick configuration text.
public enum WireGuardConfig {
    /// An access peer's file: its address in the access /64, the whole /48 through its hub.
    public static func accessPeer(
        privateKeyBase64: String, address: IPv6Address, mtu: Int, hubName: String,
        hubKey: WireGuardKey, hubEndpoint: Endpoint, network: IPv6Prefix
    ) -> String {
        """
        [Interface]
        PrivateKey = \(privateKeyBase64)
        Address = \(address)/128
        MTU = \(mtu)

        [Peer]
        # hub \(hubName)
        PublicKey = \(hubKey.base64)
        Endpoint = \(hubEndpoint)
        AllowedIPs = \(network)
        PersistentKeepalive = \(Topology.hiddenKeepalive)

        """
    }
}
