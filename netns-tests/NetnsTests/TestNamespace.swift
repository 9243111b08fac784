import Foundation
import Netlink

/// Shared helpers for the root integration tests: unique namespace names, running the standard
/// tools to check what the library did, and background processes stopped by PID.

/// `nt-` + 6 random hex digits: unique per test, recognisable if one is ever left behind.
func uniqueName(_ prefix: String = "nt-") -> String {
    prefix + String(UInt32.random(in: 0..<0xFF_FFFF), radix: 16)
}

struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum ToolError: Error, CustomStringConvertible {
    case failed([String], ToolResult)
    var description: String {
        if case .failed(let args, let r) = self {
            return "\(args.joined(separator: " ")) exited \(r.status): \(r.stderr)"
        }
        return ""
    }
}

/// Runs a tool to completion and returns its output; `check` throws on a non-zero exit.
@discardableResult
func tool(_ args: String..., check: Bool = true) throws -> ToolResult {
    try tool(args, check: check)
}

@discardableResult
func tool(_ args: [String], check: Bool = true) throws -> ToolResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read before waiting so a large output cannot fill the pipe and block the child.
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let r = ToolResult(
        status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
        stderr: String(decoding: e, as: UTF8.self))
    if check && r.status != 0 { throw ToolError.failed(args, r) }
    return r
}

/// `ip -j ...` parsed as a JSON array of objects.
func ipJSON(_ args: String...) throws -> [[String: Any]] {
    let r = try tool(["ip", "-j"] + args)
    let text = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    if text.isEmpty { return [] }
    return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
}

/// A process started in the background (`ip netns exec NS socat ...`), stopped by its own PID.
/// Children spawned from the test runner inherit a signal mask that blocks SIGTERM, so stopping
/// uses SIGKILL, on the process and on the children it forked (socat `fork`), each by PID.
final class BackgroundProcess {
    let process = Process()
    let output = Pipe()
    let input = Pipe()

    init(_ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = args
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    func stop() {
        guard process.isRunning else { return }
        for pid in descendants(of: process.processIdentifier) { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// `pid` and every process below it, parents first (from /proc/PID/task/TID/children).
func descendants(of pid: Int32) -> [Int32] {
    var out = [pid]
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    for task in tasks {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
        for child in text.split(separator: " ").compactMap({ Int32($0) }) {
            out += descendants(of: child)
        }
    }
    return out
}

/// Creates `count` fresh namespaces through the library, runs `body`, and deletes them even
/// when `body` throws.
func withNamespaces<T>(_ count: Int, _ body: ([String]) throws -> T) throws -> T {
    var names: [String] = []
    defer {
        for name in names { try? NetworkNamespace.delete(name) }
    }
    for _ in 0..<count {
        let name = uniqueName()
        try NetworkNamespace.create(name)
        names.append(name)
    }
    return try body(names)
}

/// Polls `condition` for up to `seconds` (for things the kernel does asynchronously).
func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}
