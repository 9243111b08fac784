/// Verbs on the kernel objects of one network namespace, like `ip -n NAME ...`:
/// `try NetlinkHandle(namespace: "ovl-1234abcd").linkSetUp("br-1234abcd")`.
/// The route socket is opened inside the namespace once; the handle can then be used from any
/// thread or task.
public final class NetlinkHandle: Sendable {
    public let namespace: String?
    public let socket: NetlinkSocket

    /// - Parameter namespace: a name under /run/netns, or nil for the caller's namespace.
    public init(namespace: String? = nil) throws(NetlinkError) {
        self.namespace = namespace
        self.socket = try NetlinkSocket(protocol: .route, namespace: namespace)
    }

    /// A handle in the namespace at any path (`/proc/PID/ns/net`, `/proc/self/fd/N`).
    public init(namespacePath: String) throws(NetlinkError) {
        self.namespace = namespacePath
        self.socket = try NetlinkSocket(protocol: .route, namespacePath: namespacePath)
    }

    /// Collects requests and sends them in one `sendmsg`; every one is ACKed and the first
    /// failure is thrown after all replies are in. Far cheaper than one round trip each.
    public func batch(_ build: (inout NetlinkBatch) throws(NetlinkError) -> Void) throws(NetlinkError) {
        var batch = NetlinkBatch(handle: self)
        try build(&batch)
        try socket.requestBatch(batch.requests)
    }

    func dump(_ request: NetlinkRequest) throws(NetlinkError) -> [NetlinkMessage] {
        // An interrupted dump (the table changed under it) is simply asked again.
        var attempt = 0
        while true {
            do {
                return try socket.request(request)
            } catch  where error.errno == .EINTR && attempt < 5 {
                attempt += 1
            }
        }
    }
}

/// Requests gathered for `NetlinkHandle.batch`. Names are resolved to indexes when added.
public struct NetlinkBatch {
    let handle: NetlinkHandle
    public private(set) var requests: [NetlinkRequest] = []

    public mutating func append(_ request: NetlinkRequest) { requests.append(request) }
}
