import CMnl
import CNetlink
import Glibc
import Synchronization
import SystemCalls

/// One request to send: finished message bytes and what it does, for naming it in errors.
public struct NetlinkRequest: Sendable {
    public var bytes: [UInt8]
    public var operation: String
    public var object: String
    /// False for framing messages the kernel never answers (nfnetlink batch begin/end).
    public var expectsReply: Bool

    public init(bytes: [UInt8], operation: String, object: String = "", expectsReply: Bool = true) {
        self.bytes = bytes
        self.operation = operation
        self.object = object
        self.expectsReply = expectsReply
    }

    public init(_ builder: MessageBuilder, operation: String, object: String = "") {
        self.init(bytes: builder.message, operation: operation, object: object)
    }

    var flags: MessageFlags { MessageFlags(rawValue: bytes.load(UInt16.self, at: 6)) }
    var isDump: Bool { flags.contains(.dump) && !flags.contains(.create) }
    var type: UInt16 { bytes.load(UInt16.self, at: 4) }

    /// Whether it asks the kernel to change something: not a dump, not a get, not batch framing.
    func isWrite(on proto: NetlinkProtocol) -> Bool {
        guard !isDump, expectsReply else { return false }
        switch proto {
        case .route:
            // RTM_NEW*, DEL*, GET*, SET* come in fours from 16: GETs are 18, 22, 26...
            return type < 16 || (type - 16) % 4 != 2
        case .netfilter:
            // NFT_MSG_NEW*, GET*, DEL* come in threes from 0 (the low byte): GETs are 1, 4, 7...
            return (type & 0xFF) % 3 != 1
        case .generic:
            // The controller family (0x10) only answers family look-ups.
            return type != 0x10
        default:
            return true
        }
    }

    func error(_ errno: Errno, kernelMessage: String? = nil) -> NetlinkError {
        NetlinkError(operation: operation, object: object, errno: errno, kernelMessage: kernelMessage)
    }
}

/// A netlink socket (through libmnl), optionally opened inside a named network namespace; it
/// stays bound to that namespace whichever thread uses it later. Requests are serialised: one
/// transaction at a time per socket.
public final class NetlinkSocket: @unchecked Sendable {
    public let netlinkProtocol: NetlinkProtocol
    /// The namespace name it was opened in; nil for the caller's own.
    public let namespace: String?
    public let portID: UInt32
    /// For `poll`/`epoll` (event subscriptions). Owned by this object.
    public let fileDescriptor: Int32
    private let mnl: OpaquePointer
    private let state: Mutex<UInt32>
    private let writes = Atomic<Int>(0)
    /// The receive buffer size: large enough that the kernel can pack dumps generously.
    static let receiveBufferSize = 65536

    /// - Parameters:
    ///   - groups: legacy multicast group mask to join (event subscriptions).
    ///   - timeout: how long a receive may wait before failing with ETIMEDOUT.
    public convenience init(
        protocol proto: NetlinkProtocol, namespace: String? = nil, groups: UInt32 = 0,
        timeout: Duration = .seconds(5)
    ) throws(NetlinkError) {
        try self.init(
            protocol: proto, namespacePath: namespace.map(NetworkNamespace.path(of:)), name: namespace, groups: groups,
            timeout: timeout)
    }

