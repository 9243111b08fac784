import Foundation
import Logging
import OverlayAPI
import OverlayCrypto
import OverlayHTTPClient
import ServiceLifecycle
import Testing

/// `overlayctl --controller URL --token T` against a real `overlayd` service on loopback prints
/// what `overlayctl --db PATH` prints, for every command, errors included.
@Suite("overlayctl remote mode")
struct RemoteModeTests {
    static let binary: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/overlayctl").path

    static var built: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    struct Run: Equatable, CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String
        var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
    }

    /// Runs overlayctl on a thread of its own (the server in this process keeps its threads).
    static func run(_ arguments: [String]) async throws -> Run {
        try await withCheckedThrowingContinuation { c in
            Thread.detachNewThread {
                do {
                    let p = Process()
                    p.executableURL = URL(fileURLWithPath: binary)
                    p.arguments = arguments
                    var env = ProcessInfo.processInfo.environment
                    for k in ["OVERLAY_DB", "OVERLAY_CONTROLLER", "OVERLAY_TOKEN"] { env[k] = nil }
                    p.environment = env
                    let out = Pipe()
                    let err = Pipe()
                    p.standardOutput = out
                    p.standardError = err
                    p.standardInput = FileHandle.nullDevice
                    try p.run()
                    nonisolated(unsafe) var errData = Data()
                    let group = DispatchGroup()
                    group.enter()
                    DispatchQueue.global().async {
                        errData = err.fileHandleForReading.readDataToEndOfFile()
                        group.leave()
                    }
                    let outData = out.fileHandleForReading.readDataToEndOfFile()
                    group.wait()
                    p.waitUntilExit()
                    c.resume(
                        returning: Run(
                            status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                            stderr: String(decoding: errData, as: UTF8.self)))
                } catch { c.resume(throwing: error) }
            }
        }
    }

    /// Values drawn at random on each side (WireGuard keys, sealed keys, network IDs, tokens)
    /// become placeholders; everything else must match byte for byte.
    static func normalised(_ text: String, ids: [String: String]) -> String {
        var t = text
        for (id, name) in ids { t = t.replacingOccurrences(of: id, with: "<id-\(name)>") }
        for (pattern, placeholder) in [
            (#"ovlj_[A-Za-z0-9_-]{43}"#, "<join-token>"), (#"[A-Za-z0-9+/]{60,}={0,2}"#, "<sealed>"),
            (#"[A-Za-z0-9+/]{43}="#, "<key>"), (#"\(\d+ base64 chars\)"#, "(n base64 chars)"),
        ] {
            t = t.replacingOccurrences(of: pattern, with: placeholder, options: .regularExpression)
        }
        return t
    }

    @Test(
        "the same command sequence in --db and --controller mode prints the same output",
        .enabled(if: built, "overlayctl is not built at .build/debug/overlayctl: run `swift build` first"))
    func sameOutput() async throws {
        let local = try Harness()
        let remote = try Harness()
        let port = PortBox()
        let app = try remote.server.application(host: "127.0.0.1", port: 0) { p in port.set(p) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let group = ServiceGroup(services: [app, remote.server.longPollCloser], logger: logger)
        let serving = Task { try await group.run() }
        defer { serving.cancel() }
        while port.get() == nil { try await Task.sleep(for: .milliseconds(20)) }
        let url = "http://127.0.0.1:\(port.get()!)"

        let (id1, id2, id3) = (Ed25519Identity.generate(), Ed25519Identity.generate(), Ed25519Identity.generate())
        let id4 = Ed25519Identity.generate()
        let laptop = "hXy1+q6h6vXrgyuNAV4YN9mCFW7XpXt1LpK0MtyWqGQ="
        let file = local.directory.appendingPathComponent("topology.yaml").path
        try """
        networks:
          - name: lab
            prefix: fd12:3456:789b::/48
        workloads:
          - name: db
            network: lab
            node: n2
            expose: [tcp/5432]
        """.write(toFile: file, atomically: true, encoding: .utf8)

        let steps: [[String]] = [
            ["network", "create", "shop", "--prefix", "fd12:3456:789a::/48"],
            ["network", "create", "Bad_Name"],
            ["network", "create", "shop"],
            // A hidden node and no hub anywhere: the planner refuses both.
            ["node", "add", "lone", "--identity", id4.publicKeyBase64],
            ["network", "attach", "shop", "lone"],
            ["workload", "add", "w0", "--network", "shop", "--node", "lone"],
            ["node", "add", "hub1", "--identity", id1.publicKeyBase64, "--public-address", "192.0.2.1", "--hub"],
            ["node", "add", "n2", "--identity", id2.publicKeyBase64],
            ["node", "add", "pend"],
            ["node", "add", "bad", "--identity", "abc"],
            ["node", "join-token", "pend", "--expires", "2h"],
            ["node", "join-token", "pend", "--expires", "9d"],
            ["node", "join-token", "ghost"],
            ["--json", "workload", "add", "web", "--network", "shop", "--node", "n2", "--expose", "tcp/80"],
            ["workload", "add", "x", "--network", "shop", "--node", "pend"],
            // hub1 relays for n2, the only hidden member; nothing else could.
            ["node", "remove", "hub1"],
            ["network", "detach", "shop", "hub1"],
            ["network", "detach", "shop", "pend"],
            ["access", "add", "laptop", "--network", "shop", "--public-key", laptop],
            [
                "node", "add", "gw", "--identity", id3.publicKeyBase64, "--public-address", "192.0.2.3", "--gateway",
                "--domain", "example.net",
            ],
            ["gateway", "add", "site", "--node", "gw", "--name", "www", "--backend", "web:80"],
            ["gateway", "add", "site2", "--node", "gw", "--name", "www", "--backend", "web:81"],
            ["network", "attach", "shop", "hub1"],
            ["apply", "-f", file, "--dry-run"],
            ["apply", "-f", file],
            ["apply", "-f", file],
            ["network", "list"], ["--json", "network", "show", "shop"], ["network", "show", "shop"],
            ["node", "list"], ["--json", "node", "list"], ["node", "show", "n2"], ["--json", "node", "show", "pend"],
            ["workload", "list"], ["workload", "show", "web"], ["--json", "workload", "list"],
            ["access", "list"], ["--json", "gateway", "list"], ["gateway", "list"],
            ["plan", "n2"], ["--json", "plan", "hub1"], ["graph", "shop"], ["graph", "ghost"],
            ["gateway", "remove", "site"], ["access", "remove", "laptop"], ["--json", "workload", "remove", "web"],
            ["network", "detach", "shop", "hub1"], ["node", "remove", "pend"], ["node", "remove", "ghost"],
            ["network", "delete", "shop"], ["network", "show", "shop"],
        ]
        // Reads answered from the remote side's own database in both modes: identical bytes.
        let reads: Set<String> = ["list", "show", "plan", "graph"]
        var idsLocal: [String: String] = [:]
        var idsRemote: [String: String] = [:]
        for step in steps {
            let l = try await Self.run(["--db", local.dbPath] + step)
            let r = try await Self.run(["--controller", url, "--token", remote.token] + step)
            if step.contains("create") || step.contains("apply") {
                for (db, target) in [(local.dbPath, 0), (remote.dbPath, 1)] {
                    let list = try await Self.run(["--db", db, "--json", "network", "list"])
                    let nets = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]] ?? []
                    for n in nets {
                        if target == 0 {
                            idsLocal[n["id"] as! String] = n["name"] as? String
                        } else {
                            idsRemote[n["id"] as! String] = n["name"] as? String
                        }
                    }
                }
            }
            #expect(l.status == r.status, "\(step): local \(l) remote \(r)")
            var (lo, ro) = (Self.normalised(l.stdout, ids: idsLocal), Self.normalised(r.stdout, ids: idsRemote))
            if step.contains("plan") {
                // Peers are ordered by their random WireGuard keys: compare the lines, not their order.
                (lo, ro) = (lo.split(separator: "\n").sorted().joined(), ro.split(separator: "\n").sorted().joined())
            }
            #expect(lo == ro, "\(step): local \(l) remote \(r)")
            #expect(l.stderr == r.stderr, "\(step)")
            if reads.contains(where: step.contains) {
                let same = try await Self.run(["--db", remote.dbPath] + step)
                #expect(same == r, "\(step): --db on the controller's database \(same) remote \(r)")
            }
        }

        // Remote-only failures are as clear.
        let noToken = try await Self.run(["--controller", url, "network", "list"])
        #expect(noToken.status == 64 || noToken.status == 1)
        #expect(noToken.stderr.contains("no admin token"), "\(noToken)")
        let badToken = try await Self.run(["--controller", url, "--token", "ovla_x", "network", "list"])
        #expect(badToken.status == 1 && badToken.stderr == "error: invalid or revoked bearer token\n", "\(badToken)")
        let down = try await Self.run([
            "--controller", "http://127.0.0.1:1", "--token", remote.token, "network", "list",
        ])
        #expect(
            down.status == 1
                && down.stderr.hasPrefix("error: cannot connect to the controller at http://127.0.0.1:1: "),
            "\(down)")

        // Several replicas: one that refuses connections is passed over, in either order and
        // spelling; when none serves, each one's failure is named.
        let listed = try await Self.run(["--db", remote.dbPath, "network", "list"])
        for args in [
            ["--controller", "http://127.0.0.1:1", "--controller", url],
            ["--controller", "http://127.0.0.1:1,\(url)"], ["--controller", "\(url),http://127.0.0.1:1"],
        ] {
            let r = try await Self.run(args + ["--token", remote.token, "network", "list"])
            #expect(r == listed, "\(args): \(r)")
        }
        let none = try await Self.run([
            "--controller", "http://127.0.0.1:1,http://127.0.0.1:2", "--token", remote.token, "network", "list",
        ])
        #expect(none.status == 1, "\(none)")
        #expect(none.stderr.hasPrefix("error: no controller replica could serve the request:\n"), "\(none)")
        #expect(none.stderr.contains("\n  cannot connect to the controller at http://127.0.0.1:1: "), "\(none)")
        #expect(none.stderr.contains("\n  cannot connect to the controller at http://127.0.0.1:2: "), "\(none)")
        let twice = try await Self.run(["--controller", "\(url),\(url)", "--token", remote.token, "network", "list"])
        #expect(twice.status != 0 && twice.stderr.contains("named twice"), "\(twice)")
        await group.triggerGracefulShutdown()
        try await serving.value
    }

    @Test func onlyARequestThatNeverLeftGoesToAnotherReplicaUnlessItIsARead() {
        let refused = ControllerClientError.notConnected("http://a:1", "connection refused")
        let lost = ControllerClientError.unreachable("http://a:1", "remote connection closed")
        for method in ["GET", "POST", "DELETE", "PATCH"] {
            #expect(RemoteAdmin.shouldTryNext(method: method, after: refused))
        }
        #expect(RemoteAdmin.shouldTryNext(method: "GET", after: lost))
        for method in ["POST", "DELETE", "PATCH"] { #expect(!RemoteAdmin.shouldTryNext(method: method, after: lost)) }
        #expect(!RemoteAdmin.shouldTryNext(method: "GET", after: .badURL("x")))
    }
}

final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var port: Int?
    func set(_ p: Int) { lock.withLock { port = p } }
    func get() -> Int? { lock.withLock { port } }
}
