import Foundation
import Glibc
import OverlayModel
import ProcessControl
import Synchronization

/// WireGuard in userspace: one supervised `wireguard-go` process per interface, configured over
/// its UAPI socket with only the peers that change. No `wg` process is involved.
///
/// The socket directory (`/var/run/wireguard`) is shared by every network namespace of a
/// machine, so interface names must be unique machine-wide (or each caller must have a private
/// mount namespace).
public final class UserspaceWireGuard: WireGuardBackend {
    public struct Options: Sendable {
        /// Name or path of the wireguard-go binary (looked up in PATH).
        public var executable = "wireguard-go"
        /// Prepended to the command line, e.g. `["ip", "netns", "exec", "ns1"]` to start
        /// wireguard-go (its TUN and UDP socket) in another namespace. Must exec in place so
        /// the PID stays wireguard-go's.
        public var launcher: [String] = []
        public var socketDirectory = "/var/run/wireguard"
        /// wireguard-go's LOG_LEVEL: error, verbose or silent.
        public var logLevel = "error"
        /// Where wireguard-go's output goes; nil discards it.
        public var logFile: String?
        public var startTimeout: Duration = .seconds(5)
        public var stopTimeout: Duration = .seconds(3)
        /// Per request; a 10,000-peer set takes about a second in wireguard-go.
        public var requestTimeout: Duration = .seconds(30)
        /// Restart a wireguard-go that died by itself. Its TUN and configuration die with it:
        /// the owner re-applies both on `.restarted`.
        public var restartOnExit = false
        public var maxRestarts = 5
        /// Process events (exits, restarts), called on the supervising thread.
        public var onEvent: (@Sendable (Event) -> Void)?
        /// Every set request sent, with the private key redacted: for debug logs and tests.
        public var onRequest: (@Sendable (_ interface: String, _ redactedRequest: String) -> Void)?

        public init() {}
    }

    public enum Event: Sendable, Equatable {
        case exited(interface: String, pid: pid_t, how: String)
        case restarted(interface: String, oldPID: pid_t, newPID: pid_t)
        case restartFailed(interface: String, reason: String)
    }

    /// One wireguard-go this backend knows about.
    public struct Instance: Sendable, Equatable {
        public var pid: pid_t
        /// False for a wireguard-go found already running (adopted): not our child, so its exit
        /// is only noticed when it stops answering.
        public var isChild: Bool
        public var restarts: Int

        public init(pid: pid_t, isChild: Bool, restarts: Int) {
            self.pid = pid
            self.isChild = isChild
            self.restarts = restarts
        }
    }

    private struct Entry {
        var instance: Instance
        var stopping = false
        /// Set by the waiting thread when the child ended.
        var exited = false
    }

    public let options: Options
    private let entries = Mutex<[String: Entry]>([:])
    private let writes = Atomic<Int>(0)

    /// wireguard-go processes started or stopped plus UAPI `set` requests sent.
    public var writesSent: Int { writes.load(ordering: .relaxed) }

    public init(options: Options = Options()) {
        self.options = options
    }

    public func socketPath(_ name: String) -> String { "\(options.socketDirectory)/\(name).sock" }

    public func instance(_ name: String) -> Instance? { entries.withLock { $0[name]?.instance } }

    // MARK: - Interfaces

    /// Starts wireguard-go for `name` and waits until its UAPI socket answers; if one already
    /// answers there, adopts it instead (an agent restart must not drop live tunnels).
    public func createInterface(_ name: String) throws {
        _ = try start(name)
    }

    /// Like `createInterface`, returning the instance (started or adopted).
    @discardableResult
    public func start(_ name: String) throws -> Instance {
        try WireGuardError.validate(name)
        if let existing = instance(name), existing.isChild, interfaceExists(name) { return existing }
        if let adopted = try? adopt(name) { return adopted }
        writes.add(1, ordering: .relaxed)
        let pid = try launch(name, restarts: 0)
        return Instance(pid: pid, isChild: true, restarts: 0)
    }

    /// Takes over a wireguard-go that is already serving `name` (started before an agent
    /// restart, for instance). Its PID comes from the socket's peer credentials.
    @discardableResult
    public func adopt(_ name: String) throws -> Instance {
        try WireGuardError.validate(name)
        let socket = try UAPISocket(path: socketPath(name), interface: name, timeout: options.requestTimeout)
        guard let pid = socket.peerPID() else {
            throw WireGuardError.process(
                interface: name, detail: "cannot tell which process serves \(socketPath(name))")
        }
        let inst = Instance(pid: pid, isChild: false, restarts: 0)
        entries.withLock { $0[name] = Entry(instance: inst) }
        return inst
    }

