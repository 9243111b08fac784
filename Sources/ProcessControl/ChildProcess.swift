import Foundation
import Glibc
import SystemCalls

/// Programs the agent runs itself (HAProxy, wireguard-go), with raw posix_spawn/waitpid so the PID
/// is ours to signal and reap (Foundation's Process hides both behind a run loop). Children start
/// with default signal handling and nothing blocked, whatever the caller's mask is (a test
/// runner's blocked SIGTERM must not reach them).
public enum ChildProcess {
    /// Starts `argv` (looked up in PATH) with stdin from /dev/null and stdout+stderr appended to
    /// `output` (created 0600). `environment` replaces the caller's when given; `ownProcessGroup`
    /// keeps a Ctrl-C meant for the caller's terminal away from the child.
    public static func spawn(
        _ argv: [String], output: String, environment: [String: String]? = nil, ownProcessGroup: Bool = false
    ) throws -> pid_t {
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
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownProcessGroup {
            posix_spawnattr_setpgroup(&attr, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attr, Int16(flags))

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { env in env.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            for p in cArgs { free(p) }
            for p in cEnv ?? [] { free(p) }
        }
        var pid: pid_t = 0
        do throws(SystemCallError) {
            try systemCall("posix_spawnp", argv[0], .returnsErrno) {
                cEnv.map { env in posix_spawnp(&pid, argv[0], &actions, &attr, cArgs, env) }
                    ?? posix_spawnp(&pid, argv[0], &actions, &attr, cArgs, environ)
            }
        } catch {
            throw ChildProcessError(description: "cannot start \(argv.joined(separator: " ")): \(error.errno)")
        }
        return pid
    }

    /// Runs `argv` to completion; returns its exit status (-1 when killed) and its output.
    public static func run(_ argv: [String], scratch: String) throws -> (status: Int32, output: String) {
        unlink(scratch)
        let pid = try spawn(argv, output: scratch)
        let status = wait(pid)
        let output = (try? String(contentsOfFile: scratch, encoding: .utf8)) ?? ""
        unlink(scratch)
        return (status, output)
    }

    /// Blocks until child `pid` ends: its exit status, or -1 when a signal ended it.
    public static func wait(_ pid: pid_t) -> Int32 {
        guard case .exited(let code) = waitForEnd(pid) else { return -1 }
        return code
    }

    public enum End: Equatable, Sendable {
        case exited(Int32)
        case killed(signal: Int32)
        /// waitpid failed with this errno (not our child, or already reaped).
        case lost(errno: Int32)
    }

    /// Blocks until child `pid` ends, and says how.
    public static func waitForEnd(_ pid: pid_t) -> End {
        var status: Int32 = 0
        do throws(SystemCallError) { try systemCall("waitpid", "\(pid)") { waitpid(pid, &status, 0) } } catch {
            return .lost(errno: error.errno.rawValue)
        }
        // WIFEXITED/WEXITSTATUS/WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .killed(signal: signal)
    }

    /// Whether child `pid` has ended (reaping it if so), without blocking.
    public static func hasEnded(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        do throws(SystemCallError) {
            return try systemCall("waitpid", "\(pid)") { waitpid(pid, &status, WNOHANG) } == pid
        } catch {
            return error.errno == .ECHILD && !isAlive(pid)
        }
    }

    /// Sends `signal` to `pid` (ESRCH: it is gone already).
    public static func signal(_ pid: pid_t, _ signal: Int32) throws(SystemCallError) {
        try systemCall("kill", "pid \(pid) with signal \(signal)") { kill(pid, signal) }
    }

    /// Whether `pid` runs (for a process that is not our child). A zombie counts as ended: its
    /// parent may be slow to reap it.
    public static func isAlive(_ pid: pid_t) -> Bool {
        do throws(SystemCallError) { try systemCall("kill", "\(pid)") { kill(pid, 0) } } catch {
            // EPERM: it runs, as someone we may not signal.
            guard error.errno == .EPERM else { return false }
        }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        // "pid (comm) S ...": the state follows the command name, which may contain spaces.
        return stat[stat.index(after: close)...].dropFirst().first != "Z"
    }

    /// The command line of `pid`, NUL-separated arguments split.
    public static func commandLine(_ pid: pid_t) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// A child process that could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
