import Foundation
import Glibc
import Netlink
import OverlayModel
import OverlayPlanner
import Synchronization
import SystemCalls

/// The data-path side of relay failover (docs/failover.md): one thread probes the relay hubs of
/// every network whose plan has a failover entry (ICMPv6 echo from the network's namespace to each
/// hub's router address, through the tunnel), feeds each network's `RelayFailoverStateMachine`, and
/// publishes each change of the hubs out of service with the instant to apply it at. The agent's
/// loop polls `fileDescriptor`, which turns readable when something changed, takes each change at
/// its instant (`takeDueSwitches`) and applies it to the hubs' peers (`FailoverPlan.peers`).
///
/// It also sends one probe on request (`kick`): a member that has just configured a peer starts
/// the handshake itself instead of waiting for traffic.
final class RelayProber: Sendable {
    struct Target: Equatable, Sendable {
        var network: String
        var namespace: String
        var failover: FailoverPlan
    }

    struct HubReport: Equatable, Sendable {
        var name: String
        var publicKey: WireGuardKey
        var inService: Bool
        var up: Bool
        var rtt: Duration?
        var probes: Int
        var losses: Int
        /// Whether the hub is reached through its detour now; nil when it has none.
        var detoured: Bool? = nil
    }

    struct Report: Equatable, Sendable {
        /// `normal`, `without <hub>` or `no relay`.
        var status: String
        var hubs: [HubReport]
        var failovers: Int
    }

    /// A change of a network's hubs in service, to apply at `at`.
    struct Switch: Equatable, Sendable {
        var network: String
        var outOfService: Set<WireGuardKey>
        var at: ContinuousClock.Instant
        /// The hubs out of service until then.
        var before: Set<WireGuardKey> = []
    }

    fileprivate struct Shared {
        var desired: [Target] = []
        /// Per network, when each hub's last handshake completed (as read from the device).
        var handshakes: [String: [WireGuardKey: ContinuousClock.Instant]] = [:]
        var kicks: [(namespace: String, address: IPv6Address)] = []
        /// What passes apply; the loop moves a switch here at its instant.
        var outOfService: [String: Set<WireGuardKey>] = [:]
        /// Switches decided and not taken yet, by network.
        var scheduled: [String: Switch] = [:]
        /// Per network, the hubs reached through their detour now.
        var detoured: [String: Set<WireGuardKey>] = [:]
        /// Hubs whose path changed since the agent last took them: (network, hub).
        var pathChanges: [(network: String, hub: WireGuardKey)] = []
        var reports: [String: Report] = [:]
        var running = false
        var stopping = false
    }

    private let shared = Mutex(Shared())
    /// Readable when the hubs out of service changed; `takeWakeUp` empties it.
    let fileDescriptor: Int32
    private let writeEnd: Int32
    /// The other way: wakes the probe thread for a new plan, a kick or a stop.
    fileprivate let requests: Int32
    private let requestsWriteEnd: Int32
    private let log: @Sendable (String) -> Void

    init(log: @escaping @Sendable (String) -> Void) throws(SystemCallError) {
        (fileDescriptor, writeEnd) = try makeWakeUpPipe("for relay failover")
        do {
            (requests, requestsWriteEnd) = try makeWakeUpPipe("for relay probes")
        } catch {
            close(fileDescriptor)
            close(writeEnd)
            throw error
        }
        self.log = log
    }

    deinit {
        stop()
        for fd in [fileDescriptor, writeEnd, requests, requestsWriteEnd] { close(fd) }
    }

    /// A full pipe already means "wake up"; the byte is only a signal.
    private static func signal(_ fd: Int32, _ what: String) {
        var one: UInt8 = 1
        _ = try? systemCall("write", what) { write(fd, &one, 1) }
    }

    private static func drain(_ fd: Int32, _ what: String) {
        var buffer = [UInt8](repeating: 0, count: 64)
        while (try? systemCall("read", what) { read(fd, &buffer, 64) }) ?? 0 > 0 {}
    }

