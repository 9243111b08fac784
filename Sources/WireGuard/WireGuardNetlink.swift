import Foundation
import Glibc
import OverlayModel

/// The kernel's `wireguard` generic netlink family (include/uapi/linux/wireguard.h), as pure
/// byte functions: requests built as `[UInt8]`, replies parsed from `[UInt8]`.
public enum WireGuardNetlink {
    public static let familyName = "wireguard"
    static let version: UInt8 = 1

    enum Command {
        static let getDevice: UInt8 = 0
        static let setDevice: UInt8 = 1
    }

    enum DeviceAttribute {
        static let ifindex: UInt16 = 1
        static let ifname: UInt16 = 2
        static let privateKey: UInt16 = 3
        static let publicKey: UInt16 = 4
        static let flags: UInt16 = 5
        static let listenPort: UInt16 = 6
        static let fwmark: UInt16 = 7
        static let peers: UInt16 = 8
    }

    enum DeviceFlag {
        static let replacePeers: UInt32 = 1 << 0
    }

    enum PeerAttribute {
        static let publicKey: UInt16 = 1
        static let presharedKey: UInt16 = 2
        static let flags: UInt16 = 3
        static let endpoint: UInt16 = 4
        static let persistentKeepaliveInterval: UInt16 = 5
        static let lastHandshakeTime: UInt16 = 6
        static let rxBytes: UInt16 = 7
        static let txBytes: UInt16 = 8
        static let allowedIPs: UInt16 = 9
        static let protocolVersion: UInt16 = 10
    }

    enum PeerFlag {
        static let removeMe: UInt32 = 1 << 0
        static let replaceAllowedIPs: UInt32 = 1 << 1
        static let updateOnly: UInt32 = 1 << 2
    }

    enum AllowedIPAttribute {
        static let family: UInt16 = 1
        static let ipaddr: UInt16 = 2
        static let cidrMask: UInt16 = 3
    }

    static let afInet: UInt16 = 2
    static let afInet6: UInt16 = 10

    /// The size wireguard-tools keeps each message under: libmnl's MNL_SOCKET_BUFFER_SIZE,
    /// the page size capped at 8 KiB.
    public static var defaultMessageLimit: Int { min(Int(sysconf(Int32(_SC_PAGESIZE))), 8192) }
    /// Below this a single peer header plus one allowed IP might not fit: no progress.
    public static let minimumMessageLimit = 256

    // MARK: - Requests

    /// `WG_CMD_GET_DEVICE` for one interface, as a dump (the only way the kernel answers it).
    public static func getDeviceRequest(interface: String, family: UInt16) -> [UInt8] {
        var m = GenericNetlinkMessage(
            family: family, command: Command.getDevice, version: version,
            flags: Netlink.flagRequest | Netlink.flagAck | Netlink.flagDump, capacity: 64)
        m.putString(DeviceAttribute.ifname, interface)
        return m.finished()
    }

