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
/// - changes are applied by a reload (SIGUSR2 to the master): the master starts new workers
///   with the new configuration, which take the listening sockets over from the old ones
///   (`expose-fd listeners`); old workers finish their established connections;
/// - the master is the agent's child, known by PID; if it dies it is started again on the next
///   pass. An agent that restarts adopts the master named in the PID file when its command line
///   is ours, so a running gateway survives an agent restart.
final class HAProxySupervisor {
    struct Rejected: Error, CustomStringConvertible {
        var output: String
        var description: String { "haproxy rejected the new configuration (the last good one stays): \(output)" }
    }

    let paths: GatewayPaths
    let executable: String
    private(set) var pid: pid_t?
    /// Whether `pid` is our child (else adopted: not ours to reap).
    private var child = false
    /// What the running master was last started or reloaded with.
    private var loaded: (config: String, namespaces: [String: UInt64])?
    private var rejected: (config: String, error: Rejected)?

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
    /// what it did, or nil when nothing was needed.
    func apply(config: String, namespaces: [String: UInt64]) throws -> String? {
        let running = isRunning
        if running, let l = loaded, l.config == config, l.namespaces == namespaces { return nil }
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
            do throws(SystemCallError) { try systemCall("rename", paths.candidate) { rename(paths.candidate, paths.config) } } catch {
                throw GatewayError(description: "gateway: \(error)")
            }
        }
        rejected = nil
        if running, let pid {
            kill(pid, SIGUSR2)
            loaded = (config, namespaces)
            return "haproxy reloaded (master \(pid))"
        }
        unlink(paths.pidFile)
        let p = try ChildProcess.spawn(
            [executable, "-W", "-f", paths.config, "-p", paths.pidFile, "-S", "\(paths.masterSocket),mode,600"],
            output: paths.log, ownProcessGroup: true)
        pid = p
        child = true
        loaded = (config, namespaces)
        return "haproxy started (master \(p))"
    }

    /// Stops HAProxy (its master and, with it, every worker) and waits for it to go.
    func stop() -> String? {
        guard isRunning, let pid else { return nil }
        kill(pid, SIGTERM)
        for i in 0..<300 {
            if child ? ChildProcess.hasEnded(pid) : !ChildProcess.isAlive(pid) { break }
            if i == 200 { kill(pid, SIGKILL) }
            usleep(10_000)
        }
        self.pid = nil
        loaded = nil
        unlink(paths.pidFile)
        return "haproxy stopped (master \(pid))"
    }

    private func write(_ text: String, to file: String) throws {
        guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw GatewayError(description: "gateway: cannot write \(file)") }
    }
}
