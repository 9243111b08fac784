// The kernel's netlink integers, typed once here so nothing above handles raw numbers.

/// `nlmsg_type`: the control types below 16, and each protocol's own types above.
public struct MessageType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let noop = MessageType(1)
    public static let error = MessageType(2)
    public static let done = MessageType(3)
    public static let overrun = MessageType(4)

    // rtnetlink
    public static let newLink = MessageType(16)
    public static let deleteLink = MessageType(17)
    public static let getLink = MessageType(18)
    public static let setLink = MessageType(19)
    public static let newAddress = MessageType(20)
    public static let deleteAddress = MessageType(21)
    public static let getAddress = MessageType(22)
    public static let newRoute = MessageType(24)
    public static let deleteRoute = MessageType(25)
    public static let getRoute = MessageType(26)

    /// The generic netlink controller (`GENL_ID_CTRL`).
    public static let genericControl = MessageType(16)
}

/// `nlmsg_flags`. The request modifiers share bits (ROOT = REPLACE), as in the kernel.
public struct MessageFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let request = MessageFlags(rawValue: 0x1)
    public static let multi = MessageFlags(rawValue: 0x2)
    public static let ack = MessageFlags(rawValue: 0x4)
    public static let echo = MessageFlags(rawValue: 0x8)
    public static let dumpInterrupted = MessageFlags(rawValue: 0x10)
    // GET modifiers
    public static let root = MessageFlags(rawValue: 0x100)
    public static let match = MessageFlags(rawValue: 0x200)
    public static let dump: MessageFlags = [.root, .match]
    // NEW modifiers
    public static let replace = MessageFlags(rawValue: 0x100)
    public static let exclusive = MessageFlags(rawValue: 0x200)
    public static let create = MessageFlags(rawValue: 0x400)
    public static let append = MessageFlags(rawValue: 0x800)
    // On NLMSG_ERROR replies
    public static let capped = MessageFlags(rawValue: 0x100)
    public static let ackTLVs = MessageFlags(rawValue: 0x200)
}

/// Netlink protocols (the third argument of `socket(AF_NETLINK, ...)`).
public struct NetlinkProtocol: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let route = NetlinkProtocol(rawValue: 0)
    public static let netfilter = NetlinkProtocol(rawValue: 12)
    public static let generic = NetlinkProtocol(rawValue: 16)
}

/// Address families as they appear in ifinfomsg/ifaddrmsg/rtmsg and nfgenmsg.
public struct AddressFamily: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unspecified = AddressFamily(rawValue: 0)
    public static let inet = AddressFamily(rawValue: 2)
    public static let bridge = AddressFamily(rawValue: 7)
    public static let inet6 = AddressFamily(rawValue: 10)
    /// nftables' `inet` (both IPv4 and IPv6) family.
    public static let nftInet = AddressFamily(rawValue: 1)

    public init(isIPv6: Bool) { self = isIPv6 ? .inet6 : .inet }
}

/// A netlink attribute type number of one attribute space (IFLA_*, IFA_*, RTA_*, ...).
public protocol AttributeType: RawRepresentable, Sendable where RawValue == UInt16 {}

extension AttributeType {
    init(_ raw: UInt16) { self.init(rawValue: raw)! }
}

/// The `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` bits; masked off when parsing.
enum AttributeFlags {
    static let nested: UInt16 = 0x8000
    static let networkByteOrder: UInt16 = 0x4000
    static let typeMask: UInt16 = 0x3FFF
}

/// Multicast groups for `RTMGRP_*` subscriptions (bit masks for the legacy bind groups field).
public struct RouteGroups: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let link = RouteGroups(rawValue: 0x1)
    public static let ipv4Address = RouteGroups(rawValue: 0x10)
    public static let ipv4Route = RouteGroups(rawValue: 0x40)
    public static let ipv6Address = RouteGroups(rawValue: 0x100)
    public static let ipv6Route = RouteGroups(rawValue: 0x400)
    /// What an agent repairing drift listens to.
    public static let all: RouteGroups = [.link, .ipv4Address, .ipv4Route, .ipv6Address, .ipv6Route]
}
