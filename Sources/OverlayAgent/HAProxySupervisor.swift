import Foundation
import Glibc
import OverlayGateway
import ProcessControl
import SystemCalls

/// Runs HAProxy in master-worker mode (`-W`) for the gateway and keeps it running:
///
/// - a configuration is checked with `haproxy -c` before it replaces the running one; a rejected
///   one never does (the file HAProxy runs with is always the last good one), and the same
///   rejected text is not checked again;
/// - changes are applied by a reload (`reload` on the master CLI): the master starts new workers
///   with the new configuration, which take the listening sockets over from the old ones
///   (`expose-fd listeners`); old workers finish their established connections. A reload or a
///   start counts as done only when the master CLI shows it (`HAProxyMasterCLI`); one that fails
///   is an error and `haproxy.cfg` stays what the running workers run;
/// - the master is the agent's child, known by PID; if it dies it is started again on the next
///   pass. An agent that restarts adopts the master named in the PID file when its command line
///   is ours, so a running gateway survives an agent restart.
final class HAProxySupervisor {
    struct Rejected: Error, CustomStringConvertible {
        var output: String
        var description: String { "haproxy rejected the new configuration (the last good one stays): \(output)" }
    }

    /// A configuration that passed `haproxy -c` but that HAProxy could not run (a port already
    /// taken, a reload not confirmed in time).
    struct NotLoaded: Error, CustomStringConvertible {
        var reason: String
        var log = ""
        var description: String {
            "haproxy did not load the new configuration, the previous one keeps serving: \(reason)"
                + (log.isEmpty ? "" : ": \(log)")
        }
    }

    let paths: GatewayPaths
    let executable: String
    private(set) var pid: pid_t?
    /// Whether `pid` is our child (else adopted: not ours to reap).
    private var child = false
    /// What the running master was last started or reloaded with.
    private var loaded: (config: String, namespaces: [String: UInt64])?
    private var rejected: (config: String, error: Rejected)?
    private var failed: (config: String, namespaces: [String: UInt64], error: NotLoaded, at: Double)?

    init(paths: GatewayPaths, executable: String = "haproxy") {
        self.paths = paths
        self.executable = executable
        if let text = try? String(contentsOfFile: paths.pidFile, encoding: .utf8),
            let p = pid_t(text.split(separator: "\n").first?.trimmingCharacters(in: .whitespaces) ?? ""),
            ChildProcess.isAlive(p), ChildProcess.commandLine(p).contains(paths.config)
        {
            pid = p
        }
    }

    var isRunning: Bool {
        guard let pid else { return false }
        if child ? ChildProcess.hasEnded(pid) : !ChildProcess.isAlive(pid) {
            self.pid = nil
            loaded = nil
            return false
        }
        return true
    }

    /// Makes HAProxy run `config`, whose backends live in `namespaces` (name -> inode: a network
    /// namespace made anew needs a reload, as HAProxy keeps the namespace it opened). Returns
    /// what it did, or nil when nothing was needed; returns only once HAProxy's master confirms
    /// that the new workers run and the old ones have closed their listeners, so the old
    /// configuration answers no new connection. A load HAProxy fails (a port already taken, say)
    /// throws `NotLoaded`: the old workers keep serving and `haproxy.cfg` is put back to what they
    /// run. The same failed load is tried again after `retryFailedLoadAfter` seconds.
    func apply(config: String, namespaces: [String: UInt64]) throws -> String? {
        let running = isRunning
        if running, let l = loaded, l.config == config, l.namespaces == namespaces { return nil }
        if let f = failed, f.config == config, f.namespaces == namespaces, Self.now() - f.at < retryFailedLoadAfter {
            throw f.error
        }
        let good = try? String(contentsOfFile: paths.config, encoding: .utf8)
        if good != config {
            if let r = rejected, r.config == config { throw r.error }
            try write(config, to: paths.candidate)
            let check = try ChildProcess.run(
                [executable, "-c", "-q", "-f", paths.candidate], scratch: paths.directory + "/check.out")
            guard check.status == 0 else {
                let e = Rejected(output: check.output.split(separator: "\n").prefix(6).joined(separator: " | "))
                rejected = (config, e)
                throw e
            }
            do throws(SystemCallError) {
                try systemCall("rename", paths.candidate) { rename(paths.candidate, paths.config) }
            } catch {
                throw GatewayError(description: "gateway: \(error)")
            }
        }
        rejected = nil
        let logStart = Self.size(paths.log)
        do {
            let done: String
            if running, let pid {
                try reloadConfirmed(master: pid)
                done = "haproxy reloaded (master \(pid))"
            } else {
                let master = try startConfirmed()
                done = "haproxy started (master \(master))"
            }
            loaded = (config, namespaces)
            failed = nil
            return done
        } catch let error as NotLoaded {
            // What runs is still the previous configuration: that is the one a restart must load.
            if let good { try? write(good, to: paths.config) } else { unlink(paths.config) }
            let e = NotLoaded(reason: error.reason, log: Self.alerts(paths.log, from: logStart))
            failed = (config, namespaces, e, Self.now())
            throw e
        }
    }

