import OverlayModel
import Testing

@testable import WireGuard

@Suite struct UAPIRequestTests {
    @Test func deviceFieldsWithPrivateKeyInHeadOnly() {
        let change = DeviceChange(privateKey: secret(hex: rfc7748Private), listenPort: 51820, fwmark: 0)
        var request = UAPI.setRequest(change)
        #expect(String(decoding: request.head, as: UTF8.self) == "set=1\nprivate_key=\(rfc7748Private)\n")
        #expect(String(decoding: request.body, as: UTF8.self) == "listen_port=51820\nfwmark=0\n\n")
        #expect(request.redactedText == "set=1\nprivate_key=(redacted)\nlisten_port=51820\nfwmark=0\n\n")
        #expect(!request.redactedText.contains(rfc7748Private))
        request.wipe()
        #expect(request.head.allSatisfy { $0 == 0 })
    }

    @Test func streamsOnlyTheNamedPeersInOrder() {
        let change = DeviceChange(peers: [
            .remove(key(0x01)),
            .update(PeerUpdate(publicKey: key(0x02), allowedIPs: [prefix("fd00:1:2::/64"), prefix("10.0.0.0/24")])),
            .update(
                PeerUpdate(publicKey: key(0x03), endpoint: endpoint("[2001:db8::3]:51820"), persistentKeepalive: 0)),
            .add(
                PeerConfig(
                    publicKey: key(0x04), presharedKey: key(0x05), endpoint: endpoint("198.51.100.4:51821"),
                    allowedIPs: [prefix("fd00:1:4::/64")], persistentKeepalive: 25)),
        ])
        let request = UAPI.setRequest(change)
        #expect(request.head == Array("set=1\n".utf8))
        let expected = """
            set=1
            public_key=\(hex(0x01))
            remove=true
            public_key=\(hex(0x02))
            update_only=true
            replace_allowed_ips=true
            allowed_ip=fd00:1:2::/64
            allowed_ip=10.0.0.0/24
            public_key=\(hex(0x03))
            update_only=true
            endpoint=[2001:db8::3]:51820
            persistent_keepalive_interval=0
            public_key=\(hex(0x04))
            preshared_key=\(hex(0x05))
            endpoint=198.51.100.4:51821
            persistent_keepalive_interval=25
            replace_allowed_ips=true
            allowed_ip=fd00:1:4::/64


            """
        #expect(request.redactedText == expected)
        #expect(!request.redactedText.contains("replace_peers"))
    }

    @Test func updateWithEmptyAllowedIPsClearsThem() {
        let request = UAPI.setRequest(DeviceChange(peers: [.update(PeerUpdate(publicKey: key(0xAB), allowedIPs: []))]))
        #expect(
            request.redactedText == "set=1\npublic_key=\(hex(0xAB))\nupdate_only=true\nreplace_allowed_ips=true\n\n")
    }

    @Test func presharedKeyRemovalIsZeroKey() {
        let request = UAPI.setRequest(
            DeviceChange(peers: [.update(PeerUpdate(publicKey: key(0x11), presharedKey: .zero))]))
        #expect(request.redactedText.contains("preshared_key=\(String(repeating: "0", count: 64))\n"))
    }

    @Test func replacePeersOnlyWhenAsked() {
        let request = UAPI.setRequest(DeviceChange(replacePeers: true))
        #expect(request.redactedText == "set=1\nreplace_peers=true\n\n")
    }

    @Test func setResponseOK() throws {
        try UAPI.checkSetResponse(Array("errno=0\n\n".utf8), interface: "wg-test")
    }

    @Test func setResponseErrorNamesInterfaceAndErrno() {
        // wireguard-go negates the errno; other servers may not.
        for text in ["errno=-22\n\n", "errno=22\n\n"] {
            #expect(throws: WireGuardError.refused(interface: "wg-a", operation: "set", errno: 22)) {
                try UAPI.checkSetResponse(Array(text.utf8), interface: "wg-a")
            }
        }
        let error = WireGuardError.refused(interface: "wg-a", operation: "set", errno: 98)
        #expect(error.description == "wg-a: set refused: errno 98 (Address already in use)")
    }

    @Test func setResponseMalformed() {
        #expect(throws: WireGuardError.self) { try UAPI.checkSetResponse(Array("\n".utf8), interface: "x") }
        #expect(throws: WireGuardError.self) { try UAPI.checkSetResponse(Array("errno=0\n".utf8), interface: "x") }
        #expect(throws: WireGuardError.self) { try UAPI.checkSetResponse(Array("bogus\n\n".utf8), interface: "x") }
    }
}
