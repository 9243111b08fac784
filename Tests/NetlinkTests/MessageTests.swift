import Netlink
import OverlayModel
import SystemCalls
import Testing

/// Reads a host-order integer out of built bytes (tests only).
func u16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }

/// Builds a raw netlink message the way the kernel would send it (for replies in tests).
func kernelMessage(type: UInt16, flags: UInt16 = 0, seq: UInt32 = 0, payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v) { out += $0 } }
    put(UInt32(16 + payload.count))
    put(type)
    put(flags)
    put(seq)
    put(UInt32(0))
    out += payload
    while out.count % 4 != 0 { out.append(0) }
    return out
}

func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    withUnsafeBytes(of: UInt16(4 + value.count)) { out += $0 }
    withUnsafeBytes(of: type) { out += $0 }
    out += value
    while out.count % 4 != 0 { out.append(0) }
    return out
}

@Suite struct MessageEncodingTests {
    @Test func headerAndAttributesAreAlignedAndSized() {
        var b = MessageBuilder(type: .newLink, flags: [.request, .create, .exclusive])
        b.append(UInt8(0))  // family
        b.append(contentsOf: [UInt8](repeating: 0, count: 15))
        b.attribute(LinkAttribute.ifname, string: "veth0")  // 4 + 6 -> padded to 12
        b.attribute(LinkAttribute.mtu, UInt32(1420))
        let m = b.message
        #expect(u32(m, 0) == UInt32(m.count))
        #expect(m.count == 16 + 16 + 12 + 8)
        #expect(u16(m, 4) == 16)  // RTM_NEWLINK
        #expect(u16(m, 6) == 0x601)  // REQUEST | CREATE | EXCL
        #expect(u16(m, 32) == 10)  // nla_len excludes padding
        #expect(u16(m, 34) == 3)  // IFLA_IFNAME
        #expect(Array(m[36..<42]) == Array("veth0\0".utf8))
        #expect(m[42..<44] == [0, 0])  // padding
        #expect(u16(m, 46) == 4 && u32(m, 48) == 1420)
    }

    @Test func nestedAttributesCarryTheNestedFlagAndTotalLength() {
        var b = MessageBuilder(type: .newLink, flags: .request)
        b.nested(LinkAttribute.linkInfo) { info in
            info.attribute(LinkInfoAttribute.kind, string: "veth")
            info.nested(LinkInfoAttribute.data) { data in
                data.attribute(VethInfoAttribute.peer, bytes: [1, 2, 3])
            }
        }
        let m = b.message
        #expect(u16(m, 18) == 0x8000 | 18)  // NLA_F_NESTED | IFLA_LINKINFO
        #expect(Int(u16(m, 16)) == m.count - 16)
        // Parse it back, nested two levels down.
        let attrs = Attributes(Array(m[16...]))
        let info = attrs.nested(LinkAttribute.linkInfo)
        #expect(info?.string(LinkInfoAttribute.kind) == "veth")
        #expect(info?.nested(LinkInfoAttribute.data)?[VethInfoAttribute.peer].map(Array.init) == [1, 2, 3])
    }

    @Test func vethCreateRequestPutsThePeerInItsNamespace() {
        let mac: [UInt8] = [0x06, 0x12, 0x34, 0, 0, 3]
        var spec = LinkSpec.veth(
            "h0", peer: VethPeer(name: "ovl0", namespace: .fd(7), up: true, hardwareAddress: mac), up: true)
        spec.masterIndex = 42
        let request = LinkMessage.create(spec)
        #expect(request.operation == "create link" && request.object == "h0")
        let m = request.bytes
        #expect(u32(m, 16 + 8) == 1 && u32(m, 16 + 12) == 1)  // ifi_flags / ifi_change: IFF_UP
        let attrs = Attributes(Array(m[32...]))
        #expect(attrs.string(LinkAttribute.ifname) == "h0")
        #expect(attrs.uint32(LinkAttribute.master) == 42)
        let peer = attrs.nested(LinkAttribute.linkInfo)?.nested(LinkInfoAttribute.data)?[VethInfoAttribute.peer]
        let peerBytes = Array(peer ?? [])
        // The peer carries its own ifinfomsg (never up at creation: veth refuses before pairing).
        #expect(peerBytes.count > 16 && u32(peerBytes, 8) == 0)
        let peerAttrs = Attributes(Array(peerBytes[16...]))
        #expect(peerAttrs.string(LinkAttribute.ifname) == "ovl0")
        #expect(peerAttrs.uint32(LinkAttribute.netnsFD) == 7)
        #expect(peerAttrs[LinkAttribute.address].map(Array.init) == mac)
    }

