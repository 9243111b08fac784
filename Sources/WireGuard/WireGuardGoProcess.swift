import Foundation
import Glibc

/// Starting wireguard-go and waiting for it, with raw posix_spawn/waitpid so the PID is ours to
/// signal and reap (Foundation's Process hides both behind a run loop).
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

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let out = logFile ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // The child starts with default signal handling and no blocked signals, whatever ours are.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attr, &noSignals)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgs, cEnv)
        guard rc == 0 else {
            throw WireGuardError.process(
                interface: name, detail: "cannot start \(argv.joined(separator: " ")): \(WireGuardError.name(rc))")
        }
        return pid
    }

    /// Blocks until child `pid` ends; returns a description of how it ended.
    static func wait(_ pid: pid_t) -> String {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return "lost (waitpid: \(WireGuardError.name(errno)))" }
        }
        // WIFEXITED/WEXITSTATUS/WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? "exited with status \((status >> 8) & 0xff)" : "killed by signal \(signal)"
    }

    /// Whether `pid` still runs (for a process we did not spawn and cannot wait for). A zombie
    /// counts as ended: its parent may be slow to reap it.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        // "pid (comm) S ...": the state follows the command name, which may contain spaces.
        return stat[stat.index(after: close)...].dropFirst().first != "Z"
    }
}
