import Glibc

/// The kind of a link (`IFLA_INFO_KIND`), as `ip -d link` prints it.
public struct LinkKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let veth = LinkKind(rawValue: "veth")
    public static let bridge = LinkKind(rawValue: "bridge")
    public static let wireguard = LinkKind(rawValue: "wireguard")
    /// TUN/TAP devices (wireguard-go's) report kind `tun`.
    public static let tun = LinkKind(rawValue: "tun")
    public var description: String { rawValue }
}

/// `ifi_flags` (IFF_*).
public struct LinkFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let up = LinkFlags(rawValue: 0x1)
    public static let broadcast = LinkFlags(rawValue: 0x2)
    public static let loopback = LinkFlags(rawValue: 0x8)
    public static let pointToPoint = LinkFlags(rawValue: 0x10)
    public static let running = LinkFlags(rawValue: 0x40)
    public static let noARP = LinkFlags(rawValue: 0x80)
    public static let multicast = LinkFlags(rawValue: 0x1000)
    public static let lowerUp = LinkFlags(rawValue: 0x10000)
}

/// RFC 2863 operational state (`IFLA_OPERSTATE`).
public struct OperationalState: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unknown = OperationalState(rawValue: 0)
    public static let down = OperationalState(rawValue: 2)
    public static let lowerLayerDown = OperationalState(rawValue: 3)
    public static let up = OperationalState(rawValue: 6)
}

/// IFLA_* attributes.
public struct LinkAttribute: AttributeType {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let address = LinkAttribute(1)
    public static let ifname = LinkAttribute(3)
    public static let mtu = LinkAttribute(4)
    public static let link = LinkAttribute(5)
    public static let master = LinkAttribute(10)
    public static let operstate = LinkAttribute(16)
    public static let linkInfo = LinkAttribute(18)
    public static let netnsPID = LinkAttribute(19)
    public static let netnsFD = LinkAttribute(28)
    public static let linkNetnsID = LinkAttribute(37)
}

/// IFLA_INFO_* (inside IFLA_LINKINFO).
public struct LinkInfoAttribute: AttributeType {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let kind = LinkInfoAttribute(1)
    public static let data = LinkInfoAttribute(2)
    public static let slaveKind = LinkInfoAttribute(4)
}

/// VETH_INFO_* (inside IFLA_INFO_DATA of a veth).
public struct VethInfoAttribute: AttributeType {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let peer = VethInfoAttribute(1)
}

/// Names a link in a request: by name (the kernel resolves it) or by index.
public enum LinkID: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    case name(String)
    case index(Int32)

    public init(stringLiteral value: String) { self = .name(value) }

    public var description: String {
        switch self {
        case .name(let n): n
        case .index(let i): "if#\(i)"
        }
    }
}

/// A link as the kernel reports it (`ip link show`).
public struct Link: Hashable, Sendable {
    public var index: Int32
    public var name: String
    /// nil for links without rtnl ops (loopback, some physical NICs).
    public var kind: LinkKind?
    public var flags: LinkFlags
    public var mtu: UInt32
    /// The bridge (or other master) index, if enslaved.
    public var masterIndex: Int32?
    /// For a veth: its peer's index (in the peer's namespace, see `linkNetnsID`).
    public var peerIndex: Int32?
    public var linkNetnsID: Int32?
    public var hardwareAddress: [UInt8]
    public var operationalState: OperationalState

    public var id: LinkID { .index(index) }
    public var isUp: Bool { flags.contains(.up) }
}

/// What to create: `ip link add NAME [mtu M] [master B] [up] type KIND ...`.
public struct LinkSpec: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// A veth pair; the peer may be created directly in another namespace.
        case veth(peer: VethPeer)
        case bridge
        /// The kernel WireGuard device (fails with EOPNOTSUPP where the module is absent).
        case wireguard
    }

    public var name: String
    public var kind: Kind
    public var mtu: UInt32?
    public var up: Bool
    /// A master (bridge) index to enslave to on creation.
    public var masterIndex: Int32?
    /// Create the link directly in another namespace.
    public var namespace: NamespaceTarget?
    /// A fixed MAC address (a bridge otherwise takes its ports' lowest, changing as they come
    /// and go, which strands its neighbours' caches).
    public var hardwareAddress: [UInt8]?

    public init(
        name: String, kind: Kind, mtu: UInt32? = nil, up: Bool = false, masterIndex: Int32? = nil,
        namespace: NamespaceTarget? = nil
    ) {
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.up = up
        self.masterIndex = masterIndex
        self.namespace = namespace
    }

    public static func veth(_ name: String, peer: VethPeer, up: Bool = false) -> LinkSpec {
        LinkSpec(name: name, kind: .veth(peer: peer), up: up)
    }

    public static func bridge(_ name: String, up: Bool = false) -> LinkSpec {
        LinkSpec(name: name, kind: .bridge, up: up)
    }

    public static func wireguard(_ name: String) -> LinkSpec {
        LinkSpec(name: name, kind: .wireguard)
    }
}

