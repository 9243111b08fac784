import Foundation
import OverlayController
import OverlayCrypto
import OverlayStore
import Synchronization

/// Admin writes per second (`workload add`, each one transaction with its re-plan), one client
/// after another and 8 at once, on SQLite and on PostgreSQL (OVERLAY_BENCH_POSTGRES or
/// OVERLAY_TEST_POSTGRES: a server where a scratch database may be created), side by side.
func runStoreWritesBenchmark() throws {
    let env = ProcessInfo.processInfo.environment
    guard let url = env["OVERLAY_BENCH_POSTGRES"] ?? env["OVERLAY_TEST_POSTGRES"] else {
        throw BenchSetupError(
            "set OVERLAY_BENCH_POSTGRES=postgres://USER@HOST:PORT/DB (netns-tests/lib/postgres.sh run starts one)")
    }
    let server = try PostgresLocation(parsing: url, password: env["PGPASSWORD"])
    let writes = Int(env["OVERLAY_BENCH_WRITES"] ?? "") ?? 200
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("overlay-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }

    var results: [String: (sequential: Double, concurrent: Double, cpu: Double)] = [:]
    var perWrite: (statements: Double, waits: Double)?
    for engine in ["sqlite", "postgres"] {
        var pg = server
        pg.database = "overlay_bench_" + SecureRandom.hex(6)
        let store: Store
        if engine == "sqlite" {
            store = try Store(path: dir.appendingPathComponent("state.db").path)
        } else {
            try Store.createPostgresDatabase(pg.database, server: server)
            store = try Store(postgres: pg)
        }
        defer { if engine == "postgres" { try? Store.dropPostgresDatabase(pg.database, server: server) } }
        let c = Controller(store: store)
        try c.createNetwork(name: "bench", prefix: "fd42:4242:4242::/48")
        for i in 1...8 {
            try c.addNode(
                .init(
                    name: "h\(i)", identity: Ed25519Identity.generate().publicKeyBase64,
                    publicAddresses: ["192.0.2.\(i)"]))
        }
        let before = store.statementCounts
        let cpuBefore = Bench.processCPUms()
        let sequential = try Bench.time {
            for i in 0..<writes { try c.addWorkload(name: "s\(i)", network: "bench", node: "h\(i % 8 + 1)") }
        }
        let cpu = (Bench.processCPUms() - cpuBefore) / Double(writes)
        if let before, let after = store.statementCounts {
            perWrite = (
                Double(after.sent - before.sent) / Double(writes), Double(after.waits - before.waits) / Double(writes)
            )
        }
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        let concurrent = Bench.time {
            for t in 0..<8 {
                done.enter()
                Thread.detachNewThread {
                    defer { done.leave() }
                    for i in stride(from: t, to: writes, by: 8) {
                        do { try c.addWorkload(name: "c\(i)", network: "bench", node: "h\(t + 1)") } catch {
                            failures.withLock { $0.append("\(error)") }
                        }
                    }
                }
            }
            done.wait()
        }
        if let first = failures.withLock({ $0.first }) { throw BenchSetupError("\(engine): a write failed: \(first)") }
        results[engine] = (Double(writes) / sequential * 1000, Double(writes) / concurrent * 1000, cpu)
    }
    let s = results["sqlite"]!
    let p = results["postgres"]!
    print("admin writes per second (workload add, \(writes) each):")
    print(String(format: "  sequential:   SQLite %7.1f   PostgreSQL %7.1f   ratio PG/SQLite %.2f", s.0, p.0, p.0 / s.0))
    print(String(format: "  8 concurrent: SQLite %7.1f   PostgreSQL %7.1f   ratio PG/SQLite %.2f", s.1, p.1, p.1 / s.1))
    print(
        String(
            format: "  this process's CPU per sequential write: SQLite %.2f ms   PostgreSQL %.2f ms   ratio %.2f", s.2,
            p.2, p.2 / s.2))
    if let perWrite {
        print(
            String(
                format: "  PostgreSQL, sequential: %.1f statements and %.1f waits for an answer per write",
                perWrite.statements, perWrite.waits))
    }
}

struct BenchSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
