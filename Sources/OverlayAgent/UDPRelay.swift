import Foundation
import Glibc
import Netlink
import OverlayModel

/// The gateway's UDP mappings, relayed by the agent itself: HAProxy 2.6 does not proxy UDP, and
/// nftables NAT cannot turn a public IPv4 client's datagram into IPv6 for an overlay workload.
///
/// One thread and one `poll` loop for every mapping. A listening socket per public port (IPv6,
/// dual-stack, so IPv4 clients arrive as `::ffff:a.b.c.d`) in the agent's namespace; per client a
/// flow: a UDP socket opened inside the route's network namespace (`ovl-<id>`, so it reaches that
/// overlay and nothing else) and connected to one backend, picked round robin. Replies go back from
/// the public socket to the client. A flow idle for `idleTimeout` is closed; a backend that answers
/// with "port unreachable" is skipped for a few seconds and the client's next datagram opens a flow
/// to another one. A removed mapping closes its socket and flows at once.
final class UDPRelay: @unchecked Sendable {
    struct Backend: Equatable, Sendable {
        var address: IPv6Address
        var port: UInt16
    }

    struct Mapping: Equatable, Sendable {
        var port: UInt16
        var namespace: String
        var backends: [Backend]
    }

    let idleTimeout: Double
    /// Failures to report (a port already taken, a namespace missing); read by the agent.
    private let lock = NSLock()
    private var desired: [Mapping] = []
    private var generation = 0
    private var stopping = false
    private var problems: [UInt16: String] = [:]
    private var thread: Thread?
    private var wake: [Int32] = [-1, -1]

    init(idleTimeout: Double = 60) {
        self.idleTimeout = idleTimeout
    }

    deinit { stop() }

    /// Makes the relay serve exactly `mappings` (starting its thread on first use).
    func update(_ mappings: [Mapping]) {
        lock.lock()
        let changed = mappings != desired
        desired = mappings
        if changed { generation += 1 }
        let start = thread == nil && !mappings.isEmpty
        if start {
            if pipe(&wake) == 0 {
                for fd in wake {
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                }
            }
            let t = Thread { [unowned self] in self.loop() }
            t.name = "udp-relay"
            thread = t
            t.start()
        }
        let fd = wake[1]
        lock.unlock()
        if changed && fd >= 0 { var b: UInt8 = 1; _ = write(fd, &b, 1) }
    }

    /// Per port, why it is not served (empty when all is well).
    func currentProblems() -> [UInt16: String] {
        lock.lock()
        defer { lock.unlock() }
        return problems
    }

    func stop() {
        lock.lock()
        stopping = true
        let fd = wake[1]
        let running = thread != nil
        lock.unlock()
        guard running, fd >= 0 else { return }
        var b: UInt8 = 1
        _ = write(fd, &b, 1)
        // The loop closes its sockets within one poll round.
        for _ in 0..<100 {
            lock.lock()
            let done = thread == nil
            lock.unlock()
            if done { return }
            usleep(10_000)
        }
    }

    // MARK: - The relay thread

    private final class Listener {
        let fd: Int32
        var mapping: Mapping
        var next = 0
        init(fd: Int32, mapping: Mapping) {
            self.fd = fd
            self.mapping = mapping
        }
    }

    private struct ClientKey: Hashable {
        var port: UInt16
        var address: [UInt8]
        var clientPort: UInt16
    }

    private final class Flow {
        let fd: Int32
        let key: ClientKey
        let client: sockaddr_in6
        let backend: Backend
        var lastActive: Double
        init(fd: Int32, key: ClientKey, client: sockaddr_in6, backend: Backend, now: Double) {
            self.fd = fd
            self.key = key
            self.client = client
            self.backend = backend
            lastActive = now
        }
    }