    @Test func addressRequestsCarryNoDADAndBothAddressAttributes() {
        let prefix = IPPrefix("fd12:3456:789a:1::10/64")!
        let m = AddressMessage.add(prefix, linkIndex: 5).bytes
        #expect(m[16] == 10 && m[17] == 64)  // AF_INET6, /64
        #expect(m[18] == 0x02)  // IFA_F_NODAD in the legacy field
        #expect(u32(m, 20) == 5)
        let attrs = Attributes(Array(m[24...]))
        #expect(attrs[AddressAttribute.local].map(Array.init) == prefix.address.bytes)
        #expect(attrs[AddressAttribute.address].map(Array.init) == prefix.address.bytes)
        #expect(attrs.uint32(AddressAttribute.flags) == AddressFlags.noDAD.rawValue)
    }

    @Test func defaultRouteHasNoDestinationAndTheMainTable() {
        let r = Route.defaultRoute(via: IPAddress("fd00::1")!, outputIndex: 3)
        let m = RouteMessage.add(r).bytes
        #expect(m[16] == 10 && m[17] == 0)  // AF_INET6, dst_len 0
        #expect(m[20] == 254)  // RT_TABLE_MAIN
        #expect(m[21] == RouteProtocol.static.rawValue)
        #expect(m[22] == Scope.universe.rawValue)
        let attrs = Attributes(Array(m[28...]))
        #expect(attrs[RouteAttribute.destination] == nil)
        #expect(attrs[RouteAttribute.gateway].map(Array.init) == IPAddress("fd00::1")!.bytes)
        #expect(attrs.uint32(RouteAttribute.outputInterface) == 3)
        #expect(attrs.uint32(RouteAttribute.table) == 254)
        // A route without a gateway is on-link, as `ip route` makes it.
        #expect(Route(destination: IPPrefix("fd00:1::/64")!, outputIndex: 3).scope == .link)
    }

    @Test func genericNetlinkFamilyLookupMessage() {
        var b = GenericNetlink.message(family: .genericControl, command: 3, version: 1)
        b.attribute(ControlAttribute.familyName, string: "wireguard")
        let m = b.message
        #expect(u16(m, 4) == 16)  // GENL_ID_CTRL
        #expect(m[16] == 3 && m[17] == 1)  // CTRL_CMD_GETFAMILY, version 1
        #expect(Attributes(Array(m[20...])).string(ControlAttribute.familyName) == "wireguard")
    }
}

@Suite struct MessageDecodingTests {
    /// A captured-style dump: two RTM_NEWLINK parts flagged MULTI, then NLMSG_DONE, in one buffer.
    static func linkPayload(index: Int32, name: String, kind: String?, master: Int32? = nil, up: Bool) -> [UInt8] {
        var p: [UInt8] = [0, 0, 1, 0]  // family, pad, ARPHRD_ETHER
        withUnsafeBytes(of: index) { p += $0 }
        withUnsafeBytes(of: UInt32(up ? 0x1043 : 0x1002)) { p += $0 }
        p += [0, 0, 0, 0]
        p += attribute(3, Array(name.utf8) + [0])
        p += attribute(4, withUnsafeBytes(of: UInt32(1500)) { Array($0) })
        if let master { p += attribute(10, withUnsafeBytes(of: master) { Array($0) }) }
        if let kind { p += attribute(0x8000 | 18, attribute(1, Array(kind.utf8) + [0])) }
        return p
    }

    @Test func multipartDumpDecodesEveryPartUntilDone() throws {
        var buffer = kernelMessage(
            type: 16, flags: 2, seq: 9, payload: Self.linkPayload(index: 1, name: "lo", kind: nil, up: true))
        buffer += kernelMessage(
            type: 16, flags: 2, seq: 9,
            payload: Self.linkPayload(index: 4, name: "vh0", kind: "veth", master: 3, up: false))
        buffer += kernelMessage(type: 3, flags: 2, seq: 9, payload: [0, 0, 0, 0])
        let messages = try NetlinkMessage.parse(buffer)
        #expect(messages.map(\.type) == [.newLink, .newLink, .done])
        #expect(messages.allSatisfy { $0.flags.contains(.multi) && $0.sequence == 9 })
        let links = messages.compactMap(LinkMessage.parse)
        #expect(links.map(\.name) == ["lo", "vh0"])
        #expect(links[0].isUp && links[0].kind == nil)
        #expect(links[1].kind == .veth && links[1].masterIndex == 3 && !links[1].isUp && links[1].mtu == 1500)
    }

