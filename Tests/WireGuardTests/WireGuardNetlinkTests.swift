import Foundation
import Netlink
import OverlayModel
import Synchronization
import Testing

@testable import WireGuard

/// Byte-for-byte vectors for the kernel's `wireguard` generic netlink family, derived by hand
/// from include/uapi/linux/wireguard.h, linux/netlink.h and linux/genetlink.h (x86-64: native
/// byte order is little-endian). Family id 0x1c stands for whatever the kernel assigned.
@Suite struct WireGuardNetlinkTests {
    static let family: UInt16 = 0x1c

    func rep(_ byte: UInt8, _ count: Int) -> [UInt8] { [UInt8](repeating: byte, count: count) }

    /// Received buffers as the socket hands them over: split into messages by the Netlink
    /// module, then read by the WireGuard codec.
    func parse(_ buffers: [[UInt8]], interface: String) throws -> Device {
        try WireGuardNetlink.parseDevice(buffers.flatMap { try NetlinkMessage.parse($0) }, interface: interface)
    }

    /// One allowed IP, fd00::<last>/128, as the nest the kernel expects (40 bytes).
    func allowedFd00(_ last: UInt8, cidr: UInt8 = 128) -> [UInt8] {
        [0x28, 0x00, 0x00, 0x80]  // nlattr len 40, type 0 | NLA_F_NESTED
            + [0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00]  // WGALLOWEDIP_A_FAMILY u16 AF_INET6 (10), pad 2
            + [0x14, 0x00, 0x02, 0x00, 0xfd, 0x00] + rep(0, 13) + [last]  // WGALLOWEDIP_A_IPADDR, 16 bytes
            + [0x05, 0x00, 0x03, 0x00, cidr, 0x00, 0x00, 0x00]  // WGALLOWEDIP_A_CIDR_MASK u8, pad 3
    }

    @Test func getDeviceRequest() {
        let expected: [UInt8] =
            [0x1c, 0x00, 0x00, 0x00]  // nlmsg_len 28
            + [0x1c, 0x00]  // nlmsg_type: the family id
            + [0x05, 0x03]  // nlmsg_flags 0x0305: NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP (ROOT|MATCH)
            + [0x00, 0x00, 0x00, 0x00]  // nlmsg_seq: the transport's
            + [0x00, 0x00, 0x00, 0x00]  // nlmsg_pid
            + [0x00, 0x01, 0x00, 0x00]  // genlmsghdr: cmd WG_CMD_GET_DEVICE (0), version 1, reserved
            + [0x08, 0x00, 0x02, 0x00, 0x77, 0x67, 0x30, 0x00]  // WGDEVICE_A_IFNAME "wg0\0"
        #expect(WireGuardNetlink.getDeviceRequest(interface: "wg0", family: Self.family) == expected)
    }

