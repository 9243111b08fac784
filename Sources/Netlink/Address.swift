import OverlayModel

/// IFA_F_* (the full 32-bit set, sent as IFA_FLAGS).
public struct AddressFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let secondary = AddressFlags(rawValue: 0x01)
    /// No duplicate address detection: the address is usable at once (overlay links).
    public static let noDAD = AddressFlags(rawValue: 0x02)
    public static let optimistic = AddressFlags(rawValue: 0x04)
    public static let dadFailed = AddressFlags(rawValue: 0x08)
    public static let homeAddress = AddressFlags(rawValue: 0x10)
    public static let deprecated = AddressFlags(rawValue: 0x20)
    public static let tentative = AddressFlags(rawValue: 0x40)
    public static let permanent = AddressFlags(rawValue: 0x80)
    public static let noPrefixRoute = AddressFlags(rawValue: 0x200)
}

/// RT_SCOPE_* (ifa_scope, rtm_scope).
public struct Scope: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let universe = Scope(rawValue: 0)
    public static let site = Scope(rawValue: 200)
    public static let link = Scope(rawValue: 253)
    public static let host = Scope(rawValue: 254)
    public static let nowhere = Scope(rawValue: 255)
}

/// IFA_* attributes.
public struct AddressAttribute: AttributeType {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let address = AddressAttribute(1)
    public static let local = AddressAttribute(2)
    public static let label = AddressAttribute(3)
    public static let flags = AddressAttribute(8)
}

/// An interface address (`ip addr show`).
public struct Address: Hashable, Sendable, CustomStringConvertible {
    /// The address with its prefix length (`fd00::1/64`).
    public var prefix: IPPrefix
    public var linkIndex: Int32
    public var flags: AddressFlags
    public var scope: Scope
    public var label: String?

    public var description: String { "\(prefix) dev if#\(linkIndex)" }
}

/// Building address requests and parsing address messages: pure, no socket.
public enum AddressMessage {
    static let ifaddrmsgSize = 8

    static func build(
        _ type: MessageType, _ flags: MessageFlags, _ prefix: IPPrefix, linkIndex: Int32, _ addressFlags: AddressFlags
    )
        -> MessageBuilder
    {
        var b = MessageBuilder(type: type, flags: flags)
        b.append(AddressFamily(isIPv6: prefix.isIPv6).rawValue)
        b.append(prefix.length)
        b.append(UInt8(truncatingIfNeeded: addressFlags.rawValue))  // the legacy 8-bit field
        b.append(Scope.universe.rawValue)
        b.append(UInt32(bitPattern: linkIndex))
        // As `ip addr add` does: IFA_LOCAL is the interface's own address, IFA_ADDRESS the same
        // unless point-to-point.
        b.attribute(AddressAttribute.local, bytes: prefix.address.bytes)
        b.attribute(AddressAttribute.address, bytes: prefix.address.bytes)
        if addressFlags.rawValue > 0xFF || !addressFlags.isEmpty {
            b.attribute(AddressAttribute.flags, addressFlags.rawValue)
        }
        return b
    }

    /// `ip addr add PREFIX dev L [nodad]` (NLM_F_REPLACE: re-adding the same address is not an error).
    public static func add(_ prefix: IPPrefix, linkIndex: Int32, flags: AddressFlags = [.noDAD]) -> NetlinkRequest {
        NetlinkRequest(
            build(.newAddress, [.request, .create, .replace], prefix, linkIndex: linkIndex, flags),
            operation: "add address", object: "\(prefix) dev if#\(linkIndex)")
    }

    public static func delete(_ prefix: IPPrefix, linkIndex: Int32) -> NetlinkRequest {
        NetlinkRequest(
            build(.deleteAddress, .request, prefix, linkIndex: linkIndex, []),
            operation: "delete address", object: "\(prefix) dev if#\(linkIndex)")
    }

    public static func dump(family: AddressFamily = .unspecified) -> NetlinkRequest {
        var b = MessageBuilder(type: .getAddress, flags: [.request, .dump])
        b.append(family.rawValue)
        b.append(contentsOf: [0, 0, 0, 0, 0, 0, 0] as [UInt8])
        return NetlinkRequest(b, operation: "list addresses")
    }

    /// Decodes an RTM_NEWADDR/RTM_DELADDR message; nil for anything else.
    public static func parse(_ message: NetlinkMessage) -> Address? {
        guard message.type == .newAddress || message.type == .deleteAddress,
            message.payload.count >= ifaddrmsgSize
        else { return nil }
        let p = message.payload
        let attrs = Attributes(p[ifaddrmsgSize...])
        // IFA_LOCAL is the local address where both exist (point-to-point); IPv6 sends only IFA_ADDRESS.
        guard let raw = attrs[AddressAttribute.local] ?? attrs[AddressAttribute.address],
            let ip = IPAddress(bytes: Array(raw)),
            let prefix = IPPrefix(address: ip, length: p[1])
        else { return nil }
        return Address(
            prefix: prefix,
            linkIndex: Int32(bitPattern: p.load(UInt32.self, at: 4)),
            flags: AddressFlags(rawValue: attrs.uint32(AddressAttribute.flags) ?? UInt32(p[2])),
            scope: Scope(rawValue: p[3]),
            label: attrs.string(AddressAttribute.label))
    }
}

extension NetlinkHandle {
    /// `ip addr add PREFIX dev L nodad` (flags default to no DAD: overlay addresses are unique by
    /// construction and must work at once).
    public func addressAdd(_ prefix: IPPrefix, link: LinkID, flags: AddressFlags = [.noDAD]) throws(NetlinkError) {
        try socket.request(AddressMessage.add(prefix, linkIndex: resolve(link), flags: flags))
    }

    /// `ip addr del PREFIX dev L`.
    public func addressDelete(_ prefix: IPPrefix, link: LinkID) throws(NetlinkError) {
        try socket.request(AddressMessage.delete(prefix, linkIndex: resolve(link)))
    }

    /// `ip addr show [dev L]`, optionally one family only.
    public func addressList(link: LinkID? = nil, family: AddressFamily = .unspecified) throws(NetlinkError) -> [Address]
    {
        let index = try link.map { id throws(NetlinkError) in try resolve(id) }
        return try dump(AddressMessage.dump(family: family)).compactMap(AddressMessage.parse)
            .filter { index == nil || $0.linkIndex == index }
    }
}

extension NetlinkBatch {
    public mutating func addressAdd(_ prefix: IPPrefix, linkIndex: Int32, flags: AddressFlags = [.noDAD]) {
        append(AddressMessage.add(prefix, linkIndex: linkIndex, flags: flags))
    }

    /// Resolves a name now (one round trip) so the batch itself holds only bytes.
    public mutating func addressAdd(_ prefix: IPPrefix, link: LinkID, flags: AddressFlags = [.noDAD])
        throws(NetlinkError)
    {
        append(AddressMessage.add(prefix, linkIndex: try handle.resolve(link), flags: flags))
    }

    public mutating func addressDelete(_ prefix: IPPrefix, linkIndex: Int32) {
        append(AddressMessage.delete(prefix, linkIndex: linkIndex))
    }
}
