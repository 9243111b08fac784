import Foundation
import Glibc
import Netlink
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import Synchronization
import SystemCalls
import WireGuard

/// Set by SIGTERM/SIGINT; the loop polls with a short timeout, so it notices within that time.
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0

/// The node agent: takes the plan (a file, or the last good one kept in the state directory),
/// reconciles the kernel to it, and (unless `once`) keeps it there: rtnetlink events in every
/// namespace it owns trigger a pass at once, and a short periodic pass catches what sends no
/// event (an nftables table deleted by hand, a WireGuard peer removed over UAPI).
public final class Agent {
    public struct Options: Sendable {
        public var stateDirectory: String
        public var planFile: String?
        public var once = false
        public var verbose = false
        public var wireguard: WireGuardBackendKind = .auto
        /// The backstop period; events usually come first.
        public var resyncInterval: Duration = .milliseconds(500)
        /// The controller replicas' base URLs (stored at join; given again only when they changed).
        public var controllerURLs: [String] = []
        /// A join token: registers this node's identity once and pins the controller's key.
        public var joinToken: String?
        /// Status goes to the controller after every change and at least this often.
        public var statusInterval: Duration = .seconds(15)

        public init(stateDirectory: String, planFile: String? = nil) {
            self.stateDirectory = stateDirectory
            self.planFile = planFile
        }
    }

    let options: Options
    let state: StateDirectory
    let identity: Ed25519Identity
    let kernel: LinuxKernel
    /// HAProxy and the UDP relay on a gateway node (`Gateway.swift`).
    let gateway: Gateway
    /// Relay hub probes and failover decisions; none in `once` mode (docs/failover.md).
    let prober: RelayProber?
    /// A relay hub's forwarders to the other relay hub (docs/failover.md); none in `once` mode.
    let forwarders: UDPRelay?
    private let forwarderProblems = Mutex<[UInt16: String]>([:])
    /// Per network this node relays for, when its probes are answered again after its tunnel was
    /// made again (`Reconciler.probeGates`), and the networks it carried before.
    private let probeGates: Mutex<(gates: [String: UInt64], carried: Set<String>)>

    public init(options: Options) throws {
        self.options = options
        state = StateDirectory(path: options.stateDirectory)
        // Joining creates the identity when `init` was not run; otherwise it must exist.
        let existing = options.joinToken != nil ? try state.loadOrCreateIdentity().identity : try state.loadIdentity()
        guard let identity = existing else { throw AgentError.noIdentity(options.stateDirectory) }
        self.identity = identity
        // A wireguard-go that died is restarted by the backend without its configuration; the
        // next periodic pass (at most `resyncInterval` later) configures it again.
        kernel = try LinuxKernel(wireguard: try Self.backend(options, state: state) { _ in }, state: state)
        gateway = Gateway(stateDirectory: options.stateDirectory, identity: identity, relayUDP: !options.once)
        prober = options.once ? nil : try RelayProber(log: { Agent.log($0) })
        // What the node carried when this process started: a tunnel of these missing now was
        // lost with the node (a reboot), not never made.
        probeGates = Mutex(([:], Set(((try? state.cachedPlan())?.networks ?? []).map(\.name))))
        forwarders = options.once ? nil : UDPRelay()
    }

    static func backend(
        _ options: Options, state: StateDirectory, onEvent: @escaping @Sendable (UserspaceWireGuard.Event) -> Void
    ) throws -> any WireGuardBackend {
        switch options.wireguard.resolveOnThisKernel() {
        case .kernel:
            // Each link is made here and moved into its network's namespace; generic netlink
            // reaches it there only through a socket opened in that namespace.
            return try KernelWireGuard.namespaced()
        case .userspace, .auto:
            var o = UserspaceWireGuard.Options()
            o.logFile = state.path + "/wireguard-go.log"
            // A long-running agent supervises its tunnels; `--once` leaves them running alone.
            o.restartOnExit = !options.once
            o.onEvent = onEvent
            return UserspaceWireGuard(options: o)
        }
    }

