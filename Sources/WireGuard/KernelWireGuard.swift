import Foundation
import Glibc
import Netlink
import OverlayModel
import Synchronization

/// What `KernelWireGuard` needs from a generic netlink socket. The Netlink module adapts to it.
public protocol GenericNetlinkTransport: Sendable {
    /// The id of a generic netlink family (CTRL_CMD_GETFAMILY), e.g. "wireguard".
    func familyID(_ name: String) throws -> UInt16
    /// Sends `messages` in order, each a complete nlmsghdr + genlmsghdr + attributes, with
    /// nlmsg_seq and nlmsg_pid (bytes 8..<16) zero for the transport to fill in. Waits for every
    /// ACK and, for a dump, for NLMSG_DONE; stops at and throws the first NLMSG_ERROR with a
    /// negative error, preferably as a `NetlinkErrnoError`. Returns every reply message that is
    /// not an ACK (the parts of a dump, NLMSG_DONE may be included), as the Netlink module
    /// parsed them: the WireGuard codec reads their attributes with the same parser.
    func request(_ messages: [[UInt8]]) throws -> [NetlinkMessage]
}

/// An error from a transport that carries the kernel's errno (positive, e.g. ENODEV).
public protocol NetlinkErrnoError: Error {
    var errno: Int32 { get }
}

/// Creating and deleting links is rtnetlink, the Netlink module's job: this is the seam.
public protocol WireGuardLinkControl: Sendable {
    /// RTM_NEWLINK with IFLA_INFO_KIND "wireguard".
    func createWireGuardLink(named name: String) throws
    /// RTM_DELLINK; not an error when the link is already gone.
    func deleteLink(named name: String) throws
    func linkExists(named name: String) throws -> Bool
}

/// WireGuard in the kernel, over the `wireguard` generic netlink family.
public final class KernelWireGuard: WireGuardBackend {
    private let transport: any GenericNetlinkTransport
    private let links: any WireGuardLinkControl
    private let messageLimit: Int
    private let family = Mutex<UInt16?>(nil)
    private let writes = Atomic<Int>(0)

    /// Links created or deleted plus set-device messages sent.
    public var writesSent: Int { writes.load(ordering: .relaxed) }

    /// `messageLimit`: the largest set message; wireguard-tools' choice by default.
    public init(
        transport: any GenericNetlinkTransport, links: any WireGuardLinkControl,
        messageLimit: Int = WireGuardNetlink.defaultMessageLimit
    ) {
        self.transport = transport
        self.links = links
        self.messageLimit = max(messageLimit, WireGuardNetlink.minimumMessageLimit)
    }

    public func createInterface(_ name: String) throws {
        try WireGuardError.validate(name)
        try netlink(name, "create link") {
            if try links.linkExists(named: name) { return }
            writes.add(1, ordering: .relaxed)
            try links.createWireGuardLink(named: name)
        }
    }

    public func deleteInterface(_ name: String) throws {
        try WireGuardError.validate(name)
        writes.add(1, ordering: .relaxed)
        try netlink(name, "delete link") { try links.deleteLink(named: name) }
    }

    public func interfaceExists(_ name: String) -> Bool {
        (try? links.linkExists(named: name)) ?? false
    }

    public func apply(_ change: DeviceChange, to name: String) throws {
        try WireGuardError.validate(name)
        guard !change.isEmpty else { return }
        let id = try familyID(name)
        var messages = WireGuardNetlink.setDeviceRequests(change, interface: name, family: id, limit: messageLimit)
        defer { for i in messages.indices { wipe(&messages[i]) } }
        writes.add(messages.count, ordering: .relaxed)
        _ = try netlink(name, "set device") { try transport.request(messages) }
    }

    public func device(_ name: String) throws -> Device {
        try WireGuardError.validate(name)
        let id = try familyID(name)
        var replies = try netlink(name, "get device") {
            try transport.request([WireGuardNetlink.getDeviceRequest(interface: name, family: id)])
        }
        defer { for i in replies.indices { wipe(&replies[i].payload) } }
        return try WireGuardNetlink.parseDevice(replies, interface: name)
    }

    private func familyID(_ name: String) throws -> UInt16 {
        if let id = family.withLock({ $0 }) { return id }
        let id = try netlink(name, "resolve the wireguard family") {
            try transport.familyID(WireGuardNetlink.familyName)
        }
        family.withLock { $0 = id }
        return id
    }

    /// Runs a transport call and names the interface and operation in whatever it throws.
    private func netlink<R>(_ name: String, _ operation: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let e as WireGuardError {
            throw e
        } catch let e as any NetlinkErrnoError {
            if e.errno == ENODEV { throw WireGuardError.noSuchInterface(name) }
            throw WireGuardError.netlink(interface: name, operation: operation, detail: "\(e)", errno: e.errno)
        } catch {
            throw WireGuardError.netlink(interface: name, operation: operation, detail: "\(error)", errno: nil)
        }
    }
}
