/// CTRL_ATTR_* of the generic netlink controller.
public struct ControlAttribute: AttributeType {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let familyID = ControlAttribute(1)
    public static let familyName = ControlAttribute(2)
    public static let version = ControlAttribute(3)
}

/// A generic netlink socket (NETLINK_GENERIC) in one namespace: resolves family names to ids
/// and carries requests that the family's code (e.g. WireGuard) builds itself.
///
///     let genl = try GenericNetlink(namespace: "ovl-1234abcd")
///     let family = try genl.family("wireguard")      // CTRL_CMD_GETFAMILY
///     var b = GenericNetlink.message(family: family.id, command: 1, version: 1, flags: [.request, .dump])
///     b.attribute(MyAttr.ifname, string: "wg-1234abcd")
///     let replies = try genl.request(b.message, operation: "get device", object: "wg-1234abcd")
///     for reply in replies { let attrs = GenericNetlink.attributes(of: reply) ... }
public final class GenericNetlink: Sendable {
    public struct Family: Hashable, Sendable {
        public var id: MessageType
        public var name: String
        public var version: UInt32
    }

    public let socket: NetlinkSocket

    public init(namespace: String? = nil) throws(NetlinkError) {
        socket = try NetlinkSocket(protocol: .generic, namespace: namespace)
    }

    static let getFamilyCommand: UInt8 = 3  // CTRL_CMD_GETFAMILY
    /// The size of `struct genlmsghdr` (cmd, version, reserved).
    public static let headerSize = 4

    /// A message for a family: netlink header plus genlmsghdr; add attributes, then `.message`.
    public static func message(family: MessageType, command: UInt8, version: UInt8, flags: MessageFlags = .request)
        -> MessageBuilder
    {
        var b = MessageBuilder(type: family, flags: flags)
        b.append(command)
        b.append(version)
        b.append(UInt16(0))
        return b
    }

    /// The attributes after the genlmsghdr of a reply.
    public static func attributes(of message: NetlinkMessage) -> Attributes {
        Attributes(message.payload.count > headerSize ? message.payload[headerSize...] : [])
    }

    /// The command byte of a reply's genlmsghdr.
    public static func command(of message: NetlinkMessage) -> UInt8? { message.payload.first }

    static func familyRequest(_ name: String) -> NetlinkRequest {
        var b = message(family: .genericControl, command: getFamilyCommand, version: 1)
        b.attribute(ControlAttribute.familyName, string: name)
        return NetlinkRequest(b, operation: "resolve generic netlink family", object: name)
    }

    static func parseFamily(_ replies: [NetlinkMessage]) -> Family? {
        for reply in replies {
            let attrs = attributes(of: reply)
            if let id = attrs.integer(ControlAttribute.familyID, as: UInt16.self) {
                return Family(
                    id: MessageType(id), name: attrs.string(ControlAttribute.familyName) ?? "",
                    version: attrs.uint32(ControlAttribute.version) ?? 0)
            }
        }
        return nil
    }

    /// CTRL_CMD_GETFAMILY: ENOENT when the family is not registered (module not loaded).
    public func family(_ name: String) throws(NetlinkError) -> Family {
        let request = Self.familyRequest(name)
        guard let family = Self.parseFamily(try socket.request(request)) else { throw request.error(.ENOENT) }
        return family
    }

    /// Sends one caller-built message (see `message(family:...)`) and returns every data reply:
    /// all parts of a dump, or none for a plain ACK. Kernel errors throw `NetlinkError`.
    @discardableResult
    public func request(_ message: [UInt8], operation: String, object: String = "") throws(NetlinkError)
        -> [NetlinkMessage]
    {
        try socket.request(message, operation: operation, object: object)
    }

    /// Several caller-built messages in one `sendmsg` (e.g. a large SET_DEVICE split in parts);
    /// per-message replies or errors, in order.
    public func requestBatch(_ messages: [NetlinkRequest]) throws(NetlinkError)
        -> [Result<[NetlinkMessage], NetlinkError>]
    {
        try socket.transact(messages, atomic: false)
    }
}