    /// How long a configuration HAProxy failed to load waits before it is tried again (each try
    /// briefly pauses the old workers' listeners).
    var retryFailedLoadAfter: Double = 10
    /// How long a reload or a start may take before it counts as failed.
    var confirmTimeout: Double = 20

    /// Asks the master for a reload over its CLI and waits for the new generation: the master
    /// counts a new load with no failure, lists new workers, and each worker of the previous
    /// generation says it is stopping (or is gone).
    private func reloadConfirmed(master: pid_t) throws {
        let cli = HAProxyMasterSocket(path: paths.masterSocket)
        let deadline = Self.now() + confirmTimeout
        var before: HAProxyMasterCLI.Processes?
        while before == nil {
            before = cli.send("show proc").flatMap(HAProxyMasterCLI.processes)
            if before == nil { try pause(until: deadline, "the master CLI did not answer `show proc`") }
        }
        var asked = Self.now()
        _ = cli.send("reload")
        var previous: [Int32]?
        while true {
            if previous == nil, let now = cli.send("show proc").flatMap(HAProxyMasterCLI.processes) {
                switch HAProxyMasterCLI.reload(before: before!, now: now) {
                case .failed:
                    throw NotLoaded(
                        reason: "the master could not load it (\(now.failedReloads) failed since the last good load)")
                case .loaded(let old):
                    previous = old
                case .pending:
                    // A `reload` that reached a master between two generations can be lost.
                    if now.reloads == before!.reloads, Self.now() - asked > 3 {
                        _ = cli.send("reload")
                        asked = Self.now()
                    }
                }
            }
            if let old = previous {
                previous = old.filter { pid in
                    guard let info = cli.send("@!\(pid) show info") else { return true }
                    return !HAProxyMasterCLI.isUnknownProcess(info) && HAProxyMasterCLI.isStopping(info: info) != true
                }
                if previous!.isEmpty { return }
            }
            try pause(
                until: deadline,
                previous == nil
                    ? "no new generation of workers" : "old workers \(previous!) still listening")
        }
    }

    /// Starts the master and waits until it lists a worker (it binds every listener before it
    /// forks one; a bind failure ends it).
    private func startConfirmed() throws -> pid_t {
        unlink(paths.pidFile)
        let p = try ChildProcess.spawn(
            [executable, "-W", "-f", paths.config, "-p", paths.pidFile, "-S", "\(paths.masterSocket),mode,600"],
            output: paths.log, ownProcessGroup: true)
        pid = p
        child = true
        let cli = HAProxyMasterSocket(path: paths.masterSocket)
        let deadline = Self.now() + confirmTimeout
        while true {
            if let procs = cli.send("show proc").flatMap(HAProxyMasterCLI.processes), procs.master == p,
                !procs.workers.isEmpty
            {
                return p
            }
            do {
                try pause(until: deadline, "the master lists no worker")
            } catch {
                _ = stop()
                throw error
            }
        }
    }

    /// Waits a little before the next look; throws when the master has ended or time is up.
    private func pause(until deadline: Double, _ waitingFor: String) throws {
        if !isRunning { throw NotLoaded(reason: "the master ended") }
        if Self.now() > deadline {
            throw NotLoaded(reason: "not confirmed within \(Int(confirmTimeout)) s: \(waitingFor)")
        }
        usleep(20_000)
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private static func size(_ file: String) -> Int {
        var st = stat()
        return stat(file, &st) == 0 ? Int(st.st_size) : 0
    }

    /// HAProxy's alerts written to its log since `offset` (why a load failed), at most four.
    private static func alerts(_ file: String, from offset: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: file) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(offset))
        let text = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        let alerts = text.split(separator: "\n").filter { $0.contains("[ALERT]") }
        return alerts.suffix(4).map { $0.replacingOccurrences(of: "  ", with: " ") }.joined(separator: " | ")
    }

    /// Stops HAProxy (its master and, with it, every worker) and waits for it to go.
    func stop() -> String? {
        guard isRunning, let pid else { return nil }
        try? ChildProcess.signal(pid, SIGTERM)
        for i in 0..<300 {
            if child ? ChildProcess.hasEnded(pid) : !ChildProcess.isAlive(pid) { break }
            if i == 200 { try? ChildProcess.signal(pid, SIGKILL) }
            usleep(10_000)
        }
        self.pid = nil
        loaded = nil
        unlink(paths.pidFile)
        return "haproxy stopped (master \(pid))"
    }

    private func write(_ text: String, to file: String) throws {
        guard
            FileManager.default.createFile(
                atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw GatewayError(description: "gateway: cannot write \(file)") }
    }
}