    /// `WG_CMD_SET_DEVICE` for `change`, split into as many messages as needed to keep each
    /// under `limit` bytes. Device attributes (and REPLACE_PEERS, if asked) go in the first
    /// message only; later messages continue the peer list. A peer whose AllowedIPs do not fit
    /// is continued in the next message, repeated with only its key (and UPDATE_ONLY if it had
    /// it) and without REPLACE_ALLOWEDIPS, so the continuation appends to what was replaced.
    /// The first message may hold the private key: the caller wipes the messages after sending.
    public static func setDeviceRequests(
        _ change: DeviceChange, interface: String, family: UInt16, limit: Int = defaultMessageLimit
    ) -> [[UInt8]] {
        precondition(limit >= minimumMessageLimit, "netlink message limit \(limit) below \(minimumMessageLimit)")
        var messages: [[UInt8]] = []
        var peerIndex = 0
        var ipIndex = 0  // next AllowedIP of peers[peerIndex] to send
        var continuing = false  // peers[peerIndex]'s header went out in an earlier message
        var first = true
        repeat {
            var m = GenericNetlinkMessage(
                family: family, command: Command.setDevice, version: version,
                flags: Netlink.flagRequest | Netlink.flagAck, capacity: limit)
            m.putString(DeviceAttribute.ifname, interface)
            if first {
                if let key = change.privateKey {
                    key.withBytes { m.put(DeviceAttribute.privateKey, secret: $0) }
                }
                if let port = change.listenPort { m.putU16(DeviceAttribute.listenPort, port) }
                if let mark = change.fwmark { m.putU32(DeviceAttribute.fwmark, mark) }
                if change.replacePeers { m.putU32(DeviceAttribute.flags, DeviceFlag.replacePeers) }
            }
            if peerIndex < change.peers.count {
                let peersNest = m.beginNest(DeviceAttribute.peers)
                fill: while peerIndex < change.peers.count {
                    let peerStart = m.count
                    let peer = change.peers[peerIndex]
                    let peerNest = m.beginNest(0)
                    putPeerHeader(peer, continuation: continuing, into: &m)
                    if m.count > limit {
                        m.truncate(to: peerStart)
                        break fill
                    }
                    let ips = allowedIPs(of: peer) ?? []
                    var sentIPs = 0
                    if ipIndex < ips.count {
                        let ipsNest = m.beginNest(PeerAttribute.allowedIPs)
                        while ipIndex < ips.count {
                            let ipStart = m.count
                            putAllowedIP(ips[ipIndex], into: &m)
                            if m.count > limit {
                                m.truncate(to: ipStart)
                                break
                            }
                            ipIndex += 1
                            sentIPs += 1
                        }
                        if sentIPs > 0 {
                            m.endNest(ipsNest)
                        } else {
                            // Not one fitted: no empty nest, and a bare continuation says nothing.
                            m.truncate(to: continuing ? peerStart : ipsNest)
                        }
                    }
                    if m.count > peerStart {
                        m.endNest(peerNest)
                        continuing = true
                    }
                    guard ipIndex >= ips.count else { break fill }  // Message full mid-peer.
                    peerIndex += 1
                    ipIndex = 0
                    continuing = false
                }
                m.endNest(peersNest)
            }
            messages.append(m.finished())
            m.wipe()
            first = false
        } while peerIndex < change.peers.count
        return messages
    }

    private static func allowedIPs(of peer: PeerChange) -> [IPPrefix]? {
        switch peer {
        case .add(let c): c.allowedIPs
        case .update(let u): u.allowedIPs
        case .remove: nil
        }
    }

    /// Public key, flags and the peer's other fields; a continuation carries only the key and
    /// UPDATE_ONLY, so it neither replaces the AllowedIPs sent so far nor repeats the rest.
    private static func putPeerHeader(_ peer: PeerChange, continuation: Bool, into m: inout GenericNetlinkMessage) {
        m.put(PeerAttribute.publicKey, peer.publicKey.bytes)
        switch peer {
        case .remove:
            m.putU32(PeerAttribute.flags, PeerFlag.removeMe)
        case .update(let u):
            var flags = PeerFlag.updateOnly
            if u.allowedIPs != nil, !continuation { flags |= PeerFlag.replaceAllowedIPs }
            m.putU32(PeerAttribute.flags, flags)
            guard !continuation else { return }
            if let psk = u.presharedKey { m.put(PeerAttribute.presharedKey, psk.bytes) }
            if let e = u.endpoint { m.put(PeerAttribute.endpoint, sockaddr(e)) }
            if let k = u.persistentKeepalive { m.putU16(PeerAttribute.persistentKeepaliveInterval, k) }
        case .add(let c):
            guard !continuation else { return }
            m.putU32(PeerAttribute.flags, PeerFlag.replaceAllowedIPs)
            if let psk = c.presharedKey { m.put(PeerAttribute.presharedKey, psk.bytes) }
            if let e = c.endpoint { m.put(PeerAttribute.endpoint, sockaddr(e)) }
            if c.persistentKeepalive != 0 {
                m.putU16(PeerAttribute.persistentKeepaliveInterval, c.persistentKeepalive)
            }
        }
    }

    private static func putAllowedIP(_ p: IPPrefix, into m: inout GenericNetlinkMessage) {
        let nest = m.beginNest(0)
        m.putU16(AllowedIPAttribute.family, p.isIPv6 ? afInet6 : afInet)
        m.put(AllowedIPAttribute.ipaddr, p.address.bytes)
        m.putU8(AllowedIPAttribute.cidrMask, p.length)
        m.endNest(nest)
    }