    /// Interfaces with a live wireguard-go in the socket directory, for adoption after a restart.
    public func runningInterfaces() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: options.socketDirectory)) ?? []
        return files.filter { $0.hasSuffix(".sock") }.map { String($0.dropLast(5)) }
            .filter { interfaceExists($0) }.sorted()
    }

    /// Stops the interface's wireguard-go by its PID (SIGTERM, then SIGKILL after
    /// `stopTimeout`); its TUN goes with it. Nothing to do when it is not running.
    public func deleteInterface(_ name: String) throws {
        try WireGuardError.validate(name)
        var entry = entries.withLock { $0[name] }
        if entry == nil, let adopted = try? adopt(name) { entry = Entry(instance: adopted) }
        guard let entry else { return }
        entries.withLock { $0[name]?.stopping = true }
        let pid = entry.instance.pid
        defer {
            entries.withLock { _ = $0.removeValue(forKey: name) }
            // wireguard-go removes its socket on a clean exit; not after SIGKILL.
            if !interfaceExists(name) { unlink(socketPath(name)) }
        }
        let gone = { [self] () -> Bool in
            entry.instance.isChild
                ? (entries.withLock { $0[name]?.exited } ?? true) : !WireGuardGoProcess.isAlive(pid)
        }
        if gone() { return }
        writes.add(1, ordering: .relaxed)
        try? ChildProcess.signal(pid, SIGTERM)
        if waitUntil(options.stopTimeout, gone) { return }
        try? ChildProcess.signal(pid, SIGKILL)
        if !waitUntil(.seconds(2), gone) {
            throw WireGuardError.process(interface: name, detail: "pid \(pid) did not exit after SIGKILL")
        }
    }

    public func interfaceExists(_ name: String) -> Bool {
        (try? UAPISocket(path: socketPath(name), interface: name, timeout: .seconds(1))) != nil
    }

    // MARK: - Configuration

    public func apply(_ change: DeviceChange, to name: String) throws {
        guard !change.isEmpty else { return }
        var request = UAPI.setRequest(change)
        defer { request.wipe() }
        options.onRequest?(name, request.redactedText)
        let socket = try connect(name)
        writes.add(1, ordering: .relaxed)
        try socket.send(request.head)
        request.wipe()
        try socket.send(request.body)
        try UAPI.checkSetResponse(try socket.receiveReply(), interface: name)
    }

    public func device(_ name: String) throws -> Device {
        let socket = try connect(name)
        try socket.send(UAPI.getRequest)
        var reply = try socket.receiveReply()
        defer { wipe(&reply) }
        return try UAPI.parseDevice(reply, name: name)
    }

    private func connect(_ name: String) throws -> UAPISocket {
        try WireGuardError.validate(name)
        do {
            return try UAPISocket(path: socketPath(name), interface: name, timeout: options.requestTimeout)
        } catch WireGuardError.socket(_, _, let e) where e == ENOENT || e == ECONNREFUSED {
            throw WireGuardError.noSuchInterface(name)
        }
    }

    // MARK: - Supervision

    private func launch(_ name: String, restarts: Int) throws -> pid_t {
        // A socket file nobody answers on is left from a crash; wireguard-go would replace it,
        // but then the wait below could not tell old from new.
        unlink(socketPath(name))
        let pid = try WireGuardGoProcess.spawn(
            name: name, executable: options.executable, launcher: options.launcher, logLevel: options.logLevel,
            logFile: options.logFile)
        entries.withLock { $0[name] = Entry(instance: Instance(pid: pid, isChild: true, restarts: restarts)) }
        Thread { [self] in supervise(name, pid) }.start()

        let exited = { [self] in entries.withLock { $0[name].map { $0.instance.pid != pid || $0.exited } ?? true } }
        let up = waitUntil(options.startTimeout) { [self] in exited() || interfaceExists(name) }
        if exited() {
            throw WireGuardError.process(
                interface: name,
                detail: "pid \(pid) exited during start-up" + (options.logFile.map { "; see \($0)" } ?? ""))
        }
        if !up {
            try? ChildProcess.signal(pid, SIGKILL)
            throw WireGuardError.timeout(interface: name, waitingFor: "UAPI socket \(socketPath(name)) of pid \(pid)")
        }
        return pid
    }

    /// Runs on its own thread for the life of child `pid`: reaps it, reports, restarts if asked.
    private func supervise(_ name: String, _ pid: pid_t) {
        let how = WireGuardGoProcess.wait(pid)
        let (wasStopping, restarts): (Bool, Int) = entries.withLock { all in
            guard var e = all[name], e.instance.pid == pid else { return (true, 0) }
            e.exited = true
            all[name] = e
            return (e.stopping, e.instance.restarts)
        }
        options.onEvent?(.exited(interface: name, pid: pid, how: how))
        guard !wasStopping, options.restartOnExit else { return }
        guard restarts < options.maxRestarts else {
            options.onEvent?(.restartFailed(interface: name, reason: "gave up after \(restarts) restarts"))
            return
        }
        do {
            let newPID = try launch(name, restarts: restarts + 1)
            options.onEvent?(.restarted(interface: name, oldPID: pid, newPID: newPID))
        } catch {
            options.onEvent?(.restartFailed(interface: name, reason: "\(error)"))
        }
    }

    private func waitUntil(_ timeout: Duration, _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            usleep(5_000)
        }
        return condition()
    }
}
