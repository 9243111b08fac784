import Foundation
import Glibc
import Netlink
import OverlayModel
import Synchronization
import SystemCalls

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
///
/// Ownership: the agent's thread owns the `UDPRelay` and only hands it mappings; the relay thread
/// owns every socket, in a `RelayWorker` nobody else can reach, which closes them all when the
/// thread ends. The two share one `Control` (desired mappings, problems, the wake-up pipe) under a
/// lock. `stop()` (also on deinit) asks the thread to end and waits for it.
final class UDPRelay: Sendable {
    struct Backend: Equatable, Sendable {
        var address: IPv6Address
        var port: UInt16
    }

    struct Mapping: Equatable, Sendable {
        var port: UInt16
        /// Where the flows' sockets are opened; nil: the agent's own namespace (a relay hub's
        /// forwarder, whose target is another node's public endpoint).
        var namespace: String?
        var backends: [Backend]
    }

    let idleTimeout: Double
    private let control = Control()

    init(idleTimeout: Double = 60) {
        self.idleTimeout = idleTimeout
    }

    deinit { stop() }

    /// Makes the relay serve exactly `mappings` (starting its thread on first use).
    func update(_ mappings: [Mapping]) {
        let (changed, start, wakeFD) = control.state.withLock { s -> (Bool, Bool, Int32?) in
            let changed = mappings != s.desired
            s.desired = mappings
            if changed { s.generation += 1 }
            var start = false
            if !s.running && !mappings.isEmpty {
                do {
                    s.wake = try makeWakeUpPipe("for the udp relay")
                    s.running = true
                    s.stopping = false
                    start = true
                } catch {
                    s.problems = Dictionary(
                        mappings.map { ($0.port, "udp/\($0.port): \(error)") }, uniquingKeysWith: { a, _ in a })
                }
            }
            return (changed, start, s.wake?.write)
        }
        if start {
            let (control, idleTimeout) = (control, idleTimeout)
            let t = Thread {
                var worker = RelayWorker(control: control, idleTimeout: idleTimeout)
                worker.run()
            }
            t.name = "udp-relay"
            t.start()
        }
        if changed, let wakeFD { Control.signal(wakeFD) }
    }

    /// Per port, why it is not served (empty when all is well).
    func currentProblems() -> [UInt16: String] {
        control.state.withLock { $0.problems }
    }

    func stop() {
        let wakeFD = control.state.withLock { s -> Int32? in
            s.stopping = true
            return s.running ? s.wake?.write : nil
        }
        guard let wakeFD else { return }
        Control.signal(wakeFD)
        // The loop closes its sockets within one poll round.
        for _ in 0..<100 {
            if !control.state.withLock({ $0.running }) { return }
            usleep(10_000)
        }
    }

    /// What the agent's thread and the relay thread share.
    fileprivate final class Control: Sendable {
        struct State {
            var desired: [Mapping] = []
            var generation = 0
            var stopping = false
            var running = false
            /// Failures to report (a port already taken, a namespace missing); read by the agent.
            var problems: [UInt16: String] = [:]
            /// Made when the thread starts; its ends are closed by the thread when it ends.
            var wake: (read: Int32, write: Int32)?
        }

        let state = Mutex(State())

        /// A full pipe already means "wake up"; the byte is only a signal.
        static func signal(_ fd: Int32) {
            var b: UInt8 = 1
            _ = try? systemCall("write", "udp relay wake-up") { write(fd, &b, 1) }
        }
    }

    struct SocketError: Error, CustomStringConvertible {
        var description: String
    }

    static func listen(_ port: UInt16) throws -> Int32 {
        do throws(SystemCallError) {
            let fd = try systemCall("socket", "udp/\(port)") {
                socket(
                    AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                    0)
            }
            do throws(SystemCallError) {
                var off: Int32 = 0
                var on: Int32 = 1
                let size = socklen_t(MemoryLayout<Int32>.size)
                try systemCall("setsockopt IPV6_V6ONLY", "udp/\(port)") {
                    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, size)
                }
                try systemCall("setsockopt SO_REUSEADDR", "udp/\(port)") {
                    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, size)
                }
                var addr = sockaddr_in6()
                addr.sin6_family = sa_family_t(AF_INET6)
                addr.sin6_port = port.bigEndian
                try systemCall("bind", "udp/\(port)") {
                    withUnsafePointer(to: &addr) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                        }
                    }
                }
            } catch {
                close(fd)
                throw error
            }
            return fd
        } catch {
            throw SocketError(description: "\(error)")
        }
    }
}

/// The relay thread's sockets and flows: made, used and closed on that thread only.
private struct RelayWorker: ~Copyable {
    typealias Mapping = UDPRelay.Mapping
    typealias Backend = UDPRelay.Backend

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

    let control: UDPRelay.Control
    let idleTimeout: Double
    private var listeners: [UInt16: Listener] = [:]
    private var flows: [Int32: Flow] = [:]
    private var flowByClient: [ClientKey: Int32] = [:]
    /// Backends that refused recently, until when.
    private var refused: [String: Double] = [:]
    private var buffer = [UInt8](repeating: 0, count: 65536)

    init(control: UDPRelay.Control, idleTimeout: Double) {
        self.control = control
        self.idleTimeout = idleTimeout
    }