    /// Probes the relay hubs of `plan`'s networks from now on (starting the thread on first use).
    func update(_ plan: NodePlan) {
        let targets = plan.networks.compactMap { n in
            n.failover.map { Target(network: n.name, namespace: n.namespace, failover: $0) }
        }
        let (changed, start) = shared.withLock { s -> (Bool, Bool) in
            // Every pass hands the plan over; only a change is news.
            if s.desired == targets { return (false, false) }
            // A network new to this process takes each detour-capable hub's direct path, and the
            // agent sets it on the peer: a previous run may have left the peer on a detour (the
            // data plane outlives the agent), and the host table about to drop what comes from
            // the detour would then cut the hub off.
            let known = Set(s.desired.map(\.network))
            for t in targets where !known.contains(t.network) {
                s.pathChanges += t.failover.hubs.filter { $0.detour != nil }.map { (t.network, $0.publicKey) }
            }
            s.desired = targets
            let names = Set(targets.map(\.network))
            s.outOfService = s.outOfService.filter { names.contains($0.key) }
            s.scheduled = s.scheduled.filter { names.contains($0.key) }
            s.detoured = s.detoured.filter { names.contains($0.key) }
            s.reports = s.reports.filter { names.contains($0.key) }
            guard !s.running, !s.stopping else { return (true, false) }
            s.running = true
            return (true, true)
        }
        if start {
            launch()
        } else if changed {
            Self.signal(requestsWriteEnd, "relay probes wake-up")
        }
    }

    /// One probe to `address` from `namespace` now (a peer just configured: the handshake starts).
    func kick(namespace: String, address: IPv6Address) {
        let start = shared.withLock { s -> Bool in
            s.kicks.append((namespace, address))
            guard !s.running, !s.stopping else { return false }
            s.running = true
            return true
        }
        if start { launch() } else { Self.signal(requestsWriteEnd, "relay probes wake-up") }
    }

    /// The last handshakes of `network`'s peers, read from its device: a sign of life a probe
    /// may not have shown yet (a member that just joined).
    func handshakes(network: String, _ completed: [WireGuardKey: ContinuousClock.Instant]) {
        shared.withLock { $0.handshakes[network] = completed }
    }

    func outOfService(_ network: String) -> Set<WireGuardKey> {
        shared.withLock { $0.outOfService[network] ?? [] }
    }

    /// When the next switch is due (it may be past: then at once).
    var nextSwitch: ContinuousClock.Instant? {
        shared.withLock { $0.scheduled.values.map(\.at).min() }
    }

    /// The switches due at `now`, taken: from here on passes apply them too.
    func takeDueSwitches(now: ContinuousClock.Instant) -> [Switch] {
        shared.withLock { s in
            var due: [Switch] = []
            for (network, change) in s.scheduled where change.at <= now {
                s.scheduled[network] = nil
                var change = change
                change.before = s.outOfService[network] ?? []
                s.outOfService[network] = change.outOfService
                due.append(change)
            }
            return due.sorted { $0.network < $1.network }
        }
    }

    func detoured(_ network: String) -> Set<WireGuardKey> {
        shared.withLock { $0.detoured[network] ?? [] }
    }

    /// The hubs whose path changed since the last call: their peers' endpoints must be set now,
    /// since the reconciler leaves the endpoint of a connected peer alone (it may have roamed).
    func takePathChanges() -> [(network: String, hub: WireGuardKey)] {
        shared.withLock { s in
            defer { s.pathChanges = [] }
            return s.pathChanges
        }
    }

    func reports() -> [String: Report] {
        shared.withLock { $0.reports }
    }

    /// The wall clock, nanoseconds since the epoch.
    static func wallClockNow() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// A wall-clock instant as `HH:MM:SS.mmm UTC`.
    static func wallClock(epochNanoseconds: UInt64) -> String {
        var seconds = time_t(epochNanoseconds / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let ms = Int(epochNanoseconds % 1_000_000_000 / 1_000_000)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let millis = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis) UTC"
    }

