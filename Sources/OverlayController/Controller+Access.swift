import OverlayCrypto
import OverlayModel
import OverlayPlanner
import OverlayStore

extension Controller {
    public struct AccessGrant: Sendable {
        public var peer: AccessPeer
        public var address: IPv6Address
        /// In the last /24 of the network's IPv4 prefix; nil in an IPv6-only network.
        public var ipv4Address: IPv4Address?
        /// The wg-quick file for the device. When the key pair was generated here, this is the only
        /// place its private key ever appears.
        public var wgQuick: String
    }

    /// Lets a device into a network through a hub. Without `publicKey` a key pair is generated and
    /// its private key printed once in the wg-quick file; it is never stored.
    public func addAccessPeer(name: String, network: String, publicKey: String? = nil, hub: String? = nil) throws
        -> AccessGrant
    {
        let name = try Names.label(name, field: "access peer name")
        var generated: SecretKey?
        let key: WireGuardKey
        if let publicKey {
            guard let k = WireGuardKey(base64: publicKey) else {
                throw ValidationError(
                    "public key", publicKey,
                    allowed: "a WireGuard public key: 44 characters of base64 (32 bytes), as 'wg pubkey' prints")
            }
            key = k
        } else {
            let pair = X25519.generateKeyPair()
            generated = pair.privateKey
            key = pair.publicKey
        }
        let (peer, address, hubNode, hubMember, net) = try mutate(networks: [network]) { m in
            try addAccessPeer(m, name: name, network: network, key: key, hub: hub)
        }.0
        guard let hubAddress = hubNode.publicAddresses.first else {
            throw Controller.inconsistent("hub '\(hubNode.name)' has no public address")
        }
        let privateText = generated?.base64 ?? "<the private key of \(key.base64)>"
        let address4 = Topology.accessIPv4Address(peer, network: net)
        let text = WireGuardConfig.accessPeer(
            privateKeyBase64: privateText, address: address, ipv4Address: address4, mtu: net.mtu,
            hubName: hubNode.name, hubKey: hubMember.publicKey,
            hubEndpoint: Endpoint(address: hubAddress, port: hubMember.listenPort),
            network: net.prefix, ipv4Network: net.ipv4Prefix)
        return AccessGrant(peer: peer, address: address, ipv4Address: address4, wgQuick: text)
    }

    func addAccessPeer(_ m: Mutation, name: String, network: String, key: WireGuardKey, hub: String?) throws
        -> (AccessPeer, IPv6Address, Node, Membership, Network)
    {
        guard let net = try visibleNetwork(named: network, m.tx) else { throw NotFoundError("network", network) }
        if try m.tx.accessPeer(named: name) != nil { throw ConflictError("access peer '\(name)' already exists") }
        if try m.tx.publicKeyInUse(key) { throw ConflictError("public key \(key.base64) is already in use") }
        let hubNode: Node
        if let hub {
            guard let h = try m.tx.node(named: hub) else { throw NotFoundError("node", hub) }
            // Well formed, but the node's current state forbids it: a conflict, not bad input.
            guard h.hub else {
                throw ConflictError("node '\(hub)' is not a hub: an access peer's hub is a node added with --hub")
            }
            hubNode = h
        } else {
            // The network's first hub member, else the first hub of all.
            guard let snapshot = try m.tx.snapshot(network: network) else { throw NotFoundError("network", network) }
            let members = snapshot.members.sorted {
                $0.membership.subnetID < $1.membership.subnetID
            }
            if let h = members.first(where: { $0.node.hub })?.node {
                hubNode = h
            } else if let h = try m.tx.nodes().first(where: { $0.hub }) {
                hubNode = h
            } else {
                throw ConflictError("no hub for access peer '\(name)': add a node with --hub and a public address")
            }
        }
        try m.ensureMember(network: net, node: hubNode)
        let used = Set(try m.tx.accessPeers(network: network).map(\.hostNumber))
        var number = AddressPlan.firstHostNumber
        while used.contains(number) { number += 1 }
        if let p4 = net.ipv4Prefix, number > AddressPlan.maxIPv4HostNumber {
            throw ConflictError(
                "network '\(network)' has no free IPv4 address left for access peer '\(name)': its access /24 \(AddressPlan.ipv4AccessSubnet(p4)) holds \(AddressPlan.maxIPv4HostNumber - AddressPlan.firstHostNumber + 1) peers (.2 to .254)"
            )
        }
        let peer = AccessPeer(name: name, network: network, hostNumber: number, publicKey: key, hub: hubNode.name)
        try m.tx.insert(peer)
        guard let member = try m.tx.memberships(network: network).first(where: { $0.node == hubNode.name }) else {
            throw Controller.inconsistent(
                "hub '\(hubNode.name)' is not a member of network '\(network)' after joining it")
        }
        let address = AddressPlan.host(AddressPlan.subnet(net.prefix, AddressPlan.accessSubnetID), number)
        return (peer, address, hubNode, member, net)
    }

    public func accessPeers() throws -> [AccessPeer] {
        try store.read { tx in
            let visible = try visibleNetworks(tx)
            return try tx.accessPeers().filter { visible?.contains($0.network) ?? true }
        }
    }

    @discardableResult
    public func removeAccessPeer(name: String) throws -> Change {
        guard let peer = try store.read({ try $0.accessPeer(named: name) }) else {
            throw NotFoundError("access peer", name)
        }
        return try mutate(networks: [peer.network]) { m in
            // Checked again in the transaction: the peer may have gone, or its network been
            // deleted and made again by someone else, since the read above.
            guard try m.tx.accessPeer(named: name)?.network == peer.network, try sees(network: peer.network, m.tx)
            else { throw NotFoundError("access peer", name) }
            try m.tx.deleteAccessPeer(named: name)
            try m.pruneMembers(network: peer.network)
        }.1
    }
}