    /// Opens the socket in the namespace at `namespacePath` (`/proc/PID/ns/net`, `/proc/self/fd/N`).
    public init(
        protocol proto: NetlinkProtocol, namespacePath: String?, name: String? = nil, groups: UInt32 = 0,
        timeout: Duration = .seconds(5)
    ) throws(NetlinkError) {
        let namespace = name ?? namespacePath
        let object = namespace.map { "in netns \($0)" } ?? ""
        let fd: Int32
        if let namespacePath {
            fd = try systemCall("open netlink socket", object, .negativeErrno) {
                cnl_socket_in_netns(namespacePath, AF_NETLINK, Int32(SOCK_RAW.rawValue), proto.rawValue)
            }
        } else {
            fd = try systemCall("open netlink socket", object) {
                socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), proto.rawValue)
            }
        }
        guard let mnl = mnl_socket_fdopen(fd) else {
            let e = Errno.current
            close(fd)
            throw NetlinkError(operation: "open netlink socket", object: object, errno: e)
        }
        do {
            try systemCall("bind netlink socket", object) { mnl_socket_bind(mnl, groups, pid_t(MNL_SOCKET_AUTOPID)) }
            // A lost reply must not hang the caller.
            let seconds = timeout.components.seconds
            let micros = timeout.components.attoseconds / 1_000_000_000_000
            var tv = timeval(tv_sec: Int(seconds), tv_usec: Int(micros))
            try systemCall("set receive timeout", object) {
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            }
            // Room for many ACKs of a batch; FORCE works as root, otherwise the sysctl cap applies.
            var size: Int32 = 4 << 20
            if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, 4) < 0 {
                _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4)
            }
            // Errors name the kernel's reason, and echo only the request header.
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, 4)
            _ = setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, 4)
        } catch {
            mnl_socket_close(mnl)
            throw error
        }
        self.netlinkProtocol = proto
        self.namespace = namespace
        self.fileDescriptor = fd
        self.mnl = mnl
        self.portID = mnl_socket_get_portid(mnl)
        self.state = Mutex(UInt32(truncatingIfNeeded: time(nil)))
    }

    deinit { mnl_socket_close(mnl) }

    /// How many messages asking for a change (`NetlinkRequest.isWrite`) this socket has sent:
    /// a pass over a kernel that already matches sends none.
    public var writesSent: Int { writes.load(ordering: .relaxed) }

    /// Sends one request and returns its data replies (none for a plain ACK; every part of a dump).
    @discardableResult
    public func request(_ request: NetlinkRequest) throws(NetlinkError) -> [NetlinkMessage] {
        try transact([request], atomic: true)[0].get()
    }

    /// Raw form for callers that build messages themselves (e.g. generic netlink families):
    /// `message` is a complete netlink message; its sequence number is replaced, and an ACK is
    /// requested unless it is a dump, so completion is always known.
    @discardableResult
    public func request(_ message: [UInt8], operation: String, object: String = "") throws(NetlinkError)
        -> [NetlinkMessage]
    {
        try request(NetlinkRequest(bytes: message, operation: operation, object: object))
    }

    /// Sends all requests in as few `sendmsg` calls as possible and throws the first failure
    /// (in request order) once every reply is in.
    public func requestBatch(_ requests: [NetlinkRequest]) throws(NetlinkError) {
        for result in try transact(requests, atomic: false) {
            _ = try result.get()
        }
    }

    /// The general form: each request's data replies, or its error. With `atomic`, everything
    /// goes in one `sendmsg` (nfnetlink transactions require that); otherwise in chunks sized so
    /// that the ACKs cannot overflow the receive buffer.
    public func transact(_ requests: [NetlinkRequest], atomic: Bool) throws(NetlinkError)
        -> [Result<[NetlinkMessage], NetlinkError>]
    {
        if atomic || requests.count <= Self.chunk {
            return try state.withLock { (seq: inout UInt32) throws(NetlinkError) in
                try transactLocked(requests, &seq)
            }
        }
        var results: [Result<[NetlinkMessage], NetlinkError>] = []
        results.reserveCapacity(requests.count)
        var start = 0
        while start < requests.count {
            let part = Array(requests[start..<min(start + Self.chunk, requests.count)])
            results += try state.withLock { (seq: inout UInt32) throws(NetlinkError) in
                try transactLocked(part, &seq)
            }
            start += Self.chunk
        }
        return results
    }

    static let chunk = 512

    private func transactLocked(_ requests: [NetlinkRequest], _ seq: inout UInt32) throws(NetlinkError)
        -> [Result<[NetlinkMessage], NetlinkError>]
    {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(requests.reduce(0) { $0 + netlinkAlign($1.bytes.count) })
        // Sequence number -> index of the request still waiting for its answer.
        var pending: [UInt32: Int] = [:]
        var replies = [[NetlinkMessage]](repeating: [], count: requests.count)
        var results = [Result<[NetlinkMessage], NetlinkError>?](repeating: nil, count: requests.count)
        for (i, request) in requests.enumerated() {
            seq &+= 1
            var bytes = request.bytes
            precondition(bytes.count >= 16, "a netlink message has a 16-byte header")
            withUnsafeBytes(of: seq) { bytes.replaceSubrange(8..<12, with: $0) }
            if request.expectsReply {
                if !request.isDump {
                    let flags = request.flags.union(.ack)
                    withUnsafeBytes(of: flags.rawValue) { bytes.replaceSubrange(6..<8, with: $0) }
                }
                pending[seq] = i
            } else {
                results[i] = .success([])
            }
            buffer += bytes
            while buffer.count % 4 != 0 { buffer.append(0) }
        }
        let first = requests.first { $0.expectsReply } ?? requests[0]
        try send(buffer, first)
        writes.add(requests.count { $0.isWrite(on: netlinkProtocol) }, ordering: .relaxed)

        var interrupted = Set<Int>()
        var receive = [UInt8](repeating: 0, count: Self.receiveBufferSize)
        while !pending.isEmpty {
            let n = receive.withUnsafeMutableBytes { mnl_socket_recvfrom(mnl, $0.baseAddress, $0.count) }
            if n < 0 {
                let e = Errno.current
                if e == .EINTR { continue }
                let waiting = requests[pending.values.min()!]
                throw waiting.error(e == .EAGAIN ? .ETIMEDOUT : e)
            }
            for message in try NetlinkMessage.parse(receive[0..<n]) {
                guard let i = pending[message.sequence] else { continue }  // late reply to an old request
                switch message.type {
                case .error:
                    let code = message.errorCode ?? 0
                    results[i] =
                        code == 0
                        ? .success(replies[i])
                        : .failure(requests[i].error(Errno(rawValue: -code), kernelMessage: message.extendedAckMessage))
                    pending[message.sequence] = nil
                case .done:
                    let code = message.payload.count >= 4 ? message.payload.load(Int32.self, at: 0) : 0
                    results[i] =
                        code < 0
                        ? .failure(requests[i].error(Errno(rawValue: -code)))
                        : interrupted.contains(i) ? .failure(requests[i].error(.EINTR)) : .success(replies[i])
                    pending[message.sequence] = nil
                case .noop, .overrun:
                    continue
                default:
                    if message.flags.contains(.dumpInterrupted) { interrupted.insert(i) }
                    replies[i].append(message)
                }
            }
        }
        return results.map { $0! }
    }

    private func send(_ buffer: [UInt8], _ request: NetlinkRequest) throws(NetlinkError) {
        // The kernel refuses a message larger than the send buffer: grow it for big batches.
        if buffer.count > 200_000 {
            var size = Int32(clamping: buffer.count + 65536)
            if setsockopt(fileDescriptor, SOL_SOCKET, SO_SNDBUFFORCE, &size, 4) < 0 {
                _ = setsockopt(fileDescriptor, SOL_SOCKET, SO_SNDBUF, &size, 4)
            }
        }
        let sent = try systemCall(request.operation, request.object) {
            buffer.withUnsafeBytes { mnl_socket_sendto(mnl, $0.baseAddress, $0.count) }
        }
        if sent != buffer.count { throw request.error(.EMSGSIZE) }
    }

    /// Receives whatever is queued (multicast events), blocking up to the socket timeout.
    /// Throws ENOBUFS when the kernel dropped events: the reader must resynchronise.
    public func receiveMessages() throws(NetlinkError) -> [NetlinkMessage] {
        var receive = [UInt8](repeating: 0, count: Self.receiveBufferSize)
        let n = try systemCall("receive events", namespace.map { "in netns \($0)" } ?? "") {
            receive.withUnsafeMutableBytes { mnl_socket_recvfrom(mnl, $0.baseAddress, $0.count) }
        }
        return try NetlinkMessage.parse(receive[0..<n])
    }
}