    /// Empties the wake-up pipe.
    func takeWakeUp() { Self.drain(fileDescriptor, "relay failover wake-up") }

    func stop() {
        shared.withLock { $0.stopping = true }
        Self.signal(requestsWriteEnd, "relay probes wake-up")
        for _ in 0..<100 {
            if !shared.withLock({ $0.running }) { return }
            usleep(10_000)
        }
    }

    private func launch() {
        let t = Thread { [self] in
            var worker = ProbeWorker()
            worker.run(self)
        }
        t.name = "relay-prober"
        t.start()
    }

    // What the probe thread reads and writes under the lock.

    fileprivate func snapshot() -> (
        targets: [Target], kicks: [(namespace: String, address: IPv6Address)],
        handshakes: [String: [WireGuardKey: ContinuousClock.Instant]], stop: Bool
    ) {
        shared.withLock { s in
            defer { s.kicks = [] }
            return (s.desired, s.kicks, s.handshakes, s.stopping)
        }
    }

    /// What the machine decided about a network's hubs in service this round.
    fileprivate enum Decision {
        /// To apply at that instant (at once when it has passed).
        case scheduled(Switch)
        /// The scheduled switch is off; these hubs are out of service (a switch the loop took
        /// already is undone).
        case cancelled(outOfService: Set<WireGuardKey>)
    }

    fileprivate func publish(network: String, decision: Decision?, detoured: Set<WireGuardKey>, report: Report) {
        let changed = shared.withLock { s -> Bool in
            s.reports[network] = report
            let flipped = (s.detoured[network] ?? []).symmetricDifference(detoured)
            s.detoured[network] = detoured
            s.pathChanges += flipped.map { (network, $0) }
            switch decision {
            case nil:
                return !flipped.isEmpty
            case .scheduled(let change):
                s.scheduled[network] = change
                return true
            case .cancelled(let out):
                s.scheduled[network] = nil
                guard s.outOfService[network] ?? [] != out else { return !flipped.isEmpty }
                s.outOfService[network] = out
                return true
            }
        }
        if changed { Self.signal(writeEnd, "relay failover wake-up") }
    }

    fileprivate func takeRequests() { Self.drain(requests, "relay probes wake-up") }

    fileprivate func ended() {
        shared.withLock { $0.running = false }
    }

    fileprivate func note(_ line: String) { log(line) }
}

/// The probe thread's sockets and machines: made, used and closed on that thread only.
private struct ProbeWorker: ~Copyable {
    typealias Machine = RelayFailoverStateMachine

    final class Network {
        let target: RelayProber.Target
        /// Re-opened when the namespace is made anew (or a send fails): an open socket keeps
        /// the old namespace alive, and probes from there would go nowhere.
        var fd: Int32
        var inode: UInt64?
        var machine: Machine
        let identifier: UInt16
        var sequence: UInt16 = 0
        /// Probes in flight: sequence -> hub index and when it left.
        var pending: [UInt16: (hub: Int, sent: ContinuousClock.Instant)] = [:]
        /// The last failure to send a probe to each hub, logged once.
        var sendError: [Int: String] = [:]
        /// `detoured`: the hubs (by key) reached through their detour under the previous plan.
        init(
            target: RelayProber.Target, fd: Int32, now: ContinuousClock.Instant, detoured: Set<WireGuardKey> = []
        ) {
            self.target = target
            self.fd = fd
            inode = NetworkNamespace.inode(target.namespace)
            let thresholds = Machine.Thresholds(target.failover.thresholds)
            machine = Machine(
                hubs: target.failover.hubs.count, thresholds: thresholds, now: now,
                firstProbe: now + Self.untilWallClockGrid(thresholds.probeInterval),
                returnOrigin: now + Self.untilWallClockGrid(thresholds.returnGrid),
                detours: target.failover.hubs.map { $0.detour != nil },
                detoured: target.failover.hubs.map { $0.detour != nil && detoured.contains($0.publicKey) })
            identifier = UInt16.random(in: 1...UInt16.max)
        }
        deinit { close(fd) }

