import Foundation
import OverlayModel
import Testing

@testable import WireGuard

@Suite struct UAPIResponseTests {
    /// The shape wireguard-go 0.0.20220316 writes for `get=1`.
    static let twoPeers = """
        private_key=\(rfc7748Private)
        listen_port=51820
        fwmark=42
        public_key=\(hex(0x01))
        preshared_key=0000000000000000000000000000000000000000000000000000000000000000
        protocol_version=1
        endpoint=[2001:db8::1]:51820
        last_handshake_time_sec=1700000000
        last_handshake_time_nsec=500000000
        tx_bytes=1234
        rx_bytes=5678
        persistent_keepalive_interval=25
        allowed_ip=fd00:1:1::/64
        allowed_ip=10.1.0.0/16
        public_key=\(hex(0x02))
        preshared_key=\(hex(0x22))
        protocol_version=1
        endpoint=192.0.2.2:51821
        last_handshake_time_sec=0
        last_handshake_time_nsec=0
        tx_bytes=0
        rx_bytes=0
        persistent_keepalive_interval=0
        errno=0


        """

    @Test func parsesDeviceAndPeers() throws {
        let d = try UAPI.parseDevice(Array(Self.twoPeers.utf8), name: "wg-t")
        #expect(d.name == "wg-t")
        #expect(d.publicKey?.hex == rfc7748Public)  // derived from the private key
        #expect(d.privateKey == secret(hex: rfc7748Private))
        #expect(d.listenPort == 51820)
        #expect(d.fwmark == 42)
        #expect(d.peers.count == 2)

        let a = d.peers[0]
        #expect(a.publicKey == key(0x01))
        #expect(a.presharedKey == nil)
        #expect(a.endpoint == endpoint("[2001:db8::1]:51820"))
        #expect(a.allowedIPs == [prefix("fd00:1:1::/64"), prefix("10.1.0.0/16")])
        #expect(a.persistentKeepalive == 25)
        #expect(a.lastHandshake == Date(timeIntervalSince1970: 1_700_000_000.5))
        #expect(a.txBytes == 1234 && a.rxBytes == 5678)

        let b = d.peers[1]
        #expect(b.publicKey == key(0x02))
        #expect(b.presharedKey == key(0x22))
        #expect(b.endpoint == endpoint("192.0.2.2:51821"))
        #expect(b.allowedIPs.isEmpty)
        #expect(b.lastHandshake == nil)
    }

    @Test func parsesEmptyDevice() throws {
        // A fresh wireguard-go: no key, port chosen later.
        let d = try UAPI.parseDevice(Array("listen_port=0\nerrno=0\n\n".utf8), name: "wg-e")
        #expect(d.publicKey == nil && d.privateKey == nil && d.peers.isEmpty && d.listenPort == 0 && d.fwmark == 0)
    }

    @Test func peerWithoutEndpoint() throws {
        let text = "public_key=\(hex(0x07))\nallowed_ip=fd00::7/128\nerrno=0\n\n"
        let d = try UAPI.parseDevice(Array(text.utf8), name: "wg-h")
        #expect(d.peers.map(\.endpoint) == [nil])
        #expect(d.peers[0].allowedIPs == [prefix("fd00::7/128")])
    }

    @Test func ignoresUnknownKeys() throws {
        let text = "listen_port=1\nfuture_device_key=x\npublic_key=\(hex(0x07))\nfuture_peer_key=y\nerrno=0\n\n"
        #expect(try UAPI.parseDevice(Array(text.utf8), name: "wg-u").peers.count == 1)
    }

    @Test func errorReturn() {
        #expect(throws: WireGuardError.refused(interface: "wg-x", operation: "get", errno: 5)) {
            try UAPI.parseDevice(Array("errno=-5\n\n".utf8), name: "wg-x")
        }
    }

    @Test(arguments: [
        "public_key=zz\nerrno=0\n\n",
        "public_key=\(hex(1))\nendpoint=nonsense\nerrno=0\n\n",
        "public_key=\(hex(1))\nallowed_ip=fd00::/129\nerrno=0\n\n",
        "listen_port=70000\nerrno=0\n\n",
        "listen_port=1\n\n",
        "listen_port=1\nerrno=0\n",
    ])
    func malformed(_ text: String) {
        #expect(throws: WireGuardError.self) { try UAPI.parseDevice(Array(text.utf8), name: "wg-m") }
    }

    @Test func thousandPeersRoundTrip() throws {
        var text = "listen_port=51820\n"
        for i in 1...1000 {
            var k = [UInt8](repeating: 0, count: 32)
            k[0] = UInt8(i >> 8)
            k[1] = UInt8(i & 0xFF)
            text += "public_key=\(WireGuardKey(bytes: k)!.hex)\nendpoint=127.0.0.1:\(20000 + i)\n"
            text += "allowed_ip=fd00::\(String(i, radix: 16))/128\n"
        }
        text += "errno=0\n\n"
        let d = try UAPI.parseDevice(Array(text.utf8), name: "wg-big")
        #expect(d.peers.count == 1000)
        #expect(d.peers[999].allowedIPs == [prefix("fd00::3e8/128")])
    }
}