    /// struct sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes): family in host order, port
    /// and address in network order.
    static func sockaddr(_ e: Endpoint) -> [UInt8] {
        let port = [UInt8(e.port >> 8), UInt8(e.port & 0xFF)]
        switch e.address {
        case .v4(let a):
            return withUnsafeBytes(of: afInet.littleEndian, Array.init) + port + a.bytes
                + [UInt8](repeating: 0, count: 8)
        case .v6(let a):
            return withUnsafeBytes(of: afInet6.littleEndian, Array.init) + port + [0, 0, 0, 0] + a.bytes + [0, 0, 0, 0]
        }
    }

    static func endpoint(_ b: ArraySlice<UInt8>) -> Endpoint? {
        guard b.count >= 2 else { return nil }
        let family = NetlinkAttribute.load(b, UInt16.self)
        let s = b.startIndex
        let port = UInt16(b[s + 2]) << 8 | UInt16(b[s + 3])
        if family == afInet, b.count >= 16, let a = IPv4Address(bytes: b[(s + 4)..<(s + 8)]) {
            return Endpoint(address: .v4(a), port: port)
        }
        if family == afInet6, b.count >= 28, let a = IPv6Address(bytes: b[(s + 8)..<(s + 24)]) {
            return Endpoint(address: .v6(a), port: port)
        }
        return nil
    }

    // MARK: - Replies

    /// Parses the messages of a `WG_CMD_GET_DEVICE` dump into one `Device`. Device attributes
    /// come in the first message; peers span messages, and a peer whose AllowedIPs did not fit
    /// is repeated at the start of the next one (key and AllowedIPs only): those are merged.
    /// ACKs and NLMSG_DONE are skipped; an NLMSG_ERROR with an error is thrown.
    public static func parseDevice(_ messages: [[UInt8]], interface: String) throws -> Device {
        var device = Device(name: interface)
        func bad(_ what: String) -> WireGuardError { .malformedResponse(interface: interface, detail: what) }

        for message in messages {
            var offset = 0
            // One buffer may hold several messages (a transport may pass a datagram as is).
            while message.count - offset >= Netlink.headerSize {
                let all = message[...]
                let length = Int(NetlinkAttribute.load(all, UInt32.self, at: offset))
                let type = NetlinkAttribute.load(all, UInt16.self, at: offset + 4)
                guard length >= Netlink.headerSize, offset + length <= message.count else {
                    throw bad("netlink message length \(length) at offset \(offset) of \(message.count)")
                }
                defer { offset += Netlink.align(length) }
                if type == Netlink.typeDone { continue }
                if type == Netlink.typeError {
                    guard length >= Netlink.headerSize + 4 else { throw bad("short NLMSG_ERROR") }
                    let code = Int32(bitPattern: NetlinkAttribute.load(all, UInt32.self, at: offset + 16))
                    if code == 0 { continue }  // ACK
                    if -code == ENODEV { throw WireGuardError.noSuchInterface(interface) }
                    throw WireGuardError.refused(interface: interface, operation: "get device", errno: -code)
                }
                let body = message[(offset + Netlink.headerSize + Netlink.genlHeaderSize)..<(offset + length)]
                guard length >= Netlink.headerSize + Netlink.genlHeaderSize,
                    let attributes = NetlinkAttribute.parse(body)
                else { throw bad("attributes of a device message") }
                try parseDeviceAttributes(attributes, into: &device, bad)
            }
        }
        return device
    }