    @Test func setDeviceOneMessage() {
        let change = DeviceChange(
            privateKey: SecretKey(copying: rep(0x11, 32)), listenPort: 51820, fwmark: 42,
            peers: [
                .remove(key(0x22)),
                .add(
                    PeerConfig(
                        publicKey: key(0x33), endpoint: Endpoint("198.51.100.4:51821"),
                        allowedIPs: [IPPrefix("10.0.0.0/8")!, IPPrefix("fd00::/64")!], persistentKeepalive: 25)),
            ])
        let expected: [UInt8] =
            [0x18, 0x01, 0x00, 0x00]  // nlmsg_len 280
            + [0x1c, 0x00]  // family id
            + [0x05, 0x00]  // NLM_F_REQUEST | NLM_F_ACK
            + rep(0, 8)  // seq, pid
            + [0x01, 0x01, 0x00, 0x00]  // cmd WG_CMD_SET_DEVICE (1), version 1
            + [0x08, 0x00, 0x02, 0x00, 0x77, 0x67, 0x30, 0x00]  // WGDEVICE_A_IFNAME "wg0\0"
            + [0x24, 0x00, 0x03, 0x00] + rep(0x11, 32)  // WGDEVICE_A_PRIVATE_KEY, len 36
            + [0x06, 0x00, 0x06, 0x00, 0x6c, 0xca, 0x00, 0x00]  // WGDEVICE_A_LISTEN_PORT u16 51820 (0xca6c), pad 2
            + [0x08, 0x00, 0x07, 0x00, 0x2a, 0x00, 0x00, 0x00]  // WGDEVICE_A_FWMARK u32 42
            // No WGDEVICE_A_FLAGS: peers are not replaced.
            + [0xc8, 0x00, 0x08, 0x80]  // WGDEVICE_A_PEERS | NLA_F_NESTED, len 200
            + [0x30, 0x00, 0x00, 0x80]  //   peer 0 | NLA_F_NESTED, len 48
            + [0x24, 0x00, 0x01, 0x00] + rep(0x22, 32)  //     WGPEER_A_PUBLIC_KEY
            + [0x08, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00]  //     WGPEER_A_FLAGS WGPEER_F_REMOVE_ME
            + [0x94, 0x00, 0x00, 0x80]  //   peer 0 | NLA_F_NESTED, len 148
            + [0x24, 0x00, 0x01, 0x00] + rep(0x33, 32)  //     WGPEER_A_PUBLIC_KEY
            + [0x08, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00]  //     WGPEER_A_FLAGS WGPEER_F_REPLACE_ALLOWEDIPS
            + [0x14, 0x00, 0x04, 0x00]  //     WGPEER_A_ENDPOINT, struct sockaddr_in (16)
            + [0x02, 0x00, 0xca, 0x6d, 0xc6, 0x33, 0x64, 0x04] + rep(0, 8)  //  AF_INET, port 51821 BE, 198.51.100.4
            + [0x06, 0x00, 0x05, 0x00, 0x19, 0x00, 0x00, 0x00]  //     WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL 25
            + [0x48, 0x00, 0x09, 0x80]  //     WGPEER_A_ALLOWEDIPS | NLA_F_NESTED, len 72
            + [0x1c, 0x00, 0x00, 0x80]  //       allowed IP 0, len 28
            + [0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00]  //         FAMILY AF_INET
            + [0x08, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x00]  //         IPADDR 10.0.0.0
            + [0x05, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x00]  //         CIDR_MASK 8
            + [0x28, 0x00, 0x00, 0x80]  //       allowed IP 0, len 40
            + [0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00]  //         FAMILY AF_INET6
            + [0x14, 0x00, 0x02, 0x00, 0xfd, 0x00] + rep(0, 14)  //         IPADDR fd00::
            + [0x05, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x00]  //         CIDR_MASK 64
        let messages = WireGuardNetlink.setDeviceRequests(change, interface: "wg0", family: Self.family)
        #expect(messages == [expected])
    }

    @Test func setDeviceSplitAcrossMessages() {
        // A 256-byte limit fits four of the five AllowedIPs of the first peer in message 1.
        let change = DeviceChange(
            listenPort: 51820,
            peers: [
                .update(PeerUpdate(publicKey: key(0x44), allowedIPs: (1...5).map { IPPrefix("fd00::\($0)/128")! })),
                .remove(key(0x55)),
            ])
        let first: [UInt8] =
            [0xfc, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x05, 0x00] + rep(0, 8)  // nlmsg_len 252, REQUEST | ACK
            + [0x01, 0x01, 0x00, 0x00]  // WG_CMD_SET_DEVICE v1
            + [0x08, 0x00, 0x02, 0x00, 0x77, 0x67, 0x30, 0x00]  // IFNAME "wg0"
            + [0x06, 0x00, 0x06, 0x00, 0x6c, 0xca, 0x00, 0x00]  // LISTEN_PORT 51820: first message only
            + [0xd8, 0x00, 0x08, 0x80]  // PEERS, len 216
            + [0xd4, 0x00, 0x00, 0x80]  //   peer, len 212
            + [0x24, 0x00, 0x01, 0x00] + rep(0x44, 32)  //     PUBLIC_KEY
            + [0x08, 0x00, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00]  //     FLAGS REPLACE_ALLOWEDIPS | UPDATE_ONLY
            + [0xa4, 0x00, 0x09, 0x80]  //     ALLOWEDIPS, len 164
            + allowedFd00(1) + allowedFd00(2) + allowedFd00(3) + allowedFd00(4)
        let second: [UInt8] =
            [0xac, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x05, 0x00] + rep(0, 8)  // nlmsg_len 172
            + [0x01, 0x01, 0x00, 0x00]
            + [0x08, 0x00, 0x02, 0x00, 0x77, 0x67, 0x30, 0x00]  // IFNAME again; no device attributes
            + [0x90, 0x00, 0x08, 0x80]  // PEERS, len 144
            + [0x5c, 0x00, 0x00, 0x80]  //   the same peer continued, len 92
            + [0x24, 0x00, 0x01, 0x00] + rep(0x44, 32)  //     PUBLIC_KEY
            + [0x08, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00]  //     FLAGS UPDATE_ONLY, no REPLACE: append
            + [0x2c, 0x00, 0x09, 0x80]  //     ALLOWEDIPS, len 44
            + allowedFd00(5)
            + [0x30, 0x00, 0x00, 0x80]  //   next peer, len 48
            + [0x24, 0x00, 0x01, 0x00] + rep(0x55, 32)
            + [0x08, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00]  //     FLAGS REMOVE_ME
        let messages = WireGuardNetlink.setDeviceRequests(change, interface: "wg0", family: Self.family, limit: 256)
        #expect(messages.count == 2)
        #expect(messages.first == first)
        #expect(messages.last == second)
    }