    private var listeners: [UInt16: Listener] = [:]
    private var flows: [Int32: Flow] = [:]
    private var flowByClient: [ClientKey: Int32] = [:]
    /// Backends that refused recently, until when.
    private var refused: [String: Double] = [:]
    private var buffer = [UInt8](repeating: 0, count: 65536)

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func loop() {
        var applied = -1
        while true {
            lock.lock()
            let stop = stopping
            let gen = generation
            let want = desired
            let wakeFD = wake[0]
            lock.unlock()
            if stop { break }
            if gen != applied {
                apply(want)
                applied = gen
            }
            var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            let listening = Array(listeners.values)
            for l in listening { fds.append(pollfd(fd: l.fd, events: Int16(POLLIN), revents: 0)) }
            let open = Array(flows.values)
            for f in open { fds.append(pollfd(fd: f.fd, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), 1000)
            if n > 0 {
                if fds[0].revents != 0 { var b = [UInt8](repeating: 0, count: 64); while read(wakeFD, &b, 64) > 0 {} }
                for (i, l) in listening.enumerated() where fds[1 + i].revents != 0 { receiveFromClients(l) }
                for (i, f) in open.enumerated() where fds[1 + listening.count + i].revents != 0 {
                    if flows[f.fd] != nil { receiveFromBackend(f) }
                }
            }
            expireIdle()
        }
        for l in listeners.values { close(l.fd) }
        for f in flows.values { close(f.fd) }
        listeners = [:]
        flows = [:]
        flowByClient = [:]
        lock.lock()
        close(wake[0]); close(wake[1])
        wake = [-1, -1]
        thread = nil
        lock.unlock()
    }

    private func apply(_ want: [Mapping]) {
        let byPort = Dictionary(want.map { ($0.port, $0) }, uniquingKeysWith: { a, _ in a })
        for (port, l) in listeners where byPort[port] != l.mapping {
            // Gone or changed: its flows go with it (a changed backend set starts afresh).
            for f in flows.values where f.key.port == port { closeFlow(f) }
            if byPort[port] == nil {
                close(l.fd)
                listeners[port] = nil
            } else {
                l.mapping = byPort[port]!
            }
        }
        var problems: [UInt16: String] = [:]
        for (port, m) in byPort where listeners[port] == nil {
            do { listeners[port] = Listener(fd: try Self.listen(port), mapping: m) } catch {
                problems[port] = "\(error)"
            }
        }
        lock.lock()
        self.problems = problems
        lock.unlock()
    }

    struct SocketError: Error, CustomStringConvertible {
        var description: String
    }

    static func listen(_ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(description: "udp/\(port): socket: \(String(cString: strerror(errno)))") }
        var off: Int32 = 0
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_port = port.bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw SocketError(description: "udp/\(port): bind: \(String(cString: strerror(e)))")
        }
        return fd
    }

    private func receiveFromClients(_ l: Listener) {
        for _ in 0..<64 {
            var from = sockaddr_in6()
            var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
            let n = buffer.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(l.fd, b.baseAddress, b.count, 0, $0, &len) }
                }
            }
            guard n >= 0 else { return }
            let key = ClientKey(
                port: l.mapping.port, address: withUnsafeBytes(of: from.sin6_addr) { Array($0) },
                clientPort: UInt16(bigEndian: from.sin6_port))
            var flow = flowByClient[key].flatMap { flows[$0] }
            if flow == nil { flow = openFlow(l, key: key, client: from) }
            guard let flow else { continue }
            flow.lastActive = Self.now()
            _ = buffer.withUnsafeBytes { send(flow.fd, $0.baseAddress, n, Int32(MSG_DONTWAIT)) }
        }
    }

    private func openFlow(_ l: Listener, key: ClientKey, client: sockaddr_in6) -> Flow? {
        let backends = l.mapping.backends
        guard !backends.isEmpty else { return nil }
        let now = Self.now()
        // Round robin, skipping backends that refused in the last few seconds (unless all did).
        var choice = backends[l.next % backends.count]
        for i in 0..<backends.count {
            let b = backends[(l.next + i) % backends.count]
            if (refused["\(b.address)/\(b.port)"] ?? 0) <= now {
                choice = b
                l.next = (l.next + i) % backends.count
                break
            }
        }
        l.next += 1
        guard let fd = try? NetworkNamespace.openSocket(
            in: l.mapping.namespace, domain: AF_INET6,
            type: Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        else { return nil }
        var to = sockaddr_in6()
        to.sin6_family = sa_family_t(AF_INET6)
        to.sin6_port = choice.port.bigEndian
        withUnsafeMutableBytes(of: &to.sin6_addr) { $0.copyBytes(from: choice.address.bytes) }
        let rc = withUnsafePointer(to: &to) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            return nil
        }
        let f = Flow(fd: fd, key: key, client: client, backend: choice, now: now)
        flows[fd] = f
        flowByClient[key] = fd
        return f
    }

    private func receiveFromBackend(_ f: Flow) {
        guard let l = listeners[f.key.port] else { return closeFlow(f) }
        for _ in 0..<64 {
            let n = buffer.withUnsafeMutableBytes { recv(f.fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == ECONNREFUSED {
                    refused["\(f.backend.address)/\(f.backend.port)"] = Self.now() + 5
                    closeFlow(f)
                }
                return
            }
            f.lastActive = Self.now()
            var to = f.client
            _ = buffer.withUnsafeBytes { b in
                withUnsafePointer(to: &to) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(l.fd, b.baseAddress, n, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
        }
    }

    private func closeFlow(_ f: Flow) {
        close(f.fd)
        flows[f.fd] = nil
        if flowByClient[f.key] == f.fd { flowByClient[f.key] = nil }
    }

    private func expireIdle() {
        let limit = Self.now() - idleTimeout
        for f in flows.values where f.lastActive < limit { closeFlow(f) }
    }
}