        /// Every member probes on the same wall-clock grid (whole seconds by default), so a hub
        /// that dies or returns is seen by all of them on the same tick and they move together.
        static func untilWallClockGrid(_ interval: Duration) -> Duration {
            let step = max(1, interval.wholeNanoseconds)
            return .nanoseconds(step - RelayProber.wallClockNow() % step)
        }
    }

    var networks: [String: Network] = [:]
    var problems: [String: String] = [:]

    mutating func run(_ prober: RelayProber) {
        defer { prober.ended() }
        while true {
            let (targets, kicks, handshakes, stop) = prober.snapshot()
            if stop { return }
            sync(targets, prober)
            for k in kicks { kick(k.namespace, k.address, prober) }
            let now = ContinuousClock.now
            for n in networks.values {
                for (i, hub) in n.target.failover.hubs.enumerated() {
                    if let at = handshakes[n.target.network]?[hub.publicKey], at <= now {
                        n.machine.observe(hub: i, .handshake(age: now - at), at: now)
                    }
                }
                receive(n, now: now, prober)
                expire(n, now: now, prober)
                var decision: RelayProber.Decision?
                let keys = { (hubs: [Int]) in Set(hubs.map { n.target.failover.hubs[$0].publicKey }) }
                for action in n.machine.tick(at: now) {
                    switch action {
                    case .probe(let hub): send(n, hub: hub, now: now, prober)
                    case .reroute(let out, let at):
                        decision = .scheduled(.init(network: n.target.network, outOfService: keys(out), at: at))
                        let names = out.map { n.target.failover.hubs[$0].name }
                        prober.note(
                            "network \(n.target.network): "
                                + (names.isEmpty
                                    ? "every relay hub in service" : "out of service: \(names.joined(separator: ", "))")
                                + (at > now
                                    ? " at \(Self.wallClock(at, now: now)) (in \((at - now).wholeMilliseconds) ms), with every member"
                                    : " (\(Self.describe(n.machine.status, n.target.failover)))"))
                    case .cancelReroute:
                        decision = .cancelled(outOfService: keys(n.machine.outOfService))
                        prober.note("network \(n.target.network): return called off, a probe was lost")
                    case .path(let hub, let detour):
                        let plan = n.target.failover.hubs[hub]
                        prober.note(
                            "network \(n.target.network): relay hub \(plan.name) "
                                + (detour
                                    ? "silent on its own path, now through \(plan.detour.map { "\($0)" } ?? "?")"
                                    : "silent through the detour or due for a retry, now direct"))
                    }
                }
                prober.publish(
                    network: n.target.network, decision: decision,
                    detoured: Set(
                        n.machine.hubs.indices.filter { n.machine.hubs[$0].detoured }.map {
                            n.target.failover.hubs[$0].publicKey
                        }),
                    report: Self.report(n))
            }
            // Asleep until a reply, a request (`update`, `kick`, `stop`) or the next deadline: a
            // probe due, a probe expiring, a threshold crossed. At most a second (a network whose
            // namespace is not there yet is tried again).
            var deadlines = networks.values.compactMap(\.machine.nextDeadline)
            for n in networks.values {
                deadlines += n.pending.values.map { $0.sent + n.machine.thresholds.probeInterval }
            }
            var timeout: Int32 = 1000
            if let next = deadlines.min() {
                let d = next - .now
                // Rounded up: waking a little early would only go round again.
                let ms =
                    d.components.seconds * 1000 + (d.components.attoseconds + 999_999_999_999_999)
                    / 1_000_000_000_000_000
                timeout = Int32(max(0, min(1000, ms)))
            }
            var fds = networks.values.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            fds.append(pollfd(fd: prober.requests, events: Int16(POLLIN), revents: 0))
            _ = try? systemCall("poll", "relay probes", retryingInterrupts: false) {
                poll(&fds, nfds_t(fds.count), timeout)
            }
            prober.takeRequests()
        }
    }