    private static func parseDeviceAttributes(
        _ attributes: [NetlinkAttribute], into device: inout Device, _ bad: (String) -> WireGuardError
    ) throws {
        for a in attributes {
            switch a.type {
            case DeviceAttribute.ifname: device.name = a.string
            case DeviceAttribute.privateKey:
                guard a.payload.count == 32 else { throw bad("private key of \(a.payload.count) bytes") }
                // Straight into the wiped-on-release buffer.
                let secret = SecretKey(count: 32)
                secret.withMutableBytes { dst in for (i, b) in a.payload.enumerated() { dst[i] = b } }
                // The kernel sends zeros for a device without a key.
                device.privateKey = a.payload.allSatisfy { $0 == 0 } ? nil : secret
            case DeviceAttribute.publicKey:
                guard let k = WireGuardKey(bytes: Array(a.payload)) else { throw bad("public key") }
                device.publicKey = k.isZero ? nil : k
            case DeviceAttribute.listenPort:
                guard let v = a.u16 else { throw bad("listen port") }
                device.listenPort = v
            case DeviceAttribute.fwmark:
                guard let v = a.u32 else { throw bad("fwmark") }
                device.fwmark = v
            case DeviceAttribute.peers:
                guard let peers = NetlinkAttribute.parse(a.payload) else { throw bad("peer list") }
                for p in peers {
                    guard let fields = NetlinkAttribute.parse(p.payload) else { throw bad("peer") }
                    let peer = try parsePeer(fields, bad)
                    if let last = device.peers.last, last.publicKey == peer.publicKey {
                        // Continued from the previous message: only more AllowedIPs.
                        device.peers[device.peers.count - 1].config.allowedIPs += peer.allowedIPs
                    } else {
                        device.peers.append(peer)
                    }
                }
            default: break  // ifindex, and attributes of newer kernels.
            }
        }
    }

    private static func parsePeer(_ fields: [NetlinkAttribute], _ bad: (String) -> WireGuardError) throws -> Device.Peer
    {
        var key: WireGuardKey?
        var peer = Device.Peer(config: PeerConfig(publicKey: .zero))
        for f in fields {
            switch f.type {
            case PeerAttribute.publicKey:
                guard let k = WireGuardKey(bytes: Array(f.payload)) else { throw bad("peer public key") }
                key = k
            case PeerAttribute.presharedKey:
                guard let k = WireGuardKey(bytes: Array(f.payload)) else { throw bad("preshared key") }
                peer.config.presharedKey = k.isZero ? nil : k
            case PeerAttribute.endpoint:
                guard let e = endpoint(f.payload) else { throw bad("endpoint of \(f.payload.count) bytes") }
                peer.config.endpoint = e
            case PeerAttribute.persistentKeepaliveInterval:
                guard let v = f.u16 else { throw bad("keepalive") }
                peer.config.persistentKeepalive = v
            case PeerAttribute.lastHandshakeTime:
                // struct __kernel_timespec { s64 tv_sec; s64 tv_nsec; }
                guard f.payload.count == 16 else { throw bad("handshake time") }
                peer.lastHandshake = Device.handshakeDate(
                    seconds: Int64(bitPattern: NetlinkAttribute.load(f.payload, UInt64.self)),
                    nanoseconds: Int64(bitPattern: NetlinkAttribute.load(f.payload, UInt64.self, at: 8)))
            case PeerAttribute.rxBytes:
                guard let v = f.u64 else { throw bad("rx bytes") }
                peer.rxBytes = v
            case PeerAttribute.txBytes:
                guard let v = f.u64 else { throw bad("tx bytes") }
                peer.txBytes = v
            case PeerAttribute.allowedIPs:
                guard let ips = NetlinkAttribute.parse(f.payload) else { throw bad("allowed IPs") }
                for ip in ips {
                    guard let parts = NetlinkAttribute.parse(ip.payload) else { throw bad("allowed IP") }
                    var family: UInt16?
                    var address: IPAddress?
                    var cidr: UInt8?
                    for part in parts {
                        switch part.type {
                        case AllowedIPAttribute.family: family = part.u16
                        case AllowedIPAttribute.ipaddr: address = IPAddress(bytes: Array(part.payload))
                        case AllowedIPAttribute.cidrMask: cidr = part.u8
                        default: break
                        }
                    }
                    guard let address, let cidr, family == (address.isIPv6 ? afInet6 : afInet),
                        let prefix = IPPrefix(address: address, length: cidr)
                    else {
                        throw bad(
                            "allowed IP (family \(family.map(String.init) ?? "none"), mask \(cidr.map(String.init) ?? "none"))"
                        )
                    }
                    peer.config.allowedIPs.append(prefix)
                }
            default: break  // protocol version, flags, newer attributes.
            }
        }
        guard let key else { throw bad("peer without public key") }
        peer.config.publicKey = key
        return peer
    }
}
