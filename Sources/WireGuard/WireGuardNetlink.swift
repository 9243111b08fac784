import Foundation
import Glibc
import Netlink
import OverlayModel

/// The kernel's `wireguard` generic netlink family (include/uapi/linux/wireguard.h), as pure
/// functions over the Netlink module's codec: requests built with its `MessageBuilder`, replies
/// read from its `NetlinkMessage`s with its `Attributes`.
public enum WireGuardNetlink {
    public static let familyName = "wireguard"
    static let version: UInt8 = 1

    enum Command {
        static let getDevice: UInt8 = 0
        static let setDevice: UInt8 = 1
    }

    struct DeviceAttribute: AttributeType, Equatable {
        var rawValue: UInt16
        static let ifindex = DeviceAttribute(rawValue: 1)
        static let ifname = DeviceAttribute(rawValue: 2)
        static let privateKey = DeviceAttribute(rawValue: 3)
        static let publicKey = DeviceAttribute(rawValue: 4)
        static let flags = DeviceAttribute(rawValue: 5)
        static let listenPort = DeviceAttribute(rawValue: 6)
        static let fwmark = DeviceAttribute(rawValue: 7)
        static let peers = DeviceAttribute(rawValue: 8)
    }

    enum DeviceFlag {
        static let replacePeers: UInt32 = 1 << 0
    }

    struct PeerAttribute: AttributeType, Equatable {
        var rawValue: UInt16
        static let publicKey = PeerAttribute(rawValue: 1)
        static let presharedKey = PeerAttribute(rawValue: 2)
        static let flags = PeerAttribute(rawValue: 3)
        static let endpoint = PeerAttribute(rawValue: 4)
        static let persistentKeepaliveInterval = PeerAttribute(rawValue: 5)
        static let lastHandshakeTime = PeerAttribute(rawValue: 6)
        static let rxBytes = PeerAttribute(rawValue: 7)
        static let txBytes = PeerAttribute(rawValue: 8)
        static let allowedIPs = PeerAttribute(rawValue: 9)
        static let protocolVersion = PeerAttribute(rawValue: 10)
    }

    enum PeerFlag {
        static let removeMe: UInt32 = 1 << 0
        static let replaceAllowedIPs: UInt32 = 1 << 1
        static let updateOnly: UInt32 = 1 << 2
    }

    struct AllowedIPAttribute: AttributeType, Equatable {
        var rawValue: UInt16
        static let family = AllowedIPAttribute(rawValue: 1)
        static let ipaddr = AllowedIPAttribute(rawValue: 2)
        static let cidrMask = AllowedIPAttribute(rawValue: 3)
    }

