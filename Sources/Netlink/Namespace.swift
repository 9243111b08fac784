import CNetlink
import Glibc
import SystemCalls

/// Named network namespaces, kept the way iproute2 keeps them (a bind mount of the namespace
/// on /run/netns/NAME), so `ip netns list/exec/delete` work on ours and we on theirs.
public enum NetworkNamespace {
    public static let runDirectory = "/run/netns"

    public static func path(of name: String) -> String { "\(runDirectory)/\(name)" }

    /// `ip netns add NAME`. The namespace is created on a throwaway thread inside the C helper,
    /// so no thread of this process ever changes namespace.
    public static func create(_ name: String) throws(NetlinkError) {
        try validate(name, "create netns")
        try systemCall("create netns", name, .negativeErrno) { cnl_netns_create(runDirectory, name) }
    }

    /// `ip netns delete NAME`. The kernel tears the namespace down once nothing holds it.
    public static func delete(_ name: String) throws(NetlinkError) {
        try validate(name, "delete netns")
        try systemCall("delete netns", name, .negativeErrno) { cnl_netns_delete(runDirectory, name) }
    }

    /// `ip netns list`: the names under /run/netns, sorted.
    public static func list() throws(NetlinkError) -> [String] {
        guard let dir = opendir(runDirectory) else {
            if Errno.current == .ENOENT { return [] }
            throw NetlinkError(operation: "list netns", object: runDirectory, errno: .current)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." && !isLeftover(name) { names.append(name) }
        }
        return names.sorted()
    }

    /// Whether a namespace of that name is there (a leftover of an interrupted create is not).
    public static func exists(_ name: String) -> Bool {
        access(path(of: name), F_OK) == 0 && !isLeftover(name)
    }

    /// The empty file a create interrupted before its mount leaves under /run/netns: no
    /// namespace lives there, so it is not listed, and `create` replaces it. (A path that cannot
    /// be checked counts as a namespace: a failed read is never a reason to replace one.)
    static func isLeftover(_ name: String) -> Bool {
        cnl_netns_is_namespace(path(of: name)) == 0
    }

    /// Opens the namespace for IFLA_NET_NS_FD and the like; the caller closes it.
    public static func open(_ name: String) throws(NetlinkError) -> NamespaceDescriptor {
        try validate(name, "open netns")
        let fd = try systemCall("open netns", name) { Glibc.open(path(of: name), O_RDONLY | O_CLOEXEC) }
        return NamespaceDescriptor(fd: fd)
    }

    /// `socket(domain, type, protocol)` inside the namespace (e.g. a UDP socket for a tunnel
    /// endpoint, or a probe in tests); the caller owns and closes the fd.
    public static func openSocket(in name: String, domain: Int32, type: Int32, protocol proto: Int32 = 0)
        throws(NetlinkError) -> Int32
    {
        try validate(name, "open socket in netns")
        return try systemCall("open socket", "in netns \(name)", .negativeErrno) {
            cnl_socket_in_netns(path(of: name), domain, type, proto)
        }
    }

    private static func validate(_ name: String, _ operation: String) throws(NetlinkError) {
        if name.isEmpty || name == "." || name == ".." || name.contains("/") {
            throw NetlinkError(operation: operation, object: name, errno: .EINVAL)
        }
    }
}

/// An open namespace file descriptor, closed when this goes away.
public final class NamespaceDescriptor: Sendable {
    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

/// Where a link should go: a named namespace, an open namespace fd, or a process's namespace.
public enum NamespaceTarget: Sendable, Hashable {
    case named(String)
    case fd(Int32)
    case pid(Int32)

    var description: String {
        switch self {
        case .named(let n): "netns \(n)"
        case .fd(let fd): "netns fd \(fd)"
        case .pid(let p): "netns of pid \(p)"
        }
    }
}