    /// Opens a socket and starts a machine for each new network; a network whose hubs or
    /// thresholds changed starts over (trusting the plan again).
    mutating func sync(_ targets: [RelayProber.Target], _ prober: RelayProber) {
        let wanted = Dictionary(targets.map { ($0.network, $0) }, uniquingKeysWith: { a, _ in a })
        // A plan change restarts a network's machine; a hub it reached through its detour stays
        // there (its direct path is likely still broken), so the change costs no outage.
        var detoured: [String: Set<WireGuardKey>] = [:]
        for (name, n) in networks where wanted[name] != n.target {
            detoured[name] = Set(
                n.machine.hubs.indices.filter { n.machine.hubs[$0].detoured }.map {
                    n.target.failover.hubs[$0].publicKey
                })
        }
        networks = networks.filter { wanted[$0.key] == $0.value.target }
        for n in networks.values {
            let inode = NetworkNamespace.inode(n.target.namespace)
            if inode != n.inode, inode != nil, let fd = try? Self.openICMPv6(in: n.target.namespace) {
                close(n.fd)
                n.fd = fd
                n.inode = inode
            }
        }
        for (name, t) in wanted where networks[name] == nil {
            do {
                let fd = try Self.openICMPv6(in: t.namespace)
                networks[name] = Network(target: t, fd: fd, now: .now, detoured: detoured[name] ?? [])
                problems[name] = nil
            } catch {
                // The namespace may not exist yet: the next round tries again.
                let text = "network \(name): cannot probe the relay hubs yet: \(error)"
                if problems[name] != text { prober.note(text) }
                problems[name] = text
            }
        }
    }

    static func openICMPv6(in namespace: String) throws -> Int32 {
        try NetworkNamespace.openSocket(
            in: namespace, domain: AF_INET6,
            type: Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            protocol: Int32(IPPROTO_ICMPV6))
    }

    func kick(_ namespace: String, _ address: IPv6Address, _ prober: RelayProber) {
        // A socket for this packet only: an open socket keeps its namespace alive.
        guard let fd = try? Self.openICMPv6(in: namespace) else { return }
        defer { close(fd) }
        // Nobody waits for the answer: the packet is there to start the handshake.
        _ = Self.sendEcho(fd, to: address, identifier: 0, sequence: 0)
    }

    func send(_ n: Network, hub: Int, now: ContinuousClock.Instant, _ prober: RelayProber) {
        n.sequence &+= 1
        let to = n.target.failover.hubs[hub].routerAddress
        if let error = Self.sendEcho(n.fd, to: to, identifier: n.identifier, sequence: n.sequence) {
            // A local failure says nothing about the hub; the silence that follows does. Said
            // once until it changes (no route yet while the first pass builds the network).
            if n.sendError[hub] != error { prober.note("network \(n.target.network): probe to \(to): \(error)") }
            n.sendError[hub] = error
            // A namespace deleted and made again leaves this socket in the old one.
            if let fd = try? Self.openICMPv6(in: n.target.namespace) {
                close(n.fd)
                n.fd = fd
                n.inode = NetworkNamespace.inode(n.target.namespace)
            }
            return
        }
        n.sendError[hub] = nil
        n.pending[n.sequence] = (hub, now)
    }