public struct VethPeer: Sendable, Hashable {
    public var name: String
    public var namespace: NamespaceTarget?
    public var up: Bool
    public var mtu: UInt32?
    /// A fixed MAC for the peer (random when nil).
    public var hardwareAddress: [UInt8]?

    public init(
        name: String, namespace: NamespaceTarget? = nil, up: Bool = false, mtu: UInt32? = nil,
        hardwareAddress: [UInt8]? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.up = up
        self.mtu = mtu
        self.hardwareAddress = hardwareAddress
    }
}

/// Building link requests and parsing link messages: pure, no socket.
public enum LinkMessage {
    static let ifinfomsgSize = 16

    static func header(
        _ b: inout MessageBuilder, family: AddressFamily = .unspecified, index: Int32 = 0,
        flags: LinkFlags = [], change: LinkFlags = []
    ) {
        b.append(family.rawValue)
        b.append(UInt8(0))
        b.append(UInt16(0))  // ifi_type
        b.append(index)
        b.append(flags.rawValue)
        b.append(change.rawValue)
    }

    /// The header and name attribute addressing an existing link.
    static func target(
        _ type: MessageType, _ flags: MessageFlags, _ link: LinkID, set: LinkFlags = [], change: LinkFlags = []
    )
        -> MessageBuilder
    {
        var b = MessageBuilder(type: type, flags: flags)
        switch link {
        case .index(let i):
            header(&b, index: i, flags: set, change: change)
        case .name(let n):
            header(&b, flags: set, change: change)
            b.attribute(LinkAttribute.ifname, string: n)
        }
        return b
    }

    /// `fds` holds namespace descriptors opened for `.named` targets; the caller keeps them open
    /// until the request has been sent.
    public static func create(_ spec: LinkSpec, namespaceFDs fds: [String: Int32] = [:]) -> NetlinkRequest {
        var b = MessageBuilder(type: .newLink, flags: [.request, .create, .exclusive])
        header(&b, flags: spec.up ? .up : [], change: spec.up ? .up : [])
        b.attribute(LinkAttribute.ifname, string: spec.name)
        if let mtu = spec.mtu { b.attribute(LinkAttribute.mtu, mtu) }
        if let master = spec.masterIndex { b.attribute(LinkAttribute.master, UInt32(bitPattern: master)) }
        if let ns = spec.namespace { namespaceAttribute(&b, ns, fds) }
        if let mac = spec.hardwareAddress { b.attribute(LinkAttribute.address, bytes: mac) }
        b.nested(LinkAttribute.linkInfo) { info in
            switch spec.kind {
            case .bridge:
                info.attribute(LinkInfoAttribute.kind, string: LinkKind.bridge.rawValue)
            case .wireguard:
                info.attribute(LinkInfoAttribute.kind, string: LinkKind.wireguard.rawValue)
            case .veth(let peer):
                info.attribute(LinkInfoAttribute.kind, string: LinkKind.veth.rawValue)
                info.nested(LinkInfoAttribute.data) { data in
                    // VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's attributes.
                    data.nested(VethInfoAttribute.peer) { p in
                        // Never up here: the peer is configured before the pair is joined, and
                        // veth refuses to open without its peer (ENOTCONN). `VethPeer.up` is
                        // applied by a second request.
                        header(&p)
                        p.attribute(LinkAttribute.ifname, string: peer.name)
                        if let mtu = peer.mtu { p.attribute(LinkAttribute.mtu, mtu) }
                        if let mac = peer.hardwareAddress { p.attribute(LinkAttribute.address, bytes: mac) }
                        if let ns = peer.namespace { namespaceAttribute(&p, ns, fds) }
                    }
                }
            }
        }
        return NetlinkRequest(b, operation: "create link", object: spec.name)
    }

