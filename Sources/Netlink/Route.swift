import OverlayModel

/// Routing table ids (`rtm_table` / RTA_TABLE).
public struct RouteTable: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let main = RouteTable(rawValue: 254)
    public static let local = RouteTable(rawValue: 255)
}

/// Who installed a route (`rtm_protocol`); `ip route` prints these as proto kernel/boot/static.
public struct RouteProtocol: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let kernel = RouteProtocol(rawValue: 2)
    public static let boot = RouteProtocol(rawValue: 3)
    public static let `static` = RouteProtocol(rawValue: 4)
}

/// `rtm_type`.
public struct RouteType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unicast = RouteType(rawValue: 1)
    public static let local = RouteType(rawValue: 2)
    public static let broadcast = RouteType(rawValue: 3)
    public static let multicast = RouteType(rawValue: 5)
    public static let blackhole = RouteType(rawValue: 6)
    public static let unreachable = RouteType(rawValue: 7)
}

/// RTA_* attributes.
public struct RouteAttribute: AttributeType {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let destination = RouteAttribute(1)
    public static let source = RouteAttribute(2)
    public static let outputInterface = RouteAttribute(4)
    public static let gateway = RouteAttribute(5)
    public static let priority = RouteAttribute(6)
    public static let preferredSource = RouteAttribute(7)
    public static let table = RouteAttribute(15)
}

/// A route (`ip route show`). The destination always carries the family; `::/0` is the default.
public struct Route: Hashable, Sendable, CustomStringConvertible {
    public var destination: IPPrefix
    public var gateway: IPAddress?
    public var outputIndex: Int32?
    public var table: RouteTable
    public var `protocol`: RouteProtocol
    public var scope: Scope
    public var type: RouteType
    public var priority: UInt32?

    public init(
        destination: IPPrefix, gateway: IPAddress? = nil, outputIndex: Int32? = nil, table: RouteTable = .main,
        protocol: RouteProtocol = .static, scope: Scope? = nil, type: RouteType = .unicast, priority: UInt32? = nil
    ) {
        self.destination = destination
        self.gateway = gateway
        self.outputIndex = outputIndex
        self.table = table
        self.protocol = `protocol`
        // Like `ip route`: a route without a gateway is on-link.
        self.scope = scope ?? (gateway == nil && type == .unicast ? .link : .universe)
        self.type = type
        self.priority = priority
    }

    /// The default route of the family of `gateway`, via it.
    public static func defaultRoute(via gateway: IPAddress, outputIndex: Int32? = nil) -> Route {
        let any = IPPrefix(
            address: gateway.isIPv6 ? .v6(IPv6Address(high: 0, low: 0)) : .v4(IPv4Address(0)), length: 0)!
        return Route(destination: any, gateway: gateway, outputIndex: outputIndex)
    }

    public var isIPv6: Bool { destination.isIPv6 }

    public var description: String {
        var s = destination.length == 0 ? "default" : destination.masked.description
        if let gateway { s += " via \(gateway)" }
        if let outputIndex { s += " dev if#\(outputIndex)" }
        if table != .main { s += " table \(table.rawValue)" }
        return s
    }
}

/// Building route requests and parsing route messages: pure, no socket.
public enum RouteMessage {
    static let rtmsgSize = 12

    static func build(_ type: MessageType, _ flags: MessageFlags, _ route: Route) -> MessageBuilder {
        var b = MessageBuilder(type: type, flags: flags)
        b.append(AddressFamily(isIPv6: route.isIPv6).rawValue)
        b.append(route.destination.length)
        b.append(UInt8(0))  // src_len
        b.append(UInt8(0))  // tos
        b.append(UInt8(truncatingIfNeeded: route.table.rawValue < 256 ? route.table.rawValue : 252))
        b.append(route.protocol.rawValue)
        b.append(route.scope.rawValue)
        b.append(route.type.rawValue)
        b.append(UInt32(0))  // rtm_flags
        if route.destination.length > 0 {
            b.attribute(RouteAttribute.destination, bytes: route.destination.masked.address.bytes)
        }
        if let gateway = route.gateway { b.attribute(RouteAttribute.gateway, bytes: gateway.bytes) }
        if let oif = route.outputIndex { b.attribute(RouteAttribute.outputInterface, UInt32(bitPattern: oif)) }
        if let priority = route.priority { b.attribute(RouteAttribute.priority, priority) }
        b.attribute(RouteAttribute.table, route.table.rawValue)
        return b
    }