    /// Which backend this agent drives: "kernel" or "userspace".
    public var wireguardBackend: String { kernel.wireguard is UserspaceWireGuard ? "userspace" : "kernel" }

    // MARK: - Plans

    struct Loaded {
        var plan: NodePlan
        var keys: [String: SecretKey]
    }

    /// Reads and checks a plan file, opens its keys and keeps both as the last good state.
    func load(file: String) throws -> Loaded {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw AgentError.badPlan(file, "cannot read it")
        }
        let plan: NodePlan
        do { plan = try JSONDecoder().decode(NodePlan.self, from: data) } catch {
            throw AgentError.badPlan(file, "not a plan document: \(error)")
        }
        return try adopt(plan, from: file)
    }

    /// Checks a plan against the cached one, opens its keys and keeps both as the last good state.
    func adopt(_ plan: NodePlan, from source: String) throws -> Loaded {
        guard plan.version == NodePlan.currentVersion else {
            throw AgentError.badPlan(
                source, "version \(plan.version); this agent reads version \(NodePlan.currentVersion)")
        }
        if let cached = try? state.cachedPlan(), cached.node == plan.node, cached.revision > plan.revision {
            throw AgentError.badPlan(source, "revision \(plan.revision) is older than the applied \(cached.revision)")
        }
        let keys = try state.openKeys(plan, identity: identity)
        try state.savePlan(plan)
        state.pruneKeys(keeping: Set(plan.networks.map(\.interface)))
        return Loaded(plan: plan, keys: keys)
    }

    func loadCached() throws -> Loaded {
        guard let plan = try state.cachedPlan() else { throw AgentError.noPlan(options.stateDirectory) }
        return Loaded(plan: plan, keys: try state.openKeys(plan, identity: identity))
    }

    // MARK: - Running

    func log(_ line: String) { Self.log(line) }

    /// `OVERLAY_LOG_TIME=1` stamps each line with the wall-clock time (UTC, to the millisecond),
    /// for logs that no journal stamps (the simulation's benches compare members' logs).
    static let stampsLines = ProcessInfo.processInfo.environment["OVERLAY_LOG_TIME"] == "1"

    static func log(_ line: String) {
        let stamp = stampsLines ? RelayProber.wallClock(epochNanoseconds: UInt64(RelayProber.wallClockNow())) + " " : ""
        FileHandle.standardError.write(Data("\(stamp)overlay-agent: \(line)\n".utf8))
    }

    static var stopping: Bool { stopRequested != 0 }

    /// One pass; returns the actions applied.
    @discardableResult
    func pass(_ loaded: Loaded) throws -> [AgentAction] {
        let writes = kernel.writesSent
        prober?.update(loaded.plan)
        // A relay switch due and not applied on its own yet is applied by this pass.
        for change in prober?.takeDueSwitches(now: .now) ?? [] {
            log(
                "network \(change.network): relay hubs out of service now \(Self.hubNames(change, in: loaded.plan)): with the whole pass"
            )
        }
        let plan = loaded.plan.withRelaysOutOfService(
            { prober?.outOfService($0) ?? [] }, detoured: { prober?.detoured($0) ?? [] })
        let now = Date()
        let actions = try kernel.reconcile(
            plan: plan, keys: loaded.keys, now: now,
            probeGates: { observed in
                self.probeGates.withLock { state in
                    let next = Reconciler.probeGates(
                        plan: plan, observed: observed, now: now, current: state.gates, carried: state.carried)
                    for (network, open) in next.sorted(by: { $0.key < $1.key }) where state.gates[network] != open {
                        Self.log(
                            "network \(network): relay hub tunnel made; probes answered from "
                                + "\(RelayProber.wallClock(epochNanoseconds: open)), after every member's handshake retry"
                        )
                    }
                    state.gates = next
                    for n in plan.networks where observed.wireguard[n.interface] != nil { state.carried.insert(n.name) }
                    return next
                }
            },
            log: { [options] action in
                if options.verbose { print("action: \(action)") }
            })
        if let forwarders {
            forwarders.update(plan.relayForwarders)
            let problems = forwarders.currentProblems()
            if forwarderProblems.withLock({ p in
                defer { p = problems }
                return p != problems
            }) {
                for (_, text) in problems.sorted(by: { $0.key < $1.key }) { log("relay forwarder: \(text)") }
            }
        }
        if let prober {
            // A connected peer keeps the endpoint it roamed to through a reconcile: a path that
            // changed is set here, on the hub's peer alone. The path is read after the change is
            // taken, so a flip published during this pass is applied now or on the next one.
            for change in prober.takePathChanges() {
                guard let n = loaded.plan.networks.first(where: { $0.name == change.network }),
                    let hub = n.failover?.hubs.first(where: { $0.publicKey == change.hub }),
                    let endpoint = prober.detoured(n.name).contains(change.hub)
                        ? hub.detour : n.peers.first(where: { $0.publicKey == change.hub })?.endpoint
                else { continue }
                do {
                    try kernel.wireguard.updatePeer(
                        PeerUpdate(publicKey: change.hub, endpoint: endpoint), on: n.interface)
                    // One packet through the tunnel now: the hub follows it to the new path at once.
                    prober.kick(namespace: n.namespace, address: hub.routerAddress)
                } catch {
                    log("network \(n.name): could not point a relay hub's peer at \(endpoint): \(error)")
                }
            }
            for (namespace, address) in plan.probeTargets(newPeersIn: actions) {
                prober.kick(namespace: namespace, address: address)
            }
            // The relay hubs' handshakes, for the failover decision; a failed read tells it nothing.
            for n in plan.networks where n.failover != nil {
                guard let device = try? kernel.wireguard.device(n.interface) else { continue }
                let (now, wall) = (ContinuousClock.now, Date())
                var completed: [WireGuardKey: ContinuousClock.Instant] = [:]
                for p in device.peers {
                    guard let t = p.lastHandshake, t <= wall else { continue }
                    completed[p.config.publicKey] = now - .milliseconds(Int64(wall.timeIntervalSince(t) * 1000))
                }
                prober.handshakes(network: n.name, completed)
            }
        }
        // Silent on a no-op pass: any write on a pass that changed nothing shows here too.
        let sent = kernel.writesSent - writes
        if options.verbose && (sent != 0 || !actions.isEmpty) { print("netlink writes: \(sent)") }
        // The gateway comes after the kernel: its backends are reached through the namespaces.
        for line in try gateway.reconcile(loaded.plan.gateway) {
            if options.verbose { print("gateway: \(line)") }
            log("gateway: \(line)")
        }
        return actions
    }

    /// Applies the relay switches due now (docs/failover.md, In the agent): the AllowedIPs of each
    /// network's two hub peers, in one WireGuard set, exactly as the next pass computes them, so
    /// every member moves at the same instant instead of at the end of its own pass. False when
    /// one failed: the caller runs a whole pass, which applies it.
    func applyRelaySwitches(_ loaded: Loaded) -> Bool {
        guard let prober else { return true }
        var succeeded = true
        for change in prober.takeDueSwitches(now: .now) {
            guard let n = loaded.plan.networks.first(where: { $0.name == change.network }), let f = n.failover else {
                continue
            }
            let started = ContinuousClock.now
            let before = f.peers(n.peers, outOfService: change.before)
            let after = f.peers(n.peers, outOfService: change.outOfService)
            var updates: [PeerChange] = []
            for hub in f.hubs {
                guard let old = before.first(where: { $0.publicKey == hub.publicKey }),
                    let new = after.first(where: { $0.publicKey == hub.publicKey })
                else { continue }
                let update = PeerChange.update(PeerUpdate(publicKey: hub.publicKey, allowedIPs: new.allowedIPs))
                // The hub that takes prefixes goes first: each moves from one peer to the other
                // and is never without one.
                if Set(new.allowedIPs).isSubset(of: old.allowedIPs) {
                    updates.append(update)
                } else {
                    updates.insert(update, at: 0)
                }
            }
            do {
                try kernel.wireguard.apply(DeviceChange(peers: updates), to: n.interface)
                log(
                    "network \(n.name): relay hubs out of service now \(Self.hubNames(change, in: loaded.plan)): applied in "
                        + "\((ContinuousClock.now - started).wholeMilliseconds) ms, "
                        + "\((started - change.at).wholeMilliseconds) ms after the instant")
            } catch {
                log("network \(n.name): could not move the relayed prefixes at once (\(error)); a whole pass does it")
                succeeded = false
            }
        }
        return succeeded
    }

    /// The names of the hubs a switch leaves out of service, for the log.
    static func hubNames(_ change: RelayProber.Switch, in plan: NodePlan) -> String {
        let hubs = plan.networks.first { $0.name == change.network }?.failover?.hubs ?? []
        return "[" + hubs.filter { change.outOfService.contains($0.publicKey) }.map(\.name).joined(separator: ", ")
            + "]"
    }

    /// See `Reconciler.hostTableBeforeConnecting`. A failure is reported and the run goes on:
    /// the first pass puts the table in place anyway.
    func installHostTableBeforeConnecting() {
        do {
            let plan = try state.cachedPlan()
            let host = try kernel.observeNamespace(nil, firewall: true, forwarding: false)
            guard let action = Reconciler.hostTableBeforeConnecting(plan: plan, host: host) else { return }
            try kernel.apply(action)
            log("before connecting: \(action)")
        } catch {
            log("could not put the host table in place before connecting: \(error)")
        }
    }

    public func run() throws {
        signal(SIGTERM) { _ in stopRequested = 1 }
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGPIPE, SIG_IGN)
        if options.planFile == nil { installHostTableBeforeConnecting() }
        let controller = try connectController()
        defer { controller?.stop() }
        var cached = try options.planFile.map(load(file:))
        if cached == nil, controller != nil, let plan = try state.cachedPlan() {
            cached = try Loaded(plan: plan, keys: state.openKeys(plan, identity: identity))
        }
        controller?.start(applied: cached?.plan.revision)
        let first: Loaded?
        if let cached {
            first = cached
        } else if let controller {
            first = try firstPlan(from: controller)
        } else {
            first = try loadCached()
        }
        guard var loaded = first else {
            log("stopping on signal before the first plan")
            return
        }
        if !options.once {
            log(
                "running plan revision \(loaded.plan.revision) of node \(loaded.plan.node), wireguard backend: \(wireguardBackend)"
            )
        }
        var configuration = AgentLoopStateMachine.Configuration()
        configuration.once = options.once
        configuration.reportsStatus = controller != nil
        configuration.statusInterval = options.statusInterval
        configuration.resyncInterval = options.resyncInterval
        var machine = AgentLoopStateMachine(configuration)
        // `--once` takes the plan it has and watches nothing.
        var watch: KernelWatch?
        if !options.once { watch = try KernelWatch() }
        var planStamp = options.planFile.flatMap(Self.stamp)

        // The I/O of each action; the decisions are the machine's.
        var actions = machine.start()
        while !actions.isEmpty {
            // A stop the wait already handed to the machine is not asked for twice (the second
            // answer is empty and would end the loop without its exit).
            if stopRequested != 0, !machine.stopped { actions = machine.stopRequested() }
            var next: [AgentLoopStateMachine.Action] = []
            for action in actions {
                switch action {
                case .reconcile:
                    prober?.takeWakeUp()
                    if !options.once {
                        watch?.drain()
                        takePlan(controller, stamp: &planStamp, into: &loaded)
                    }
                    do {
                        let started = ContinuousClock.now
                        let applied = try pass(loaded)
                        if !applied.isEmpty, !options.once {
                            log(
                                "applied \(applied.count) actions in \((ContinuousClock.now - started).wholeMilliseconds) ms: "
                                    + applied.map(\.description).joined(separator: " | "))
                        } else if options.verbose && !options.once {
                            // `--once --verbose` prints its actions only: scripts compare it.
                            print("no-op pass in \((ContinuousClock.now - started).wholeMilliseconds) ms")
                        }
                        machine.relaySwitch(at: prober?.nextSwitch)
                        next += machine.passSucceeded(revision: loaded.plan.revision, actions: applied.count, now: .now)
                    } catch {
                        if options.once { throw error }
                        machine.relaySwitch(at: prober?.nextSwitch)
                        next += machine.passFailed(error: "\(error)", now: .now)
                    }
                case .applyRelaySwitch(let at):
                    let wait = at - .now
                    if wait > .zero { Thread.sleep(forTimeInterval: Self.seconds(wait)) }
                    next += machine.relaySwitchApplied(applyRelaySwitches(loaded))
                case .logFailure(let text):
                    log("pass failed, retrying: \(text)")
                case .sendStatus(let applied, let error):
                    controller?.report(status(loaded: loaded, applied: applied, error: error))
                case .waitForWakeup(let timeout):
                    watch?.follow(kernel.watchedNamespaces(plan: loaded.plan))
                    let wakers = [controller?.inbox.fileDescriptor, prober?.fileDescriptor].compactMap { $0 }
                    let wakeup = watch?.wait(timeout: timeout, wakers: wakers) ?? .timer
                    machine.relaySwitch(at: prober?.nextSwitch)
                    next += stopRequested != 0 ? machine.stopRequested() : machine.woke(wakeup, now: .now)
                case .settle(let pause):
                    Thread.sleep(forTimeInterval: Self.seconds(pause))
                case .reportOnce(let revision, let count):
                    print("plan revision \(revision): \(count) actions")
                case .exit:
                    if !options.once { log("stopping on signal; the data plane stays up") }
                    return
                }
            }
            actions = next
        }
    }

    /// Takes a new plan, if one came: from the controller, or a changed plan file when it is
    /// valid (a bad one keeps the last good plan).
    private func takePlan(_ controller: ControllerSession?, stamp: inout [Int]?, into loaded: inout Loaded) {
        if let controller { takeControllerPlan(controller, into: &loaded) }
        guard let file = options.planFile, let s = Self.stamp(file), s != stamp else { return }
        stamp = s
        // Rewritten with the same content (a poller re-fetching it) is nothing new.
        let same =
            FileManager.default.contents(atPath: file).flatMap {
                try? JSONDecoder().decode(NodePlan.self, from: $0)
            } == loaded.plan
        guard !same else { return }
        do {
            loaded = try load(file: file)
            log("plan revision \(loaded.plan.revision) loaded from \(file)")
        } catch { log("keeping revision \(loaded.plan.revision): \(error)") }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// The rtnetlink event sockets of the host and of every namespace the agent owns: what wakes
    /// the loop when something changes in the kernel.
    struct KernelWatch {
        let host: NetlinkEventMonitor
        /// By namespace, with the inode it was opened for: a namespace made anew gets a new monitor.
        var namespaces: [String: (inode: UInt64, monitor: NetlinkEventMonitor)] = [:]

        init() throws {
            host = try NetlinkEventMonitor(timeout: .milliseconds(50))
        }

        var all: [NetlinkEventMonitor] { [host] + namespaces.values.map(\.monitor) }

        /// Watches exactly these namespaces; re-opens a monitor when its namespace was re-created.
        mutating func follow(_ names: [String]) {
            var watched: [String: (inode: UInt64, monitor: NetlinkEventMonitor)] = [:]
            for ns in names {
                guard let ino = LinuxKernel.inode(ns) else { continue }
                if let m = namespaces[ns], m.inode == ino {
                    watched[ns] = m
                } else if let m = try? NetlinkEventMonitor(namespace: ns, timeout: .milliseconds(50)) {
                    watched[ns] = (ino, m)
                }
            }
            namespaces = watched
        }

        /// Waits until an event arrives, one of `wakers` (a new plan, a relay hub in or out of
        /// service) turns readable, or `timeout` passes (or a signal comes).
        func wait(timeout: Duration, wakers: [Int32]) -> AgentLoopStateMachine.Wakeup {
            let monitors = all
            var fds = monitors.map { pollfd(fd: $0.fileDescriptor, events: Int16(POLLIN), revents: 0) }
            fds += wakers.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ms = Int32(timeout.wholeMilliseconds)
            // Not retried on EINTR: a stop signal ends the wait at once.
            let ready =
                (try? systemCall("poll", "kernel events", retryingInterrupts: false) {
                    poll(&fds, nfds_t(fds.count), ms)
                }) ?? 0
            guard ready > 0 else { return .timer }
            if fds[monitors.count...].contains(where: { $0.revents != 0 }) { return .plan }
            return .kernelEvents
        }

        /// Reads every pending event away; the pass re-reads the kernel anyway.
        func drain() {
            for m in all { Self.drain(m) }
        }

        private static func drain(_ monitor: NetlinkEventMonitor) {
            var fds = [pollfd(fd: monitor.fileDescriptor, events: Int16(POLLIN), revents: 0)]
            // Overflow (ENOBUFS) is fine: the next pass re-reads everything anyway.
            while (try? systemCall("poll", "kernel events") { poll(&fds, 1, 0) }) ?? 0 > 0 { _ = try? monitor.events() }
        }
    }

    static func stamp(_ file: String) -> [Int]? {
        var st = stat()
        guard (try? systemCall("stat", file) { stat(file, &st) }) != nil else { return nil }
        return [Int(st.st_mtim.tv_sec), Int(st.st_mtim.tv_nsec), Int(st.st_size), Int(st.st_ino)]
    }

    // MARK: - Down

    /// Removes everything the agent made and nothing else: `ovl-*` namespaces (with their
    /// bridges, veths and tables), the workload namespaces it created, its wireguard-go processes
    /// (by the PID their socket reports) and the host table. The identity stays; the cached plan
    /// and keys go, so a later `run` needs a plan again.
    public static func down(stateDirectory: String, verbose: Bool) throws -> [AgentAction] {
        let state = StateDirectory(path: stateDirectory)
        var o = Options(stateDirectory: stateDirectory)
        o.once = true
        let kernel = try LinuxKernel(wireguard: try backend(o, state: state) { _ in }, state: state)
        let actions = try kernel.reconcile(
            plan: nil, keys: [:],
            log: { action in
                if verbose { print("action: \(action)") }
            })
        for line in Gateway(stateDirectory: stateDirectory, identity: nil, relayUDP: false).down() where verbose {
            print("gateway: \(line)")
        }
        unlink(state.planPath)
        state.pruneKeys(keeping: [])
        return actions
    }
}

/// Why the agent cannot run: no identity, no plan, a bad plan file, a controller it cannot use.
public enum AgentError: Error, CustomStringConvertible {
    case noIdentity(String)
    case noPlan(String)
    case badPlan(String, String)
    case controller(String)

    public var description: String {
        switch self {
        case .noIdentity(let dir): "no identity in \(dir): run 'overlay-agent init --state-dir \(dir)' first"
        case .noPlan(let dir): "no --plan given and no cached plan in \(dir)"
        case .badPlan(let file, let why): "plan \(file): \(why)"
        case .controller(let why): why
        }
    }
}