    static func namespaceAttribute(_ b: inout MessageBuilder, _ target: NamespaceTarget, _ fds: [String: Int32]) {
        switch target {
        case .fd(let fd): b.attribute(LinkAttribute.netnsFD, UInt32(bitPattern: fd))
        case .pid(let pid): b.attribute(LinkAttribute.netnsPID, UInt32(bitPattern: pid))
        case .named(let name): b.attribute(LinkAttribute.netnsFD, UInt32(bitPattern: fds[name] ?? -1))
        }
    }

    public static func delete(_ link: LinkID) -> NetlinkRequest {
        NetlinkRequest(target(.deleteLink, .request, link), operation: "delete link", object: link.description)
    }

    public static func setFlags(_ link: LinkID, up: Bool) -> NetlinkRequest {
        NetlinkRequest(
            target(.newLink, .request, link, set: up ? .up : [], change: .up),
            operation: up ? "set link up" : "set link down", object: link.description)
    }

    public static func setMTU(_ link: LinkID, _ mtu: UInt32) -> NetlinkRequest {
        var b = target(.newLink, .request, link)
        b.attribute(LinkAttribute.mtu, mtu)
        return NetlinkRequest(b, operation: "set link mtu", object: link.description)
    }

    /// Master index 0 detaches (`ip link set L nomaster`).
    public static func setMaster(_ link: LinkID, masterIndex: Int32) -> NetlinkRequest {
        var b = target(.newLink, .request, link)
        b.attribute(LinkAttribute.master, UInt32(bitPattern: masterIndex))
        return NetlinkRequest(
            b, operation: masterIndex == 0 ? "set link nomaster" : "set link master", object: link.description)
    }

    public static func setNamespace(_ link: LinkID, _ target: NamespaceTarget, namespaceFDs fds: [String: Int32] = [:])
        -> NetlinkRequest
    {
        var b = Self.target(.newLink, .request, link)
        namespaceAttribute(&b, target, fds)
        return NetlinkRequest(b, operation: "move link to \(target.description)", object: link.description)
    }

    public static func get(_ link: LinkID) -> NetlinkRequest {
        NetlinkRequest(target(.getLink, .request, link), operation: "find link", object: link.description)
    }

    public static func dump() -> NetlinkRequest {
        var b = MessageBuilder(type: .getLink, flags: [.request, .dump])
        header(&b)
        return NetlinkRequest(b, operation: "list links")
    }

    /// Decodes an RTM_NEWLINK/RTM_DELLINK message; nil for anything else.
    public static func parse(_ message: NetlinkMessage) -> Link? {
        guard message.type == .newLink || message.type == .deleteLink,
            message.payload.count >= ifinfomsgSize
        else { return nil }
        let p = message.payload
        let attrs = Attributes(p[ifinfomsgSize...])
        let info = attrs.nested(LinkAttribute.linkInfo)
        return Link(
            index: p.load(Int32.self, at: 4),
            name: attrs.string(LinkAttribute.ifname) ?? "",
            kind: info?.string(LinkInfoAttribute.kind).map(LinkKind.init(rawValue:)),
            flags: LinkFlags(rawValue: p.load(UInt32.self, at: 8)),
            mtu: attrs.uint32(LinkAttribute.mtu) ?? 0,
            masterIndex: attrs.integer(LinkAttribute.master, as: Int32.self).flatMap { $0 == 0 ? nil : $0 },
            peerIndex: attrs.integer(LinkAttribute.link, as: Int32.self),
            linkNetnsID: attrs.integer(LinkAttribute.linkNetnsID, as: Int32.self),
            hardwareAddress: attrs[LinkAttribute.address].map(Array.init) ?? [],
            operationalState: OperationalState(rawValue: attrs.integer(LinkAttribute.operstate) ?? 0))
    }
}

extension NetlinkHandle {
    /// `ip link show`.
    public func linkList() throws(NetlinkError) -> [Link] {
        try dump(LinkMessage.dump()).compactMap(LinkMessage.parse)
    }

    /// `ip link show NAME`; throws ENODEV when there is none.
    public func linkByName(_ name: String) throws(NetlinkError) -> Link {
        try link(.name(name))
    }

    public func linkByIndex(_ index: Int32) throws(NetlinkError) -> Link {
        try link(.index(index))
    }

    public func link(_ id: LinkID) throws(NetlinkError) -> Link {
        let request = LinkMessage.get(id)
        guard let link = try socket.request(request).lazy.compactMap(LinkMessage.parse).first else {
            throw request.error(.ENODEV)
        }
        return link
    }