    /// The unnamed entries of a nested list (peers, allowed IPs).
    struct ListEntry: AttributeType, Equatable {
        var rawValue: UInt16
        static let entry = ListEntry(rawValue: 0)
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
        var m = GenericNetlink.message(
            family: MessageType(family), command: Command.getDevice, version: version, flags: [.request, .ack, .dump])
        m.attribute(DeviceAttribute.ifname, string: interface)
        return m.message
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
            var m = GenericNetlink.message(
                family: MessageType(family), command: Command.setDevice, version: version, flags: [.request, .ack])
            m.attribute(DeviceAttribute.ifname, string: interface)
            if first {
                if let key = change.privateKey {
                    key.withBytes { m.attribute(DeviceAttribute.privateKey, bytes: $0) }
                }
                if let port = change.listenPort { m.attribute(DeviceAttribute.listenPort, port) }
                if let mark = change.fwmark { m.attribute(DeviceAttribute.fwmark, mark) }
                if change.replacePeers { m.attribute(DeviceAttribute.flags, DeviceFlag.replacePeers) }
            }
            if peerIndex < change.peers.count {
                let peersNest = m.beginNested(DeviceAttribute.peers)
                fill: while peerIndex < change.peers.count {
                    let peerStart = m.count
                    let peer = change.peers[peerIndex]
                    let peerNest = m.beginNested(ListEntry.entry)
                    putPeerHeader(peer, continuation: continuing, into: &m)
                    if m.count > limit {
                        m.truncate(to: peerStart)
                        break fill
                    }
                    let ips = allowedIPs(of: peer) ?? []
                    var sentIPs = 0
                    if ipIndex < ips.count {
                        let ipsNest = m.beginNested(PeerAttribute.allowedIPs)
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
                            m.endNested(ipsNest)
                        } else {
                            // Not one fitted: no empty nest, and a bare continuation says nothing.
                            m.truncate(to: continuing ? peerStart : ipsNest)
                        }
                    }
                    if m.count > peerStart {
                        m.endNested(peerNest)
                        continuing = true
                    }
                    guard ipIndex >= ips.count else { break fill }  // Message full mid-peer.
                    peerIndex += 1
                    ipIndex = 0
                    continuing = false
                }
                m.endNested(peersNest)
            }
            messages.append(m.message)
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
    private static func putPeerHeader(_ peer: PeerChange, continuation: Bool, into m: inout MessageBuilder) {
        m.attribute(PeerAttribute.publicKey, bytes: peer.publicKey.bytes)
        switch peer {
        case .remove:
            m.attribute(PeerAttribute.flags, PeerFlag.removeMe)
        case .update(let u):
            var flags = PeerFlag.updateOnly
            if u.allowedIPs != nil, !continuation { flags |= PeerFlag.replaceAllowedIPs }
            m.attribute(PeerAttribute.flags, flags)
            guard !continuation else { return }
            if let psk = u.presharedKey { m.attribute(PeerAttribute.presharedKey, bytes: psk.bytes) }
            if let e = u.endpoint { m.attribute(PeerAttribute.endpoint, bytes: sockaddr(e)) }
            if let k = u.persistentKeepalive { m.attribute(PeerAttribute.persistentKeepaliveInterval, k) }
        case .add(let c):
            guard !continuation else { return }
            m.attribute(PeerAttribute.flags, PeerFlag.replaceAllowedIPs)
            if let psk = c.presharedKey { m.attribute(PeerAttribute.presharedKey, bytes: psk.bytes) }
            if let e = c.endpoint { m.attribute(PeerAttribute.endpoint, bytes: sockaddr(e)) }
            if c.persistentKeepalive != 0 {
                m.attribute(PeerAttribute.persistentKeepaliveInterval, c.persistentKeepalive)
            }
        }
    }

