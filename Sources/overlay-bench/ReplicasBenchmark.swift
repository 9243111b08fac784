import Foundation
import OverlayCrypto
import OverlayStore

/// Simulated agents (2,000 by default) long-polling over HTTPS, side by side in one run: all on one
/// `overlayd` on SQLite (the baseline), then split over two `overlayd` replicas on one PostgreSQL
/// database (OVERLAY_BENCH_POSTGRES or OVERLAY_TEST_POSTGRES: a server where a scratch database
/// may be created). Changes go to the replicas in turn, so half of each change's agents hear of it
/// through the other replica (PostgreSQL NOTIFY): their deliveries are shown apart.
func runReplicasBenchmark(agentCount: Int) async throws {
    let env = ProcessInfo.processInfo.environment
    guard let url = env["OVERLAY_BENCH_POSTGRES"] ?? env["OVERLAY_TEST_POSTGRES"] else {
        throw BenchSetupError(
            "set OVERLAY_BENCH_POSTGRES=postgres://USER@HOST:PORT/DB (netns-tests/lib/postgres.sh run starts one)")
    }
    let server = try PostgresLocation(parsing: url, password: env["PGPASSWORD"])
    let changes = 20
    let setup = try ControllerBenchSetup(agentCount: agentCount)
    defer { setup.remove() }

    // The SQLite run goes first: its overlayd makes the signing key and the self-signed
    // certificate beside the database, which both replicas then share (as replicas must).
    let sqlite = ControllerPhase(
        label: "SQLite, 1 replica", mode: .longPoll, replicas: [OverlaydLaunch(arguments: ["--db", setup.db])],
        token: setup.token, agents: setup.agents, changes: changes, networkOf: setup.networkOf)
    let single = try await sqlite.run(round: 0)

    // The same state, copied into a scratch PostgreSQL database.
    var pg = server
    pg.database = "overlay_bench_" + SecureRandom.hex(6)
    try Store.createPostgresDatabase(pg.database, server: server)
    defer { try? Store.dropPostgresDatabase(pg.database, server: server) }
    let copyStarted = Bench.now()
    try Store(path: setup.db).copy(to: try Store(postgres: pg))
    print("copied the state into \(pg) in \(Bench.fmt((Bench.now() - copyStarted) / 1000)) s")
    let shared = [
        "--db", pg.description, "--key", setup.db + ".controller-key",
        "--tls-cert", setup.db + ".tls-cert", "--tls-key", setup.db + ".tls-key",
    ]
    let replicas = ControllerPhase(
        label: "PostgreSQL, 2 replicas", mode: .longPoll,
        replicas: [OverlaydLaunch(arguments: shared), OverlaydLaunch(arguments: shared)], token: setup.token,
        agents: setup.agents, changes: changes, networkOf: setup.networkOf)
    let split = try await replicas.run(round: 1)

    print("")
    print("\(agentCount) agents, long-poll over HTTPS      SQLite, 1 replica   PostgreSQL, 2 replicas   ratio")
    func row(_ label: String, _ a: Double, _ b: Double, _ unit: String, digits: Int = 1) {
        print(Bench.comparisonRow(label, a, b, unit: unit, digits: digits, widths: (40, 20, 25)))
    }
    row("delivery p50", single.p50, split.p50, " ms")
    row("delivery p99", single.p99, split.p99, " ms")
    row("  same replica as the change, p50", single.p50, split.localP50, " ms")
    row("  same replica as the change, p99", single.p99, split.localP99, " ms")
    row("  the other replica (NOTIFY), p50", single.p50, split.remoteP50, " ms")
    row("  the other replica (NOTIFY), p99", single.p99, split.remoteP99, " ms")
    for r in split.replicaCPUSeconds.indices {
        row(
            "CPU per second, replica \(r + 1)", single.replicaCPUPerSecondMs(0), split.replicaCPUPerSecondMs(r),
            " ms", digits: 0)
    }
    row("CPU per second, all replicas", single.cpuPerSecondMs, split.cpuPerSecondMs, " ms", digits: 0)
    for r in split.replicaRSSMB.indices {
        row("peak RSS, replica \(r + 1)", single.replicaRSSMB[0], split.replicaRSSMB[r], " MB")
    }
    row("admin network list p50 (replica 1)", single.adminP50, split.adminP50, " ms", digits: 2)
    row("all agents holding plans after", single.connectSeconds, split.connectSeconds, " s")
    print(
        "deliveries: SQLite \(single.delivered)/\(single.expected), PostgreSQL \(split.delivered)/\(split.expected); "
            + "only the changed network's agents answered: SQLite \(single.isolated ? "yes" : "NO"), "
            + "PostgreSQL \(split.isolated ? "yes" : "NO") (other networks: \(split.strayAnswers))")
    print(
        "(the PostgreSQL server's own CPU is not counted; phases \(Bench.fmt(single.seconds)) s and \(Bench.fmt(split.seconds)) s;"
            + " bench process peak RSS \(Bench.fmt(Bench.peakRSSMB())) MB)")
}
