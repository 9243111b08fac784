import Foundation
import Glibc
import Netlink
import OverlayCrypto
import OverlayModel
import OverlayPlanner
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
        /// The controller's base URL (stored at join; given again only when it moved).
        public var controllerURL: String?
        /// A join token: registers this node's identity once and pins the controller's key.
        public var joinToken: String?
        /// Status goes to the controller after every change and at least this often.
        public var statusInterval: Duration = .seconds(15)

        public init(stateDirectory: String, planFile: String? = nil) {
            self.stateDirectory = stateDirectory
            self.planFile = planFile
        }
    }

    public enum Failure: Error, CustomStringConvertible {
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

    let options: Options
    let state: StateDirectory
    let identity: Ed25519Identity
    let kernel: LinuxKernel
    /// HAProxy and the UDP relay on a gateway node (`Gateway.swift`).
    let gateway: Gateway

    public init(options: Options) throws {
        self.options = options
        state = StateDirectory(path: options.stateDirectory)
        // Joining creates the identity when `init` was not run; otherwise it must exist.
        let existing = options.joinToken != nil ? try state.loadOrCreateIdentity().identity : try state.loadIdentity()
        guard let identity = existing else { throw Failure.noIdentity(options.stateDirectory) }
        self.identity = identity
        // A wireguard-go that died is restarted by the backend without its configuration; the
        // next periodic pass (at most `resyncInterval` later) configures it again.
        kernel = try LinuxKernel(wireguard: try Self.backend(options, state: state) { _ in }, state: state)
        gateway = Gateway(stateDirectory: options.stateDirectory, identity: identity, relayUDP: !options.once)
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
            throw Failure.badPlan(file, "cannot read it")
        }
        let plan: NodePlan
        do { plan = try JSONDecoder().decode(NodePlan.self, from: data) } catch {
            throw Failure.badPlan(file, "not a plan document: \(error)")
        }
        return try adopt(plan, from: file)
    }

    /// Checks a plan against the cached one, opens its keys and keeps both as the last good state.
    func adopt(_ plan: NodePlan, from source: String) throws -> Loaded {
        guard plan.version == NodePlan.currentVersion else {
            throw Failure.badPlan(source, "version \(plan.version); this agent reads version \(NodePlan.currentVersion)")
        }
        if let cached = try? state.cachedPlan(), cached.node == plan.node, cached.revision > plan.revision {
            throw Failure.badPlan(source, "revision \(plan.revision) is older than the applied \(cached.revision)")
        }
        let keys = try state.openKeys(plan, identity: identity)
        try state.savePlan(plan)
        state.pruneKeys(keeping: Set(plan.networks.map(\.interface)))
        return Loaded(plan: plan, keys: keys)
    }

    func loadCached() throws -> Loaded {
        guard let plan = try state.cachedPlan() else { throw Failure.noPlan(options.stateDirectory) }
        return Loaded(plan: plan, keys: try state.openKeys(plan, identity: identity))
    }

    // MARK: - Running

    func log(_ line: String) { Self.log(line) }

    static func log(_ line: String) {
        FileHandle.standardError.write(Data("overlay-agent: \(line)\n".utf8))
    }

    static var stopping: Bool { stopRequested != 0 }

    /// One pass; returns the actions applied.
    @discardableResult
    func pass(_ loaded: Loaded) throws -> [AgentAction] {
        let writes = kernel.writesSent
        let actions = try kernel.reconcile(plan: loaded.plan, keys: loaded.keys) { [options] action in
            if options.verbose { print("action: \(action)") }
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

    public func run() throws {
        signal(SIGTERM) { _ in stopRequested = 1 }
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGPIPE, SIG_IGN)
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
        if options.once {
            let actions = try pass(loaded)
            print("plan revision \(loaded.plan.revision): \(actions.count) actions")
            return
        }

        log("running plan revision \(loaded.plan.revision) of node \(loaded.plan.node), wireguard backend: \(wireguardBackend)")
        var planStamp = options.planFile.flatMap(Self.stamp)
        var monitors: [String: (inode: UInt64, monitor: NetlinkEventMonitor)] = [:]
        let hostMonitor = try NetlinkEventMonitor(timeout: .milliseconds(50))
        var lastError = ""
        var lastReport: ContinuousClock.Instant?
        var applied: Int64?

        while stopRequested == 0 {
            if let controller { takeControllerPlan(controller, into: &loaded) }
            // A changed plan file is taken when it is valid; a bad one keeps the last good plan.
            if let file = options.planFile, let s = Self.stamp(file), s != planStamp {
                planStamp = s
                // Rewritten with the same content (a poller re-fetching it) is nothing new.
                let same = FileManager.default.contents(atPath: file).flatMap {
                    try? JSONDecoder().decode(NodePlan.self, from: $0)
                } == loaded.plan
                if !same {
                    do {
                        loaded = try load(file: file)
                        log("plan revision \(loaded.plan.revision) loaded from \(file)")
                    } catch { log("keeping revision \(loaded.plan.revision): \(error)") }
                }
            }
            var changed = false
            do {
                let actions = try pass(loaded)
                if !actions.isEmpty {
                    log("applied \(actions.count) actions: " + actions.map(\.description).joined(separator: " | "))
                }
                changed = !actions.isEmpty || !lastError.isEmpty || applied != loaded.plan.revision
                lastError = ""
                applied = loaded.plan.revision
            } catch {
                let text = "\(error)"
                if text != lastError { log("pass failed, retrying: \(text)") }
                changed = text != lastError
                lastError = text
            }
            if let controller {
                reportIfDue(controller, loaded: loaded, applied: applied, changed: changed, error: lastError, lastReport: &lastReport)
            }

            // Watch every namespace we own; re-open a monitor when its namespace was re-created.
            var watched: [String: (inode: UInt64, monitor: NetlinkEventMonitor)] = [:]
            for ns in kernel.watchedNamespaces(plan: loaded.plan) {
                guard let ino = LinuxKernel.inode(ns) else { continue }
                if let m = monitors[ns], m.inode == ino {
                    watched[ns] = m
                } else if let m = try? NetlinkEventMonitor(namespace: ns, timeout: .milliseconds(50)) {
                    watched[ns] = (ino, m)
                }
            }
            monitors = watched
            let all = [hostMonitor] + monitors.values.map(\.monitor)
            // A plan from the controller wakes the loop at once; a burst of events settles first.
            if wait(all, wake: controller?.inbox.fileDescriptor) == .events { usleep(20_000) }
            for m in all { Self.drain(m) }
        }
        log("stopping on signal; the data plane stays up")
    }

    enum Wakeup { case events, plan, timeout }

    /// Waits until an event or a new plan arrives or the resync interval passes.
    private func wait(_ monitors: [NetlinkEventMonitor], wake: Int32?) -> Wakeup {
        var fds = monitors.map { pollfd(fd: $0.fileDescriptor, events: Int16(POLLIN), revents: 0) }
        if let wake { fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0)) }
        let ms = Int32(options.resyncInterval.components.seconds * 1000
            + options.resyncInterval.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&fds, nfds_t(fds.count), ms) > 0 else { return .timeout }
        if wake != nil, fds[fds.count - 1].revents != 0 { return .plan }
        return .events
    }

    private static func drain(_ monitor: NetlinkEventMonitor) {
        var fds = [pollfd(fd: monitor.fileDescriptor, events: Int16(POLLIN), revents: 0)]
        // Overflow (ENOBUFS) is fine: the next pass re-reads everything anyway.
        while poll(&fds, 1, 0) > 0 { _ = try? monitor.events() }
    }

    static func stamp(_ file: String) -> [Int]? {
        var st = stat()
        guard stat(file, &st) == 0 else { return nil }
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
        let actions = try kernel.reconcile(plan: nil, keys: [:]) { action in
            if verbose { print("action: \(action)") }
        }
        for line in Gateway(stateDirectory: stateDirectory, identity: nil, relayUDP: false).down() where verbose {
            print("gateway: \(line)")
        }
        unlink(state.planPath)
        state.pruneKeys(keeping: [])
        return actions
    }
}