    @Test func replacePeersFlagOnlyInFirstMessage() {
        let peers = (0..<40).map { i in
            PeerChange.add(PeerConfig(publicKey: key(UInt8(i)), allowedIPs: [IPPrefix("fd00::\(i + 1)/128")!]))
        }
        let messages = WireGuardNetlink.setDeviceRequests(
            DeviceChange(replacePeers: true, peers: peers), interface: "wg0", family: Self.family, limit: 1024)
        #expect(messages.count > 1)
        // WGDEVICE_A_FLAGS u32 WGDEVICE_F_REPLACE_PEERS right after IFNAME in message 1 only.
        let flags: [UInt8] = [0x08, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00]
        #expect(Array(messages[0][28..<36]) == flags)
        for m in messages.dropFirst() { #expect(Array(m[28..<32]) != [0x08, 0x00, 0x05, 0x00]) }
    }

    @Test func ipv6EndpointIsSockaddrIn6() {
        let bytes = WireGuardNetlink.sockaddr(Endpoint("[2001:db8::1]:51820")!)
        let expected: [UInt8] =
            [0x0a, 0x00]  // sin6_family AF_INET6, host order
            + [0xca, 0x6c]  // sin6_port 51820, network order
            + [0x00, 0x00, 0x00, 0x00]  // sin6_flowinfo
            + [0x20, 0x01, 0x0d, 0xb8] + rep(0, 11) + [0x01]  // sin6_addr
            + [0x00, 0x00, 0x00, 0x00]  // sin6_scope_id
        #expect(bytes == expected)
        #expect(WireGuardNetlink.endpoint(bytes[...]) == Endpoint("[2001:db8::1]:51820"))
    }

    /// A dump of two parts and NLMSG_DONE, as the kernel sends it for a device whose first
    /// peer's AllowedIPs did not fit in the first message.
    @Test func parsesMultipartDump() throws {
        let privateKey = WireGuardKey(hex: rfc7748Private)!.bytes
        let publicKey = WireGuardKey(hex: rfc7748Public)!.bytes
        let part1: [UInt8] =
            [0x54, 0x01, 0x00, 0x00, 0x1c, 0x00, 0x02, 0x00] + rep(0, 8)  // nlmsg_len 340, NLM_F_MULTI
            + [0x00, 0x01, 0x00, 0x00]  // WG_CMD_GET_DEVICE v1
            + [0x08, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00]  // IFINDEX 5
            + [0x08, 0x00, 0x02, 0x00, 0x77, 0x67, 0x30, 0x00]  // IFNAME "wg0"
            + [0x24, 0x00, 0x03, 0x00] + privateKey  // PRIVATE_KEY
            + [0x24, 0x00, 0x04, 0x00] + publicKey  // PUBLIC_KEY
            + [0x06, 0x00, 0x06, 0x00, 0x6c, 0xca, 0x00, 0x00]  // LISTEN_PORT 51820
            + [0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00]  // FWMARK 0
            + [0xd8, 0x00, 0x08, 0x80]  // PEERS, len 216
            + [0xd4, 0x00, 0x00, 0x80]  //   peer, len 212
            + [0x24, 0x00, 0x01, 0x00] + rep(0x33, 32)  //     PUBLIC_KEY
            + [0x24, 0x00, 0x02, 0x00] + rep(0, 32)  //     PRESHARED_KEY all zero: none
            + [0x14, 0x00, 0x06, 0x00]  //     LAST_HANDSHAKE_TIME, struct __kernel_timespec
            + [0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00]  //       tv_sec 1700000000
            + [0x00, 0x65, 0xcd, 0x1d, 0x00, 0x00, 0x00, 0x00]  //       tv_nsec 500000000
            + [0x0c, 0x00, 0x07, 0x00, 0xd2, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]  //     RX_BYTES 1234
            + [0x0c, 0x00, 0x08, 0x00, 0x2e, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]  //     TX_BYTES 5678
            + [0x06, 0x00, 0x05, 0x00, 0x19, 0x00, 0x00, 0x00]  //     PERSISTENT_KEEPALIVE_INTERVAL 25
            + [0x20, 0x00, 0x04, 0x00]  //     ENDPOINT, sockaddr_in6 (28)
            + [0x0a, 0x00, 0xca, 0x6c, 0x00, 0x00, 0x00, 0x00]  //       AF_INET6, port 51820, flowinfo
            + [0x20, 0x01, 0x0d, 0xb8] + rep(0, 11) + [0x01]  //       2001:db8::1
            + [0x00, 0x00, 0x00, 0x00]  //       scope id
            + [0x08, 0x00, 0x0a, 0x00, 0x01, 0x00, 0x00, 0x00]  //     PROTOCOL_VERSION 1
            + [0x2c, 0x00, 0x09, 0x80]  //     ALLOWEDIPS, len 44
            + [0x28, 0x00, 0x00, 0x80]  //       fd00:1::/64
            + [0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00]
            + [0x14, 0x00, 0x02, 0x00, 0xfd, 0x00, 0x00, 0x01] + rep(0, 12)
            + [0x05, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x00]
        let part2: [UInt8] =
            [0xa4, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x02, 0x00] + rep(0, 8)  // nlmsg_len 164, NLM_F_MULTI
            + [0x00, 0x01, 0x00, 0x00]
            + [0x90, 0x00, 0x08, 0x80]  // PEERS, len 144
            + [0x48, 0x00, 0x00, 0x80]  //   the first peer continued, len 72: key and AllowedIPs only
            + [0x24, 0x00, 0x01, 0x00] + rep(0x33, 32)
            + [0x20, 0x00, 0x09, 0x80]  //     ALLOWEDIPS, len 32
            + [0x1c, 0x00, 0x00, 0x80]  //       10.0.0.0/8
            + [0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00]
            + [0x08, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x00]
            + [0x05, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x00]
            + [0x44, 0x00, 0x00, 0x80]  //   next peer, len 68
            + [0x24, 0x00, 0x01, 0x00] + rep(0x44, 32)
            + [0x14, 0x00, 0x04, 0x00]  //     ENDPOINT sockaddr_in 192.0.2.2:51821
            + [0x02, 0x00, 0xca, 0x6d, 0xc0, 0x00, 0x02, 0x02] + rep(0, 8)
            + [0x06, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00]  //     keepalive 0
        let done: [UInt8] =
            [0x14, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00] + rep(0, 8)  // NLMSG_DONE, len 20
            + [0x00, 0x00, 0x00, 0x00]  // int error 0

        let device = try parse([part1, part2, done], interface: "wg0")
        #expect(device.name == "wg0")
        #expect(device.publicKey?.hex == rfc7748Public)
        #expect(device.privateKey == secret(hex: rfc7748Private))
        #expect(device.listenPort == 51820 && device.fwmark == 0)
        #expect(device.peers.count == 2)
        let a = device.peers[0]
        #expect(
            a.config
                == PeerConfig(
                    publicKey: key(0x33), endpoint: Endpoint("[2001:db8::1]:51820"),
                    allowedIPs: [IPPrefix("fd00:1::/64")!, IPPrefix("10.0.0.0/8")!], persistentKeepalive: 25))
        #expect(a.lastHandshake == Date(timeIntervalSince1970: 1_700_000_000.5))
        #expect(a.rxBytes == 1234 && a.txBytes == 5678)
        let b = device.peers[1]
        #expect(b.config == PeerConfig(publicKey: key(0x44), endpoint: Endpoint("192.0.2.2:51821")))
        #expect(b.lastHandshake == nil)

        // The same parts delivered in one buffer (as one recv would return them) parse the same.
        let joined = try parse([part1 + part2 + done], interface: "wg0")
        #expect(joined.peers.map(\.config) == device.peers.map(\.config))
    }

