import Foundation
import Glibc
import OverlayModel
import Synchronization
import WireGuard

/// Tools for the WireGuard namespace tests. Tests may run `ip`, `wg`, `ping` and `ncat` to set up
/// and to check; WireGuard itself is configured only through the library.
enum WGTestTools {
    struct CommandFailed: Error, CustomStringConvertible {
        var command: [String]
        var status: Int32
        var output: String
        var description: String { "`\(command.joined(separator: " "))` exited \(status): \(output)" }
    }

    /// Runs a command to completion; throws with its output when it fails.
    @discardableResult
    static func run(_ args: String..., input: String? = nil) throws -> String {
        try run(args, input: input)
    }

    @discardableResult
    static func run(_ args: [String], input: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let inPipe = Pipe()
        p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        try p.run()
        if let input {
            inPipe.fileHandleForWriting.write(Data(input.utf8))
            try inPipe.fileHandleForWriting.close()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw CommandFailed(command: args, status: p.terminationStatus, output: text)
        }
        return text
    }

    /// Starts a command in the background; the caller terminates it.
    static func start(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    static func randomSuffix() -> String {
        String(format: "%06x", UInt32.random(in: 0..<0x100_0000))
    }

    static func randomSecret() -> SecretKey {
        let k = SecretKey(count: 32)
        k.withMutableBytes { buf in
            for i in 0..<32 { buf[i] = UInt8.random(in: 0...255) }
        }
        return k
    }

    static func randomPublicKey() -> WireGuardKey {
        WireGuardKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!
    }

    static func isAlive(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

/// Undo actions run in reverse order, also when a test fails halfway.
final class WGCleanup {
    private var actions: [(String, () throws -> Void)] = []

    func add(_ what: String, _ action: @escaping () throws -> Void) { actions.append((what, action)) }

    func run() {
        for (what, action) in actions.reversed() {
            do { try action() } catch {
                FileHandle.standardError.write(Data("cleanup '\(what)' failed: \(error)\n".utf8))
            }
        }
        actions.removeAll()
    }

    deinit { run() }
}

/// Collects what the library sends, for asserting on request text.
final class WGRequestLog: Sendable {
    private let entries = Mutex<[(String, String)]>([])

    var observer: @Sendable (String, String) -> Void {
        { [self] interface, text in entries.withLock { $0.append((interface, text)) } }
    }

    func take(_ interface: String) -> [String] {
        entries.withLock { all in
            let mine = all.filter { $0.0 == interface }.map(\.1)
            all.removeAll { $0.0 == interface }
            return mine
        }
    }
}
