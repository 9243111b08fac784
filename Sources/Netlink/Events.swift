/// One rtnetlink change notification.
public enum NetlinkEvent: Hashable, Sendable {
    case linkAdded(Link)  // also sent when a link changes (flags, master, mtu...)
    case linkRemoved(Link)
    case addressAdded(Address)
    case addressRemoved(Address)
    case routeAdded(Route)
    case routeRemoved(Route)

    /// Decodes an RTM_NEW*/RTM_DEL* notification; nil for kinds not modelled here.
    public static func decode(_ message: NetlinkMessage) -> NetlinkEvent? {
        switch message.type {
        case .newLink: LinkMessage.parse(message).map(NetlinkEvent.linkAdded)
        case .deleteLink: LinkMessage.parse(message).map(NetlinkEvent.linkRemoved)
        case .newAddress: AddressMessage.parse(message).map(NetlinkEvent.addressAdded)
        case .deleteAddress: AddressMessage.parse(message).map(NetlinkEvent.addressRemoved)
        case .newRoute: RouteMessage.parse(message).map(NetlinkEvent.routeAdded)
        case .deleteRoute: RouteMessage.parse(message).map(NetlinkEvent.routeRemoved)
        default: nil
        }
    }
}

/// A subscription to link/address/route changes in one namespace (`ip monitor`). Poll
/// `fileDescriptor` for readability, then call `events()`; or call it directly to block up to
/// `timeout`. When the kernel drops events (ENOBUFS) it throws: re-read the state with dumps.
public final class NetlinkEventMonitor: Sendable {
    public let socket: NetlinkSocket

    public init(namespace: String? = nil, groups: RouteGroups = .all, timeout: Duration = .seconds(5))
        throws(NetlinkError)
    {
        socket = try NetlinkSocket(protocol: .route, namespace: namespace, groups: groups.rawValue, timeout: timeout)
    }

    public var fileDescriptor: Int32 { socket.fileDescriptor }

    /// The events of one receive; throws ETIMEDOUT-style EAGAIN when none came within the timeout.
    public func events() throws(NetlinkError) -> [NetlinkEvent] {
        try socket.receiveMessages().compactMap(NetlinkEvent.decode)
    }
}
