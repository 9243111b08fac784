import OverlayModel
import Testing
@testable import WireGuard

@Suite struct DiffTests {
    static func peer(_ b: UInt8, endpoint e: String? = nil, keepalive: UInt16 = 0, ips: [String]? = nil) -> PeerConfig {
        PeerConfig(
            publicKey: key(b), endpoint: e.map(endpoint), allowedIPs: (ips ?? ["fd00:0:\(b)::/64"]).map(prefix),
            persistentKeepalive: keepalive)
    }

    static func device(_ peers: [PeerConfig], port: UInt16 = 51820) -> Device {
        Device(
            name: "wg-d", publicKey: nil, privateKey: secret(hex: rfc7748Private), listenPort: port,
            peers: peers.map { Device.Peer(config: $0, rxBytes: 99, txBytes: 7) })
    }

    static let three = [peer(1, endpoint: "192.0.2.1:51820"), peer(2, endpoint: "[2001:db8::2]:51820"), peer(3)]

    @Test func noOpIsEmpty() {
        let change = DeviceChange.between(
            current: Self.device(Self.three),
            desired: DeviceConfig(privateKey: secret(hex: rfc7748Private), listenPort: 51820, peers: Self.three))
        #expect(change.isEmpty)
        #expect(change.peers.isEmpty)
    }

    @Test func onePeerChangedIsOnePeer() {
        var desired = Self.three
        desired[1].endpoint = endpoint("[2001:db8::22]:51820")
        let change = DeviceChange.between(current: Self.device(Self.three), desired: DeviceConfig(peers: desired))
        #expect(!change.hasDeviceFields)
        #expect(change.peers == [.update(PeerUpdate(publicKey: key(2), endpoint: endpoint("[2001:db8::22]:51820")))])
    }

    @Test func allowedIPsChanged() {
        var desired = Self.three
        desired[0].allowedIPs = [prefix("fd00:0:1::/64"), prefix("fd00:9::/48")]
        let change = DeviceChange.between(current: Self.device(Self.three), desired: DeviceConfig(peers: desired))
        #expect(change.peers == [.update(PeerUpdate(publicKey: key(1), allowedIPs: desired[0].allowedIPs))])
    }

    @Test func allowedIPsCompareAsMaskedSets() {
        let current = [Self.peer(1, ips: ["fd00:1::/64", "10.0.0.0/8"])]
        let desired = [Self.peer(1, ips: ["10.1.2.3/8", "fd00:1::/64"])]  // same set, other order, host bits
        #expect(DeviceChange.between(current: Self.device(current), desired: DeviceConfig(peers: desired)).isEmpty)
    }

    @Test func removedPeersComeFirst() {
        let desired = [Self.three[0], Self.peer(4)]
        let change = DeviceChange.between(current: Self.device(Self.three), desired: DeviceConfig(peers: desired))
        #expect(change.peers == [.remove(key(2)), .remove(key(3)), .add(Self.peer(4))])
    }

    @Test func keepaliveChanged() {
        var desired = Self.three
        desired[2].persistentKeepalive = 25
        let change = DeviceChange.between(current: Self.device(Self.three), desired: DeviceConfig(peers: desired))
        #expect(change.peers == [.update(PeerUpdate(publicKey: key(3), persistentKeepalive: 25))])
    }

    @Test func learnedEndpointIsNotDrift() {
        // Peer 3 has no configured endpoint (it dials us); WireGuard learned one.
        var current = Self.three
        current[2].endpoint = endpoint("203.0.113.9:40000")
        let change = DeviceChange.between(current: Self.device(current), desired: DeviceConfig(peers: Self.three))
        #expect(change.isEmpty)
    }

    @Test func presharedKeySetAndRemoved() {
        var withPSK = Self.three
        withPSK[0].presharedKey = key(0x55)
        let add = DeviceChange.between(current: Self.device(Self.three), desired: DeviceConfig(peers: withPSK))
        #expect(add.peers == [.update(PeerUpdate(publicKey: key(1), presharedKey: key(0x55)))])
        let remove = DeviceChange.between(current: Self.device(withPSK), desired: DeviceConfig(peers: Self.three))
        #expect(remove.peers == [.update(PeerUpdate(publicKey: key(1), presharedKey: .zero))])
    }

    @Test func deviceFields() {
        let otherKey = secret(hex: String(repeating: "11", count: 32))
        let change = DeviceChange.between(
            current: Self.device(Self.three),
            desired: DeviceConfig(privateKey: otherKey, listenPort: 51821, fwmark: 7, peers: Self.three))
        #expect(change.privateKey === otherKey)
        #expect(change.listenPort == 51821)
        #expect(change.fwmark == 7)
        #expect(change.peers.isEmpty && !change.replacePeers)
    }

    @Test func unknownPrivateKeyIsSet() {
        var current = Self.device(Self.three)
        current.privateKey = nil
        let change = DeviceChange.between(
            current: current, desired: DeviceConfig(privateKey: secret(hex: rfc7748Private), peers: Self.three))
        #expect(change.privateKey != nil)
    }

    @Test func freshDeviceGetsAllPeersAsAdds() {
        let change = DeviceChange.between(current: Device(name: "wg-new"), desired: DeviceConfig(peers: Self.three))
        #expect(change.peers == Self.three.map { .add($0) })
    }

    @Test func severalFieldsOfOnePeerInOneUpdate() {
        var desired = Self.three
        desired[0].endpoint = endpoint("192.0.2.100:1")
        desired[0].persistentKeepalive = 10
        desired[0].allowedIPs = []
        let change = DeviceChange.between(current: Self.device(Self.three), desired: DeviceConfig(peers: desired))
        #expect(change.peers == [.update(PeerUpdate(
            publicKey: key(1), endpoint: endpoint("192.0.2.100:1"), allowedIPs: [], persistentKeepalive: 10))])
    }
}