    /// An ICMPv6 echo request; the kernel fills in the checksum. Nil when sent.
    static func sendEcho(_ fd: Int32, to address: IPv6Address, identifier: UInt16, sequence: UInt16) -> String? {
        var packet: [UInt8] = [
            128, 0, 0, 0, UInt8(identifier >> 8), UInt8(identifier & 0xff), UInt8(sequence >> 8),
            UInt8(sequence & 0xff),
        ]
        var to = sockaddr_in6()
        to.sin6_family = sa_family_t(AF_INET6)
        withUnsafeMutableBytes(of: &to.sin6_addr) { $0.copyBytes(from: address.bytes) }
        do throws(SystemCallError) {
            _ = try systemCall("sendto", "\(address)") {
                withUnsafePointer(to: &to) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, &packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Every echo reply waiting on the socket that answers one of this network's probes.
    func receive(_ n: Network, now: ContinuousClock.Instant, _ prober: RelayProber) {
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            var from = sockaddr_in6()
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            let got = withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(n.fd, &buffer, buffer.count, 0, $0, &length)
                }
            }
            guard got >= 8 else { return }
            // Raw ICMPv6 sockets see every ICMPv6 message of the namespace: keep our echo replies.
            guard buffer[0] == 129, UInt16(buffer[4]) << 8 | UInt16(buffer[5]) == n.identifier else { continue }
            let sequence = UInt16(buffer[6]) << 8 | UInt16(buffer[7])
            guard let p = n.pending.removeValue(forKey: sequence) else { continue }
            let source = withUnsafeBytes(of: from.sin6_addr) { IPv6Address(bytes: Array($0)) }
            guard source == n.target.failover.hubs[p.hub].routerAddress else { continue }
            let silent = n.machine.hubs[p.hub].aliveSince == nil
            n.machine.observe(hub: p.hub, .reply(rtt: now - p.sent), at: now)
            // Where a return's hold starts: members' logs show whether they saw the hub on one tick.
            if silent && !n.machine.hubs[p.hub].inService {
                prober.note(
                    "network \(n.target.network): relay hub \(n.target.failover.hubs[p.hub].name) answers again "
                        + "(the probe of \(Self.wallClock(p.sent, now: now)))")
            }
        }
    }

    /// Probes unanswered for one interval are lost.
    func expire(_ n: Network, now: ContinuousClock.Instant, _ prober: RelayProber) {
        let limit = n.machine.thresholds.probeInterval
        for (sequence, p) in n.pending where now - p.sent >= limit {
            n.pending[sequence] = nil
            let holding = n.machine.hubs[p.hub].aliveSince != nil
            n.machine.observe(hub: p.hub, .lost(sent: p.sent), at: now)
            if holding && n.machine.hubs[p.hub].aliveSince == nil && !n.machine.hubs[p.hub].inService {
                prober.note(
                    "network \(n.target.network): relay hub \(n.target.failover.hubs[p.hub].name) lost the probe of "
                        + "\(Self.wallClock(p.sent, now: now)); its hold starts again")
            }
        }
    }

    /// `at` on the wall clock, UTC, to the millisecond: members' logs show whether they switched
    /// at the same instant.
    static func wallClock(_ at: ContinuousClock.Instant, now: ContinuousClock.Instant) -> String {
        RelayProber.wallClock(
            epochNanoseconds: UInt64(max(0, RelayProber.wallClockNow() + (at - now).wholeNanoseconds)))
    }

    static func describe(_ status: Machine.Status, _ failover: FailoverPlan) -> String {
        switch status {
        case .normal: "normal"
        case .without(let h): "without \(failover.hubs[h].name)"
        case .noRelay: "no relay"
        }
    }

    static func report(_ n: Network) -> RelayProber.Report {
        let hubs = n.machine.hubs.enumerated().map { i, h in
            let plan = n.target.failover.hubs[i]
            return RelayProber.HubReport(
                name: plan.name, publicKey: plan.publicKey, inService: h.inService, up: h.up, rtt: h.rtt,
                probes: h.probes, losses: h.losses, detoured: h.canDetour ? h.detoured : nil)
        }
        return .init(
            status: describe(n.machine.status, n.target.failover), hubs: hubs, failovers: n.machine.failovers)
    }
}