    @Test func errorReplies() throws {
        let enodev: [UInt8] =
            [0x24, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01] + rep(0, 8)  // NLMSG_ERROR, len 36
            + [0xed, 0xff, 0xff, 0xff]  // error -19 (ENODEV)
            + rep(0, 16)  // the offending request's header
        #expect(throws: WireGuardError.noSuchInterface("wg9")) {
            try parse([enodev], interface: "wg9")
        }
        var eperm = enodev
        eperm[16] = 0xff  // -1: EPERM
        #expect(throws: WireGuardError.refused(interface: "wg9", operation: "get device", errno: 1)) {
            try parse([eperm], interface: "wg9")
        }
        let truncated = Array(enodev.prefix(30))
        // A message cut short is refused where messages are split, before any attribute is read.
        #expect(throws: NetlinkError.self) { try parse([truncated], interface: "wg9") }
        // An attribute whose length runs past its message is the WireGuard codec's to refuse.
        var overlong: [UInt8] =
            [0x1c, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x02, 0x00] + rep(0, 8) + [0x00, 0x01, 0x00, 0x00]
            + [0x10, 0x00, 0x02, 0x00, 0x77, 0x67, 0x30, 0x00]  // IFNAME claims 16 bytes, has 8
        #expect(throws: WireGuardError.self) { try parse([overlong], interface: "wg9") }
        overlong[16 + 4 + 0] = 0x08
        #expect(try parse([overlong], interface: "wg9").name == "wg0")
    }

    /// Large changes: every message under the limit, and reading the messages back (they share
    /// the dump's layout) gives exactly the peers and AllowedIPs asked, continuations merged.
    @Test(arguments: [512, 4096])
    func largeChangeRoundTrips(limit: Int) throws {
        var rng = SystemRandomNumberGenerator()
        let peers = (0..<200).map { i -> PeerConfig in
            let ips = (0..<Int.random(in: 0...60, using: &rng)).map { j in
                IPPrefix("fd00:\(String(i, radix: 16))::\(String(j + 1, radix: 16))/128")!
            }
            return PeerConfig(
                publicKey: WireGuardKey(bytes: [UInt8(i & 0xff), UInt8(i >> 8)] + rep(7, 30))!,
                endpoint: i % 2 == 0 ? Endpoint("192.0.2.\(i % 250 + 1):51820") : Endpoint("[2001:db8::\(i)]:51820"),
                allowedIPs: ips, persistentKeepalive: UInt16(i % 3 == 0 ? 25 : 0))
        }
        let messages = WireGuardNetlink.setDeviceRequests(
            DeviceChange(listenPort: 1, peers: peers.map { .add($0) }), interface: "wg-big", family: Self.family,
            limit: limit)
        #expect(messages.allSatisfy { $0.count <= limit })
        #expect(messages.count > 1)
        let device = try parse(messages, interface: "wg-big")
        #expect(device.peers.map(\.config) == peers)
    }
}