    /// Every socket of the relay, and the wake-up pipe, go with the thread.
    deinit {
        for l in listeners.values { close(l.fd) }
        for f in flows.values { close(f.fd) }
        control.state.withLock { s in
            if let w = s.wake {
                close(w.read)
                close(w.write)
            }
            s.wake = nil
            s.running = false
        }
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    mutating func run() {
        var applied = -1
        while true {
            let (stop, gen, want, wakeFD) = control.state.withLock { s in
                (s.stopping, s.generation, s.desired, s.wake?.read ?? -1)
            }
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
            let n = (try? systemCall("poll", "udp relay") { poll(&fds, nfds_t(fds.count), 1000) }) ?? 0
            if n > 0 {
                if fds[0].revents != 0 {
                    var b = [UInt8](repeating: 0, count: 64)
                    while (try? systemCall("read", "udp relay wake-up") { read(wakeFD, &b, 64) }) ?? 0 > 0 {}
                }
                for (i, l) in listening.enumerated() where fds[1 + i].revents != 0 { receiveFromClients(l) }
                for (i, f) in open.enumerated() where fds[1 + listening.count + i].revents != 0 {
                    if flows[f.fd] != nil { receiveFromBackend(f) }
                }
            }
            expireIdle()
        }
    }

    private mutating func apply(_ want: [Mapping]) {
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
            do { listeners[port] = Listener(fd: try UDPRelay.listen(port), mapping: m) } catch {
                problems[port] = "\(error)"
            }
        }
        control.state.withLock { $0.problems = problems }
    }

    private mutating func receiveFromClients(_ l: Listener) {
        for _ in 0..<64 {
            var from = sockaddr_in6()
            var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
            // Until EAGAIN: nothing more waits.
            guard
                let n = try? systemCall(
                    "recvfrom", "udp/\(l.mapping.port)", .minusOneSetsErrno,
                    {
                        buffer.withUnsafeMutableBytes { b in
                            withUnsafeMutablePointer(to: &from) {
                                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                    recvfrom(l.fd, b.baseAddress, b.count, 0, $0, &len)
                                }
                            }
                        }
                    })
            else { return }
            let key = ClientKey(
                port: l.mapping.port, address: withUnsafeBytes(of: from.sin6_addr) { Array($0) },
                clientPort: UInt16(bigEndian: from.sin6_port))
            var flow = flowByClient[key].flatMap { flows[$0] }
            if flow == nil { flow = openFlow(l, key: key, client: from) }
            guard let flow else { continue }
            flow.lastActive = Self.now()
            // A datagram the backend's socket cannot take now is dropped, as the network would.
            _ = try? systemCall("send", "to \(flow.backend.address) port \(flow.backend.port)") {
                buffer.withUnsafeBytes { send(flow.fd, $0.baseAddress, n, Int32(MSG_DONTWAIT)) }
            }
        }
    }

    private mutating func openFlow(_ l: Listener, key: ClientKey, client: sockaddr_in6) -> Flow? {
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
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let opened: Int32?
        if let namespace = l.mapping.namespace {
            opened = try? NetworkNamespace.openSocket(in: namespace, domain: AF_INET6, type: type)
        } else {
            opened = try? systemCall("socket", "udp relay flow") { socket(AF_INET6, type, 0) }
        }
        guard let fd = opened else { return nil }
        var to = sockaddr_in6()
        to.sin6_family = sa_family_t(AF_INET6)
        to.sin6_port = choice.port.bigEndian
        withUnsafeMutableBytes(of: &to.sin6_addr) { $0.copyBytes(from: choice.address.bytes) }
        do throws(SystemCallError) {
            try systemCall("connect", "to \(choice.address) port \(choice.port)") {
                withUnsafePointer(to: &to) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
        } catch {
            close(fd)
            return nil
        }
        let f = Flow(fd: fd, key: key, client: client, backend: choice, now: now)
        flows[fd] = f
        flowByClient[key] = fd
        return f
    }

    private mutating func receiveFromBackend(_ f: Flow) {
        guard let l = listeners[f.key.port] else { return closeFlow(f) }
        for _ in 0..<64 {
            let n: Int
            do throws(SystemCallError) {
                n = try systemCall("recv", "from \(f.backend.address) port \(f.backend.port)") {
                    buffer.withUnsafeMutableBytes { recv(f.fd, $0.baseAddress, $0.count, 0) }
                }
            } catch {
                if error.errno == .ECONNREFUSED {
                    refused["\(f.backend.address)/\(f.backend.port)"] = Self.now() + 5
                    closeFlow(f)
                }
                return
            }
            f.lastActive = Self.now()
            var to = f.client
            _ = try? systemCall("sendto", "udp/\(l.mapping.port)") {
                buffer.withUnsafeBytes { b in
                    withUnsafePointer(to: &to) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(
                                l.fd, b.baseAddress, n, Int32(MSG_DONTWAIT), $0,
                                socklen_t(MemoryLayout<sockaddr_in6>.size))
                        }
                    }
                }
            }
        }
    }

    private mutating func closeFlow(_ f: Flow) {
        close(f.fd)
        flows[f.fd] = nil
        if flowByClient[f.key] == f.fd { flowByClient[f.key] = nil }
    }

    private mutating func expireIdle() {
        let limit = Self.now() - idleTimeout
        for f in flows.values where f.lastActive < limit { closeFlow(f) }
    }
}
