import Glibc
import Netlink

/// The kernel backend's transport over the Netlink module's generic netlink socket, bound to the
/// namespace it was opened in (the WireGuard device's namespace).
public final class GenericNetlinkSocketTransport: GenericNetlinkTransport {
    private let genl: GenericNetlink

    public init(namespace: String? = nil) throws {
        do { genl = try GenericNetlink(namespace: namespace) } catch { throw KernelNetlinkError(error) }
    }

    public func familyID(_ name: String) throws -> UInt16 {
        do { return try genl.family(name).id.rawValue } catch { throw KernelNetlinkError(error) }
    }

    public func request(_ messages: [[UInt8]]) throws -> [NetlinkMessage] {
        var replies: [NetlinkMessage] = []
        for m in messages {
            do {
                replies += try genl.request(m, operation: "wireguard")
            } catch {
                throw KernelNetlinkError(error)
            }
        }
        return replies
    }
}

public struct RtnetlinkWireGuardLinks: WireGuardLinkControl {
    let namespace: String?

    public init(namespace: String? = nil) {
        self.namespace = namespace
    }

    public func createWireGuardLink(named name: String) throws {
        do { try NetlinkHandle(namespace: namespace).linkAdd(.wireguard(name)) } catch {
            throw KernelNetlinkError(error)
        }
    }

    public func deleteLink(named name: String) throws {
        do {
            try NetlinkHandle(namespace: namespace).linkDelete(.name(name))
        } catch  where error.errno == .ENODEV {
            return
        } catch {
            throw KernelNetlinkError(error)
        }
    }

    public func linkExists(named name: String) throws -> Bool {
        do {
            _ = try NetlinkHandle(namespace: namespace).linkByName(name)
            return true
        } catch  where error.errno == .ENODEV {
            return false
        } catch {
            throw KernelNetlinkError(error)
        }
    }
}

/// A Netlink module error seen through the WireGuard module's errno protocol.
public struct KernelNetlinkError: NetlinkErrnoError, CustomStringConvertible {
    public let underlying: NetlinkError
    public init(_ underlying: NetlinkError) { self.underlying = underlying }
    public var errno: Int32 { underlying.errno.rawValue }
    public var description: String { underlying.description }
}

extension KernelWireGuard {
    /// The kernel backend talking to the running kernel in `namespace` (nil: this one).
    public static func system(namespace: String? = nil) throws -> KernelWireGuard {
        KernelWireGuard(
            transport: try GenericNetlinkSocketTransport(namespace: namespace),
            links: RtnetlinkWireGuardLinks(namespace: namespace))
    }
}

extension WireGuardBackendKind {
    /// `auto` resolved by asking this kernel for the `wireguard` generic netlink family too.
    public func resolveOnThisKernel() -> WireGuardBackendKind {
        resolve(familyResolves: { (try? GenericNetlinkSocketTransport().familyID("wireguard")) != nil })
    }
}

extension KernelWireGuard {
    /// The kernel backend for an agent: links made in this namespace, then found (and
    /// configured by generic netlink) in the namespace `NamespacedWireGuard.place` recorded.
    public static func namespaced() throws -> NamespacedWireGuard {
        try NamespacedWireGuard(
            identity: { ns in NetworkNamespace.inode(ns) },
            factory: { ns in try KernelWireGuard.system(namespace: ns) })
    }
}
