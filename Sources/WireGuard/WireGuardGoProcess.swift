import Foundation
import Glibc
import ProcessControl

/// Starting wireguard-go and waiting for it (through `ChildProcess`, so the PID is ours to signal
/// and reap).
enum WireGuardGoProcess {
    /// Spawns `launcher + [executable, "-f", name]` and returns its PID. The launcher must exec
    /// in place (`ip netns exec`, `nsenter`, `unshare`), so that the PID is wireguard-go's own.
    static func spawn(
        name: String, executable: String, launcher: [String], logLevel: String, logFile: String?
    ) throws -> pid_t {
        let argv = launcher + [executable, "-f", name]
        var env = ProcessInfo.processInfo.environment
        env["LOG_LEVEL"] = logLevel
        // Foreground mode; the second one because the caller chose userspace explicitly, which
        // wireguard-go otherwise questions when a kernel module is present.
        env["WG_PROCESS_FOREGROUND"] = "1"
        env["WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD"] = "1"

        do {
            return try ChildProcess.spawn(argv, output: logFile ?? "/dev/null", environment: env)
        } catch let f as ChildProcessError {
            throw WireGuardError.process(interface: name, detail: f.description)
        }
    }

    /// Blocks until child `pid` ends; returns a description of how it ended.
    static func wait(_ pid: pid_t) -> String {
        switch ChildProcess.waitForEnd(pid) {
        case .exited(let code): "exited with status \(code)"
        case .killed(let signal): "killed by signal \(signal)"
        case .lost(let e): "lost (waitpid: \(WireGuardError.name(e)))"
        }
    }

    /// Whether `pid` still runs (for a process we did not spawn and cannot wait for).
    static func isAlive(_ pid: pid_t) -> Bool { ChildProcess.isAlive(pid) }
}