    private static func putAllowedIP(_ p: IPPrefix, into m: inout MessageBuilder) {
        let nest = m.beginNested(ListEntry.entry)
        m.attribute(AllowedIPAttribute.family, p.isIPv6 ? afInet6 : afInet)
        m.attribute(AllowedIPAttribute.ipaddr, bytes: p.address.bytes)
        m.attribute(AllowedIPAttribute.cidrMask, p.length)
        m.endNested(nest)
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
        // Family and port come first: anything shorter names no endpoint.
        guard b.count >= 4 else { return nil }
        let s = b.startIndex
        let family = UInt16(b[s]) | UInt16(b[s + 1]) << 8  // host order (little-endian here)
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
    public static func parseDevice(_ messages: [NetlinkMessage], interface: String) throws -> Device {
        var device = Device(name: interface)
        func bad(_ what: String) -> WireGuardError { .malformedResponse(interface: interface, detail: what) }

        for message in messages {
            if message.type == .done { continue }
            if message.type == .error {
                guard let code = message.errorCode else { throw bad("short NLMSG_ERROR") }
                if code == 0 { continue }  // ACK
                if -code == ENODEV { throw WireGuardError.noSuchInterface(interface) }
                throw WireGuardError.refused(interface: interface, operation: "get device", errno: -code)
            }
            guard message.payload.count >= GenericNetlink.headerSize else { throw bad("short device message") }
            let attributes = try attributes(message.payload[GenericNetlink.headerSize...], "device message", bad)
            try parseDeviceAttributes(attributes, into: &device, bad)
        }
        return device
    }

    /// One level of attributes; a length running past its end is a malformed reply.
    private static func attributes(
        _ bytes: ArraySlice<UInt8>, _ what: String, _ bad: (String) -> WireGuardError
    ) throws -> Attributes {
        do { return try Attributes(validating: bytes, what: what) } catch { throw bad("attributes of a \(what)") }
    }

    private static func parseDeviceAttributes(
        _ attributes: Attributes, into device: inout Device, _ bad: (String) -> WireGuardError
    ) throws {
        for (type, payload) in attributes.all {
            switch DeviceAttribute(rawValue: type) {
            case .ifname: device.name = String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
            case .privateKey:
                guard payload.count == 32 else { throw bad("private key of \(payload.count) bytes") }
                // Straight into the wiped-on-release buffer.
                let secret = SecretKey(count: 32)
                secret.withMutableBytes { dst in for (i, b) in payload.enumerated() { dst[i] = b } }
                // The kernel sends zeros for a device without a key.
                device.privateKey = payload.allSatisfy { $0 == 0 } ? nil : secret
            case .publicKey:
                guard let k = WireGuardKey(bytes: Array(payload)) else { throw bad("public key") }
                device.publicKey = k.isZero ? nil : k
            case .listenPort:
                guard let v = Attributes.exact(payload, as: UInt16.self) else { throw bad("listen port") }
                device.listenPort = v
            case .fwmark:
                guard let v = Attributes.exact(payload, as: UInt32.self) else { throw bad("fwmark") }
                device.fwmark = v
            case .peers:
                for p in try Self.attributes(payload, "peer list", bad).all {
                    let peer = try parsePeer(try Self.attributes(p.value, "peer", bad), bad)
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

    private static func parsePeer(_ fields: Attributes, _ bad: (String) -> WireGuardError) throws -> Device.Peer {
        var key: WireGuardKey?
        var peer = Device.Peer(config: PeerConfig(publicKey: .zero))
        for (type, payload) in fields.all {
            switch PeerAttribute(rawValue: type) {
            case .publicKey:
                guard let k = WireGuardKey(bytes: Array(payload)) else { throw bad("peer public key") }
                key = k
            case .presharedKey:
                guard let k = WireGuardKey(bytes: Array(payload)) else { throw bad("preshared key") }
                peer.config.presharedKey = k.isZero ? nil : k
            case .endpoint:
                guard let e = endpoint(payload) else { throw bad("endpoint of \(payload.count) bytes") }
                peer.config.endpoint = e
            case .persistentKeepaliveInterval:
                guard let v = Attributes.exact(payload, as: UInt16.self) else { throw bad("keepalive") }
                peer.config.persistentKeepalive = v
            case .lastHandshakeTime:
                // struct __kernel_timespec { s64 tv_sec; s64 tv_nsec; }
                guard payload.count == 16,
                    let seconds = Attributes.exact(payload.prefix(8), as: Int64.self),
                    let nanoseconds = Attributes.exact(payload.suffix(8), as: Int64.self)
                else { throw bad("handshake time") }
                peer.lastHandshake = Device.handshakeDate(seconds: seconds, nanoseconds: nanoseconds)
            case .rxBytes:
                guard let v = Attributes.exact(payload, as: UInt64.self) else { throw bad("rx bytes") }
                peer.rxBytes = v
            case .txBytes:
                guard let v = Attributes.exact(payload, as: UInt64.self) else { throw bad("tx bytes") }
                peer.txBytes = v
            case .allowedIPs:
                for ip in try Self.attributes(payload, "allowed IP list", bad).all {
                    var family: UInt16?
                    var address: IPAddress?
                    var cidr: UInt8?
                    for (partType, part) in try Self.attributes(ip.value, "allowed IP", bad).all {
                        switch AllowedIPAttribute(rawValue: partType) {
                        case .family: family = Attributes.exact(part, as: UInt16.self)
                        case .ipaddr: address = IPAddress(bytes: Array(part))
                        case .cidrMask: cidr = Attributes.exact(part, as: UInt8.self)
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
