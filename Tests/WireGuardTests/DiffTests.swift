import Foundation
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

    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    func diff(_ current: Device, _ desired: DeviceConfig) -> DeviceChange {
        DeviceChange.between(current: current, desired: desired, now: Self.now)
    }

    static let three = [peer(1, endpoint: "192.0.2.1:51820"), peer(2, endpoint: "[2001:db8::2]:51820"), peer(3)]

    @Test func noOpIsEmpty() {
        let change = diff(
            Self.device(Self.three),
            DeviceConfig(privateKey: secret(hex: rfc7748Private), listenPort: 51820, peers: Self.three))
        #expect(change.isEmpty)
        #expect(change.peers.isEmpty)
    }

    @Test func onePeerChangedIsOnePeer() {
        var desired = Self.three
        desired[1].endpoint = endpoint("[2001:db8::22]:51820")
        let change = diff(Self.device(Self.three), DeviceConfig(peers: desired))
        #expect(!change.hasDeviceFields)
        #expect(change.peers == [.update(PeerUpdate(publicKey: key(2), endpoint: endpoint("[2001:db8::22]:51820")))])
    }

    @Test func allowedIPsChanged() {
        var desired = Self.three
        desired[0].allowedIPs = [prefix("fd00:0:1::/64"), prefix("fd00:9::/48")]
        let change = diff(Self.device(Self.three), DeviceConfig(peers: desired))
        #expect(change.peers == [.update(PeerUpdate(publicKey: key(1), allowedIPs: desired[0].allowedIPs))])
    }

    @Test func allowedIPsCompareAsMaskedSets() {
        let current = [Self.peer(1, ips: ["fd00:1::/64", "10.0.0.0/8"])]
        let desired = [Self.peer(1, ips: ["10.1.2.3/8", "fd00:1::/64"])]  // same set, other order, host bits
        #expect(diff(Self.device(current), DeviceConfig(peers: desired)).isEmpty)
    }

    @Test func removedPeersComeFirst() {
        let desired = [Self.three[0], Self.peer(4)]
        let change = diff(Self.device(Self.three), DeviceConfig(peers: desired))
        #expect(change.peers == [.remove(key(2)), .remove(key(3)), .add(Self.peer(4))])
    }

    @Test func keepaliveChanged() {
        var desired = Self.three
        desired[2].persistentKeepalive = 25
        let change = diff(Self.device(Self.three), DeviceConfig(peers: desired))
        #expect(change.peers == [.update(PeerUpdate(publicKey: key(3), persistentKeepalive: 25))])
    }

    @Test func learnedEndpointIsNotDrift() {
        // Peer 3 has no configured endpoint (it dials us); WireGuard learned one.
        var current = Self.three
        current[2].endpoint = endpoint("203.0.113.9:40000")
        let change = diff(Self.device(current), DeviceConfig(peers: Self.three))
        #expect(change.isEmpty)
    }

    @Test func roamedEndpointOfConnectedPeerIsLeftAlone() {
        var current = Self.device(Self.three)
        current.peers[0].config.endpoint = endpoint("203.0.113.50:61000")  // NAT rebinding
        current.peers[0].lastHandshake = Self.now.addingTimeInterval(-30)
        #expect(diff(current, DeviceConfig(peers: Self.three)).isEmpty)
        // No handshake for longer than a session lives: back to the configured endpoint.
        current.peers[0].lastHandshake = Self.now.addingTimeInterval(-181)
        #expect(
            diff(current, DeviceConfig(peers: Self.three)).peers
                == [.update(PeerUpdate(publicKey: key(1), endpoint: endpoint("192.0.2.1:51820")))])
        current.peers[0].lastHandshake = nil
        #expect(diff(current, DeviceConfig(peers: Self.three)).peers.count == 1)
    }

    @Test func presharedKeySetAndRemoved() {
        var withPSK = Self.three
        withPSK[0].presharedKey = key(0x55)
        let add = diff(Self.device(Self.three), DeviceConfig(peers: withPSK))
        #expect(add.peers == [.update(PeerUpdate(publicKey: key(1), presharedKey: key(0x55)))])
        let remove = diff(Self.device(withPSK), DeviceConfig(peers: Self.three))
        #expect(remove.peers == [.update(PeerUpdate(publicKey: key(1), presharedKey: .zero))])
    }

    @Test func deviceFields() {
        let otherKey = secret(hex: String(repeating: "11", count: 32))
        let change = diff(
            Self.device(Self.three),
            DeviceConfig(privateKey: otherKey, listenPort: 51821, fwmark: 7, peers: Self.three))
        #expect(change.privateKey === otherKey)
        #expect(change.listenPort == 51821)
        #expect(change.fwmark == 7)
        #expect(change.peers.isEmpty && !change.replacePeers)
    }

    @Test func clampedPrivateKeyReadBackIsTheSameKey() {
        // Set: all 0xff; read back clamped as WireGuard stores it: f8 ... 7f.
        let set = secret(hex: String(repeating: "ff", count: 32))
        let readBack = secret(hex: "f8" + String(repeating: "ff", count: 30) + "7f")
        var current = Self.device(Self.three)
        current.privateKey = readBack
        #expect(diff(current, DeviceConfig(privateKey: set, peers: Self.three)).isEmpty)
        #expect(!DeviceChange.samePrivateKey(readBack, secret(hex: String(repeating: "fe", count: 32))))
    }

    @Test func unknownPrivateKeyIsSet() {
        var current = Self.device(Self.three)
        current.privateKey = nil
        let change = diff(
            current, DeviceConfig(privateKey: secret(hex: rfc7748Private), peers: Self.three))
        #expect(change.privateKey != nil)
    }

    @Test func freshDeviceGetsAllPeersAsAdds() {
        let change = diff(Device(name: "wg-new"), DeviceConfig(peers: Self.three))
        #expect(change.peers == Self.three.map { .add($0) })
    }

    @Test func severalFieldsOfOnePeerInOneUpdate() {
        var desired = Self.three
        desired[0].endpoint = endpoint("192.0.2.100:1")
        desired[0].persistentKeepalive = 10
        desired[0].allowedIPs = []
        let change = diff(Self.device(Self.three), DeviceConfig(peers: desired))
        #expect(
            change.peers == [
                .update(
                    PeerUpdate(
                        publicKey: key(1), endpoint: endpoint("192.0.2.100:1"), allowedIPs: [], persistentKeepalive: 10)
                )
            ])
    }
}