    /// `ip link add ...`; returns the created link (in this namespace, if it stayed here).
    @discardableResult
    public func linkAdd(_ spec: LinkSpec) throws(NetlinkError) -> Link? {
        let fds = try openNamespaces(spec)
        try socket.request(LinkMessage.create(spec, namespaceFDs: fds.mapValues(\.fd)))
        withExtendedLifetime(fds) {}  // the fds must stay open until the kernel has the request
        if case .veth(let peer) = spec.kind, peer.up {
            try peerHandle(peer.namespace ?? spec.namespace).linkSetUp(.name(peer.name))
        }
        return spec.namespace == nil ? try linkByName(spec.name) : nil
    }

    /// `ip link set L up`.
    public func linkSetUp(_ link: LinkID) throws(NetlinkError) {
        try socket.request(LinkMessage.setFlags(link, up: true))
    }

    /// `ip link set L down`.
    public func linkSetDown(_ link: LinkID) throws(NetlinkError) {
        try socket.request(LinkMessage.setFlags(link, up: false))
    }

    public func linkSetMTU(_ link: LinkID, _ mtu: UInt32) throws(NetlinkError) {
        try socket.request(LinkMessage.setMTU(link, mtu))
    }

    /// `ip link set L master BRIDGE`.
    public func linkSetMaster(_ link: LinkID, master: LinkID) throws(NetlinkError) {
        let masterIndex = try resolve(master)
        try socket.request(LinkMessage.setMaster(link, masterIndex: masterIndex))
    }

    /// `ip link set L nomaster`.
    public func linkSetNoMaster(_ link: LinkID) throws(NetlinkError) {
        try socket.request(LinkMessage.setMaster(link, masterIndex: 0))
    }

    /// `ip link set L netns NS`: moves the link (a veth end, wireguard-go's TUN, a wireguard
    /// device) to another namespace, where it arrives down with its addresses flushed.
    public func linkSetNamespace(_ link: LinkID, _ target: NamespaceTarget) throws(NetlinkError) {
        var fds: [String: NamespaceDescriptor] = [:]
        if case .named(let name) = target { fds[name] = try NetworkNamespace.open(name) }
        try socket.request(LinkMessage.setNamespace(link, target, namespaceFDs: fds.mapValues(\.fd)))
        withExtendedLifetime(fds) {}
    }

    /// `ip link delete L` (deleting one veth end deletes both).
    public func linkDelete(_ link: LinkID) throws(NetlinkError) {
        try socket.request(LinkMessage.delete(link))
    }

    /// A handle in the namespace a veth peer went to (an fd or pid is reached through /proc).
    func peerHandle(_ target: NamespaceTarget?) throws(NetlinkError) -> NetlinkHandle {
        switch target {
        case nil: self
        case .named(let name): try NetlinkHandle(namespace: name)
        case .fd(let fd): try NetlinkHandle(namespacePath: "/proc/self/fd/\(fd)")
        case .pid(let pid): try NetlinkHandle(namespacePath: "/proc/\(pid)/ns/net")
        }
    }

    func resolve(_ id: LinkID) throws(NetlinkError) -> Int32 {
        switch id {
        case .index(let i): i
        case .name: try link(id).index
        }
    }

    func openNamespaces(_ spec: LinkSpec) throws(NetlinkError) -> [String: NamespaceDescriptor] {
        var fds: [String: NamespaceDescriptor] = [:]
        if case .named(let n) = spec.namespace { fds[n] = try NetworkNamespace.open(n) }
        if case .veth(let peer) = spec.kind, case .named(let n) = peer.namespace, fds[n] == nil {
            fds[n] = try NetworkNamespace.open(n)
        }
        return fds
    }
}

extension NetlinkBatch {
    public mutating func linkSetUp(_ link: LinkID) { append(LinkMessage.setFlags(link, up: true)) }
    public mutating func linkSetDown(_ link: LinkID) { append(LinkMessage.setFlags(link, up: false)) }
    public mutating func linkSetMTU(_ link: LinkID, _ mtu: UInt32) { append(LinkMessage.setMTU(link, mtu)) }
    public mutating func linkDelete(_ link: LinkID) { append(LinkMessage.delete(link)) }
    public mutating func linkSetMaster(_ link: LinkID, masterIndex: Int32) {
        append(LinkMessage.setMaster(link, masterIndex: masterIndex))
    }
    /// Namespaces named in the spec must be passed as `.fd` here (opened by the caller and kept
    /// open until the batch is sent), since a batch holds only bytes.
    public mutating func linkAdd(_ spec: LinkSpec) { append(LinkMessage.create(spec)) }
}
