import Foundation
import Glibc

/// Programs the agent runs itself (HAProxy), with raw posix_spawn/waitpid so the PID is ours to
/// signal and reap. Children start with default signal handling and nothing blocked, whatever the
/// agent's mask is (a test runner's blocked SIGTERM must not reach HAProxy's master).
enum ChildProcess {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `argv` with stdin from /dev/null and stdout+stderr appended to `output`.
    static func spawn(_ argv: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        // A process group of its own: a Ctrl-C meant for the agent's terminal is not HAProxy's.
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgs, environ)
        guard rc == 0 else {
            throw Failure(description: "cannot start \(argv.joined(separator: " ")): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Runs `argv` to completion; returns its exit status (-1 when killed) and its output.
    static func run(_ argv: [String], scratch: String) throws -> (status: Int32, output: String) {
        unlink(scratch)
        let pid = try spawn(argv, output: scratch)
        let status = wait(pid)
        let output = (try? String(contentsOfFile: scratch, encoding: .utf8)) ?? ""
        unlink(scratch)
        return (status, output)
    }

    /// Blocks until child `pid` ends: its exit status, or -1 when a signal ended it.
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : -1
    }

    /// Whether child `pid` has ended (reaping it if so), without blocking.
    static func hasEnded(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        return r == pid || (r < 0 && errno == ECHILD && !isAlive(pid))
    }

    /// Whether `pid` runs (for a process that is not our child). A zombie counts as ended.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(after: close)...].dropFirst().first != "Z"
    }

    /// The command line of `pid`, NUL-separated arguments split.
    static func commandLine(_ pid: pid_t) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
}
