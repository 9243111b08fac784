import Foundation
import OverlayCrypto
import OverlayPlanner
import Testing

/// End to end through the built `overlayctl` binary.
@Suite("overlayctl")
struct CLITests {
    /// `<package root>/.build/debug/overlayctl`, found from this file's path.
    static let binary: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/overlayctl").path

    static var built: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["OVERLAY_DB"] = nil
        p.environment = env
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Read both to the end before waiting so a full pipe cannot block the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Run(
            status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    @Test(
        "bad input exits 1 with one clear line on stderr; --json output parses",
        .enabled(if: built, "overlayctl is not built at .build/debug/overlayctl: run `swift build` first"),
        arguments: TestEngine.all)
    func endToEnd(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let path = db.path

        let bad = try Self.run(["--db", path, "network", "create", "Bad_Name"])
        #expect(bad.status == 1, "exit status \(bad.status); stderr: \(bad.stderr)")
        #expect(
            bad.stderr
                == "error: invalid network name 'Bad_Name': 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'\n"
        )
        #expect(bad.stdout.isEmpty)

        let badPrefix = try Self.run(["--db", path, "network", "create", "shop", "--prefix", "fd12:3456:789a::1/48"])
        #expect(badPrefix.status == 1)
        #expect(badPrefix.stderr.hasPrefix("error: invalid prefix 'fd12:3456:789a::1/48': "), "\(badPrefix.stderr)")

        let created = try Self.run([
            "--db", path, "--json", "network", "create", "shop", "--prefix", "fd12:3456:789a::/48",
        ])
        #expect(created.status == 0, "stderr: \(created.stderr)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any],
            "not a JSON object: \(created.stdout)")
        #expect(object["name"] as? String == "shop")
        #expect(object["prefix"] as? String == "fd12:3456:789a::/48")
        #expect(object["mtu"] as? Int == 1420)

        let id = Ed25519Identity.generate().publicKeyBase64
        let node = try Self.run([
            "--db", path, "node", "add", "edge", "--identity", id, "--public-address", "127.0.0.1",
        ])
        #expect(node.status == 1)
        #expect(
            node.stderr.contains("'127.0.0.1'") && node.stderr.hasPrefix("error: invalid public address"),
            "\(node.stderr)")

        let dup = try Self.run(["--db", path, "network", "create", "shop"])
        #expect(dup.status == 1)
        #expect(dup.stderr == "error: network 'shop' already exists\n")

        let added = try Self.run([
            "--db", path, "--json", "node", "add", "edge", "--identity", id, "--public-address", "198.51.100.7",
        ])
        #expect(added.status == 0, "stderr: \(added.stderr)")
        let w = try Self.run(["--db", path, "--json", "workload", "add", "web", "--network", "shop", "--node", "edge"])
        #expect(w.status == 0, "stderr: \(w.stderr)")
        let plan = try Self.run(["--db", path, "--json", "plan", "edge"])
        #expect(plan.status == 0, "stderr: \(plan.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        #expect(doc["version"] as? Int == NodePlan.currentVersion)
        #expect(doc["node"] as? String == "edge")
        let list = try Self.run(["--db", path, "--json", "network", "list"])
        #expect((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [Any])?.count == 1)

        // No database at all.
        let none = try Self.run(["network", "list"])
        #expect(none.status != 0)
        #expect(none.stderr.contains("--db"), "\(none.stderr)")
    }
}