/// Checks what `KernelWireGuard` hands the transport and how it reports transport errors.
/// Not a stand-in for the kernel: the kernel path runs for real in the VM test.
@Suite struct KernelWireGuardWiringTests {
    struct Errno: NetlinkErrnoError { var errno: Int32 }

    final class RecordingTransport: GenericNetlinkTransport {
        let sent = Mutex<[[[UInt8]]]>([])
        let lookups = Mutex(0)
        let reply: @Sendable ([[UInt8]]) throws -> [NetlinkMessage]
        init(reply: @escaping @Sendable ([[UInt8]]) throws -> [NetlinkMessage]) { self.reply = reply }
        func familyID(_ name: String) throws -> UInt16 {
            lookups.withLock { $0 += 1 }
            return name == "wireguard" ? 0x1c : 0
        }
        func request(_ messages: [[UInt8]]) throws -> [NetlinkMessage] {
            sent.withLock { $0.append(messages) }
            return try reply(messages)
        }
    }

    final class NoLinks: WireGuardLinkControl {
        func createWireGuardLink(named name: String) throws {}
        func deleteLink(named name: String) throws {}
        func linkExists(named name: String) throws -> Bool { true }
    }

    @Test func sendsEncodedRequestsAndCachesFamily() throws {
        let transport = RecordingTransport { _ in [] }
        let wg = KernelWireGuard(transport: transport, links: NoLinks())
        let change = DeviceChange(listenPort: 51820, peers: [.remove(key(0x22))])
        try wg.apply(change, to: "wg0")
        try wg.apply(DeviceChange(), to: "wg0")  // empty: nothing sent
        try wg.removePeer(key(0x23), from: "wg0")
        #expect(transport.sent.withLock { $0.count } == 2)
        #expect(
            transport.sent.withLock { $0[0] }
                == WireGuardNetlink.setDeviceRequests(change, interface: "wg0", family: 0x1c))
        #expect(transport.lookups.withLock { $0 } == 1)
    }

    @Test func mapsErrnoErrors() {
        let missing = KernelWireGuard(
            transport: RecordingTransport { _ in throw Errno(errno: ENODEV) }, links: NoLinks())
        #expect(throws: WireGuardError.noSuchInterface("wg0")) { try missing.device("wg0") }
        let denied = KernelWireGuard(transport: RecordingTransport { _ in throw Errno(errno: EPERM) }, links: NoLinks())
        #expect(throws: WireGuardError.self) { try denied.setFwmark(1, on: "wg0") }
        do {
            try denied.setFwmark(1, on: "wg0")
        } catch let WireGuardError.netlink(interface, operation, _, errno) {
            #expect(interface == "wg0" && operation == "set device" && errno == EPERM)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