    @Test func truncatedBufferIsAnError() {
        let full = kernelMessage(type: 16, payload: Self.linkPayload(index: 1, name: "lo", kind: nil, up: true))
        #expect(throws: NetlinkError.self) { try NetlinkMessage.parse(full.dropLast(8)) }
    }

    @Test func malformedAttributeLengthStopsTheWalkWithoutCrashing() {
        var bytes = attribute(3, Array("ok\0".utf8))
        bytes += [200, 0, 4, 0, 1, 2]  // claims 200 bytes, has 6
        let attrs = Attributes(bytes)
        #expect(attrs.all.count == 1)
        #expect(attrs.string(LinkAttribute.ifname) == "ok")
    }

    @Test func errorReplyCarriesErrnoSequenceAndExtendedAckText() throws {
        // NLMSG_ERROR with -EEXIST, the echoed request header, and NLMSGERR_ATTR_MSG (capped + TLVs).
        var payload: [UInt8] = []
        withUnsafeBytes(of: Int32(-17)) { payload += $0 }
        payload += kernelMessage(type: 16, flags: 0x605, seq: 77, payload: [])
        payload += attribute(1, Array("File exists\0".utf8))
        let reply = try NetlinkMessage.parse(kernelMessage(type: 2, flags: 0x300, seq: 77, payload: payload))[0]
        #expect(reply.errorCode == -17)
        #expect(reply.sequence == 77)
    }

    @Test func addressAndRouteNotificationsDecode() throws {
        var a: [UInt8] = [10, 64, 0x02, 0]
        withUnsafeBytes(of: UInt32(6)) { a += $0 }
        a += attribute(1, IPAddress("fd00::5")!.bytes)
        a += attribute(8, withUnsafeBytes(of: UInt32(0x82)) { Array($0) })
        let address = try #require(
            AddressMessage.parse(try NetlinkMessage.parse(kernelMessage(type: 20, payload: a))[0]))
        #expect(address.prefix == IPPrefix("fd00::5/64")! && address.linkIndex == 6)
        #expect(address.flags == [.noDAD, .permanent])

        var r: [UInt8] = [10, 0, 0, 0, 254, 4, 0, 1, 0, 0, 0, 0]
        r += attribute(5, IPAddress("fd00::1")!.bytes)
        r += attribute(4, withUnsafeBytes(of: UInt32(6)) { Array($0) })
        r += attribute(15, withUnsafeBytes(of: UInt32(254)) { Array($0) })
        let message = try NetlinkMessage.parse(kernelMessage(type: 24, payload: r))[0]
        let route = try #require(RouteMessage.parse(message))
        #expect(route.destination.length == 0 && route.gateway == IPAddress("fd00::1")! && route.outputIndex == 6)
        #expect(route.table == .main && route.protocol == .static)
        #expect(NetlinkEvent.decode(message) == .routeAdded(route))
    }
}

@Suite struct ConstantsAndErrorsTests {
    @Test func typedConstantsHaveTheKernelValues() {
        #expect(MessageFlags.dump.rawValue == 0x300)
        #expect(MessageFlags([.request, .ack]).rawValue == 5)
        #expect(MessageType.newRoute.rawValue == 24)
        #expect(AddressFamily.inet6.rawValue == 10)
        #expect(RouteGroups.all.rawValue == 0x1 | 0x10 | 0x40 | 0x100 | 0x400)
        #expect(LinkFlags.up.rawValue == 1)
        #expect(AddressFlags.noDAD.rawValue == 2)
    }

    @Test func errorsReadLikeTheShell() {
        let e = NetlinkError(operation: "create link", object: "veth0", errno: .EEXIST)
        #expect(e.description == "create link veth0: File exists (EEXIST)")
        #expect(Errno.EOPNOTSUPP.description == "Operation not supported (EOPNOTSUPP)")
        #expect(Errno(rawValue: 4095).name == "errno 4095")
        let withKernelText = NetlinkError(
            operation: "create link", object: "wg0", errno: .EOPNOTSUPP, kernelMessage: "Unknown device type")
        #expect(withKernelText.description.hasSuffix("- Unknown device type"))
    }

    @Test func namespaceNamesAreValidatedBeforeAnySystemCall() {
        #expect(throws: NetlinkError(operation: "create netns", object: "../etc", errno: .EINVAL)) {
            try NetworkNamespace.create("../etc")
        }
        #expect(NetworkNamespace.path(of: "ovl-1") == "/run/netns/ovl-1")
        #expect(Sysctl.path(of: "net.ipv6.conf.all.forwarding") == "/proc/sys/net/ipv6/conf/all/forwarding")
    }
}