    /// `ip route add` (fails with EEXIST if present).
    public static func add(_ route: Route) -> NetlinkRequest {
        NetlinkRequest(
            build(.newRoute, [.request, .create, .exclusive], route), operation: "add route", object: route.description)
    }

    /// `ip route replace`: idempotent.
    public static func replace(_ route: Route) -> NetlinkRequest {
        NetlinkRequest(
            build(.newRoute, [.request, .create, .replace], route), operation: "replace route",
            object: route.description)
    }

    public static func delete(_ route: Route) -> NetlinkRequest {
        NetlinkRequest(build(.deleteRoute, .request, route), operation: "delete route", object: route.description)
    }

    public static func dump(family: AddressFamily) -> NetlinkRequest {
        var b = MessageBuilder(type: .getRoute, flags: [.request, .dump])
        b.append(family.rawValue)
        b.append(contentsOf: [UInt8](repeating: 0, count: rtmsgSize - 1))
        return NetlinkRequest(b, operation: "list routes")
    }

    /// Decodes an RTM_NEWROUTE/RTM_DELROUTE message; nil for anything else (or a family we don't model).
    public static func parse(_ message: NetlinkMessage) -> Route? {
        guard message.type == .newRoute || message.type == .deleteRoute, message.payload.count >= rtmsgSize else {
            return nil
        }
        let p = message.payload
        let family = AddressFamily(rawValue: p[0])
        guard family == .inet || family == .inet6 else { return nil }
        let attrs = Attributes(p[rtmsgSize...])
        let zero: IPAddress = family == .inet6 ? .v6(IPv6Address(high: 0, low: 0)) : .v4(IPv4Address(0))
        let dst = attrs[RouteAttribute.destination].flatMap { IPAddress(bytes: Array($0)) } ?? zero
        guard let destination = IPPrefix(address: dst, length: p[1]) else { return nil }
        return Route(
            destination: destination,
            gateway: attrs[RouteAttribute.gateway].flatMap { IPAddress(bytes: Array($0)) },
            outputIndex: attrs.integer(RouteAttribute.outputInterface, as: Int32.self),
            table: RouteTable(rawValue: attrs.uint32(RouteAttribute.table) ?? UInt32(p[4])),
            protocol: RouteProtocol(rawValue: p[5]),
            scope: Scope(rawValue: p[6]),
            type: RouteType(rawValue: p[7]),
            priority: attrs.uint32(RouteAttribute.priority))
    }
}

extension NetlinkHandle {
    /// `ip route add ...`.
    public func routeAdd(_ route: Route) throws(NetlinkError) {
        try socket.request(RouteMessage.add(route))
    }

    /// `ip route replace ...`.
    public func routeReplace(_ route: Route) throws(NetlinkError) {
        try socket.request(RouteMessage.replace(route))
    }

    /// `ip route del ...`.
    public func routeDelete(_ route: Route) throws(NetlinkError) {
        try socket.request(RouteMessage.delete(route))
    }

    /// `ip [-6|-4] route show table all`; filter on `table` for the main table only.
    public func routeList(family: AddressFamily = .inet6) throws(NetlinkError) -> [Route] {
        try dump(RouteMessage.dump(family: family)).compactMap(RouteMessage.parse)
    }

    /// The routes of one table. The dump holds every table (the local one has a route per
    /// address); the others are skipped on their header's table byte, before their attributes
    /// are parsed. A table numbered from 256 is in an attribute only, so those are parsed.
    public func routeList(family: AddressFamily = .inet6, table: RouteTable) throws(NetlinkError) -> [Route] {
        let headerTable = table.rawValue < 256 ? UInt8(table.rawValue) : nil
        return try dump(RouteMessage.dump(family: family)).compactMap { message in
            let p = message.payload
            if let headerTable, p.count > 4, p[p.startIndex + 4] != headerTable { return nil }
            return RouteMessage.parse(message).flatMap { $0.table == table ? $0 : nil }
        }
    }
}

extension NetlinkBatch {
    public mutating func routeAdd(_ route: Route) { append(RouteMessage.add(route)) }
    public mutating func routeReplace(_ route: Route) { append(RouteMessage.replace(route)) }
    public mutating func routeDelete(_ route: Route) { append(RouteMessage.delete(route)) }
}
