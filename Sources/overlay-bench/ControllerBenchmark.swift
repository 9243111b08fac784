import Foundation
import Glibc
import OverlayAPI
import OverlayController
import OverlayCrypto
import OverlayHTTPClient
import OverlayModel
import OverlayProtocol
import Synchronization

/// Simulated agents (1,000 by default), each with its own node identity, against a real
/// `overlayd` (a child process on loopback) while networks change. Phase 1: agents long-poll (the
/// product). Phase 2, the baseline: the same agents poll every second (periodic polling,
/// innernet-style). Phase 3: long-poll again over plain HTTP, for the cost of TLS. Each phase runs
/// its own overlayd on the same database, so CPU time and peak memory are the controller's.
func runControllerBenchmark(agentCount: Int) async throws {
    if let baseline = ProcessInfo.processInfo.environment["OVERLAY_BENCH_BASELINE"] {
        return try await runControllerComparison(agentCount: agentCount, baseline: baseline)
    }
    let changes = 20
    let setup = try ControllerBenchSetup(agentCount: agentCount)
    defer { setup.remove() }
    let agents = setup.agents
    let sqlite = OverlaydLaunch(arguments: ["--db", setup.db])
    // Long-poll and periodic over HTTPS (the default), then long-poll over plain HTTP: the cost of TLS.
    func phase(_ mode: ControllerPhase.Mode, tls: Bool, round: Int) async throws -> ControllerPhase.Result {
        try await ControllerPhase(
            label: "\(mode == .longPoll ? "long-poll" : "periodic 1 s") over \(tls ? "HTTPS" : "plain HTTP")",
            mode: mode, tls: tls, replicas: [sqlite], token: setup.token, agents: agents, changes: changes,
            networkOf: setup.networkOf
        ).run(round: round)
    }
    let lp = try await phase(.longPoll, tls: true, round: 0)
    // The baseline may be more than the machine can serve (every agent polls every second): then
    // it is reported as such, and the long-poll figures still stand.
    var periodic: ControllerPhase.Result?
    do { periodic = try await phase(.periodic, tls: true, round: 1) } catch {
        print("periodic 1 s over HTTPS: not measured, the controller could not keep up: \(error)")
    }
    let plain = try await phase(.longPoll, tls: false, round: 2)
    print("")
    if let pp = periodic {
        print("                          long-poll   periodic 1 s   ratio")
        func row(_ label: String, _ a: Double, _ b: Double, _ unit: String, digits: Int = 1) {
            print(Bench.comparisonRow(label, a, b, unit: unit, digits: digits, ratioDigits: 1, widths: (26, 12, 15)))
        }
        row("delivery p50", lp.p50, pp.p50, " ms")
        row("delivery p99", lp.p99, pp.p99, " ms")
        row("controller CPU", lp.cpuSeconds, pp.cpuSeconds, " s", digits: 2)
        row("controller CPU per second", lp.cpuPerSecondMs, pp.cpuPerSecondMs, " ms", digits: 0)
        row("controller peak RSS", lp.peakRSSMB, pp.peakRSSMB, " MB")
        row("requests served", Double(lp.requests), Double(pp.requests), "", digits: 0)
    }
    print(
        "long-poll: every change answered only its network's \(setup.perNetwork) agents: \(lp.isolated ? "yes" : "NO") "
            + "(answered per change: \(lp.answeredPerChange.map(String.init).joined(separator: ",")); other networks: \(lp.strayAnswers))"
    )
    print("long-poll slowest delivery per change (ms): \(lp.slowest.map { Bench.fmt($0, 0) }.joined(separator: ","))")
    print("")
    print("the cost of TLS (long-poll)   plain HTTP   HTTPS        ratio HTTPS/HTTP")
    func tlsRow(_ label: String, _ http: Double, _ https: Double, _ unit: String) {
        print(Bench.comparisonRow(label, http, https, unit: unit, digits: 2, widths: (30, 13, 13)))
    }
    tlsRow("delivery p50", plain.p50, lp.p50, " ms")
    tlsRow("delivery p99", plain.p99, lp.p99, " ms")
    tlsRow("admin network list p50", plain.adminP50, lp.adminP50, " ms")
    tlsRow("admin network list p99", plain.adminP99, lp.adminP99, " ms")
    tlsRow("controller CPU per second", plain.cpuPerSecondMs, lp.cpuPerSecondMs, " ms")
    tlsRow("controller peak RSS", plain.peakRSSMB, lp.peakRSSMB, " MB")
    tlsRow("all agents connected in", plain.connectSeconds, lp.connectSeconds, " s")
    print(
        "(phases \(Bench.fmt(lp.seconds)) s, \(Bench.fmt(periodic?.seconds ?? 0)) s and \(Bench.fmt(plain.seconds)) s; latency from sending the admin command to the agent holding the new plan;"
            + " bench process peak RSS \(Bench.fmt(Bench.peakRSSMB())) MB)")
}

/// This overlayd against another build of it (OVERLAY_BENCH_BASELINE names its binary, e.g. one
/// built from an older commit) in one run: the same agents long-poll over plain HTTP (a baseline
/// may predate HTTPS) on the same database, the two binaries in turn, OVERLAY_BENCH_ROUNDS times
/// each (2 by default), so that load from elsewhere on the machine falls on both alike. Prints the
/// median of each figure side by side.
func runControllerComparison(agentCount: Int, baseline: String) async throws {
    let env = ProcessInfo.processInfo.environment
    let rounds = Int(env["OVERLAY_BENCH_ROUNDS"] ?? "") ?? 2
    guard (1...20).contains(rounds) else {
        throw BenchError("invalid OVERLAY_BENCH_ROUNDS '\(env["OVERLAY_BENCH_ROUNDS"] ?? "")': 1 to 20")
    }
    let current = OverlaydLaunch.besideBenchmark
    for binary in [baseline, current] where !FileManager.default.isExecutableFile(atPath: binary) {
        throw BenchError("\(binary) is not an executable overlayd")
    }
    let setup = try ControllerBenchSetup(agentCount: agentCount)
    defer { setup.remove() }
    var results: [String: [ControllerPhase.Result]] = [:]
    for round in 0..<(2 * rounds) {
        let binary = round % 2 == 0 ? baseline : current
        let phase = ControllerPhase(
            label: "\(binary == baseline ? "baseline" : "this overlayd"), long-poll over plain HTTP", mode: .longPoll,
            tls: false, replicas: [OverlaydLaunch(arguments: ["--db", setup.db], binary: binary)], token: setup.token,
            agents: setup.agents, changes: 20, networkOf: setup.networkOf)
        results[binary, default: []].append(try await phase.run(round: round))
    }
    let before = results[baseline] ?? []
    let after = results[current] ?? []
    func median(_ figure: (ControllerPhase.Result) -> Double, _ of: [ControllerPhase.Result]) -> Double {
        Bench.median(of.map(figure))
    }
    print("")
    print("baseline: \(baseline)")
    print("this:     \(current)")
    print("\(agentCount) agents, medians of \(rounds)     baseline     this         this/baseline")
    func row(_ label: String, _ figure: (ControllerPhase.Result) -> Double, _ unit: String, digits: Int = 1) {
        print(
            Bench.comparisonRow(
                label, median(figure, before), median(figure, after), unit: unit, digits: digits,
                widths: (30, 13, 13)))
    }
    row("controller RSS at start", \.idleRSSMB, " MB")
    row("controller peak RSS", \.peakRSSMB, " MB")
    row("controller threads", { Double($0.threads) }, "", digits: 0)
    row("delivery p50", \.p50, " ms")
    row("delivery p99", \.p99, " ms")
    row("controller CPU per second", \.cpuPerSecondMs, " ms", digits: 0)
    row("admin network list p50", \.adminP50, " ms", digits: 2)
    row("all agents connected in", \.connectSeconds, " s")
    print(
        "peak RSS per round (MB): baseline \(before.map { Bench.fmt($0.peakRSSMB) }.joined(separator: ", ")); this \(after.map { Bench.fmt($0.peakRSSMB) }.joined(separator: ", "))"
    )
    for (label, r) in [("baseline", before), ("this", after)] where !r.allSatisfy(\.isolated) {
        print("\(label): a change answered other networks' agents or missed its own (see the rounds above)")
    }
}

/// The desired state, written directly into a SQLite file: networks of 10 public nodes, one
/// workload each, and one spare node that each change attaches to one network (a new peer for
/// every member).
struct ControllerBenchSetup {
    let perNetwork = 10
    let networks: Int
    let dir: String
    let db: String
    let token: String
    let agents: [SimulatedAgent]

    init(agentCount: Int) throws {
        guard agentCount >= 10, agentCount % 10 == 0, agentCount <= 20_000 else {
            throw BenchError("invalid agent count '\(agentCount)': a multiple of 10 from 10 to 20000")
        }
        raiseOpenFileLimit()
        networks = agentCount / perNetwork
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("overlay-bench-controller-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        db = dir + "/controller.db"
        let started = Bench.now()
        let controller = try Controller(databasePath: db)
        var agents: [SimulatedAgent] = []
        for n in 0..<networks {
            let net = "net-\(n)"
            try controller.createNetwork(name: net)
            for m in 0..<perNetwork {
                let i = n * perNetwork + m
                let id = Ed25519Identity.generate()
                let name = "node-\(i)"
                try controller.addNode(
                    .init(
                        name: name, identity: id.publicKeyBase64,
                        publicAddresses: ["198.18.\(i / 250).\(i % 250 + 1)"]))
                try controller.addWorkload(name: "w-\(i)", network: net, node: name)
                agents.append(SimulatedAgent(node: name, network: net, identity: id))
            }
        }
        try controller.addNode(
            .init(
                name: "spare", identity: Ed25519Identity.generate().publicKeyBase64,
                publicAddresses: ["198.18.200.1"]))
        token = try controller.createAdminToken(name: "bench").token
        self.agents = agents
        print(
            "controller: \(agents.count) agents (\(networks) networks x \(perNetwork) nodes), setup \(Bench.fmt((Bench.now() - started) / 1000)) s"
        )
    }

    /// Which network change number `c` touches: spread over all of them.
    var networkOf: @Sendable (Int) -> String {
        let networks = networks
        return { "net-\(($0 * 37) % networks)" }
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

/// Thousands of simulated agents hold a socket each, in this process and in overlayd (which
/// inherits the limit): the soft limit goes up to the hard one.
func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else {
        return
    }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}

struct SimulatedAgent: Sendable {
    var node: String
    var network: String
    var identity: Ed25519Identity
}

/// One run of overlayd (one replica, or several on one database) with all agents connected,
/// `changes` changes made one after another. Agent `i` talks to replica `i % replicas.count`, and
/// change `c` is sent to replica `c % replicas.count`: with several replicas, each change reaches
/// half of its network's agents through another replica.
struct ControllerPhase {
    enum Mode { case longPoll, periodic }
    var label: String
    var mode: Mode
    /// HTTPS (the default) or plain HTTP on loopback.
    var tls = true
    var replicas: [OverlaydLaunch]
    var token: String
    var agents: [SimulatedAgent]
    var changes: Int
    var networkOf: @Sendable (Int) -> String
    /// Agents start this many at a time, each batch once the last holds its plans: thousands of
    /// TLS handshakes at once on a small machine outlast connect timeouts, and every retry adds
    /// more handshakes. OVERLAY_BENCH_RAMP sets another batch size.
    var rampBatch = max(1, Int(ProcessInfo.processInfo.environment["OVERLAY_BENCH_RAMP"] ?? "") ?? 100)
    /// How long one batch may take to hold its plans before the run is given up.
    var rampTimeout = 90.0
    /// Seconds a long-poll waits. Below overlayd's 30 s idle timeout: a poll of exactly 30 s ends
    /// as the server's read-idle timer fires, which then closes the connection as the answer goes
    /// out (or as the next request comes in), and thousands of agents come back through new TLS
    /// handshakes. OVERLAY_BENCH_WAIT sets another (30 is what agents send by default).
    var longPollWait = Int(ProcessInfo.processInfo.environment["OVERLAY_BENCH_WAIT"] ?? "") ?? 25

    struct Result {
        var p50: Double, p99: Double
        /// Deliveries to agents on the replica that took the change, and on the others.
        var localP50: Double, localP99: Double, remoteP50: Double, remoteP99: Double
        var delivered: Int, expected: Int
        /// Per replica: CPU time during the changes, and peak RSS.
        var replicaCPUSeconds: [Double], replicaRSSMB: [Double]
        var seconds: Double
        /// From the first agent starting to every agent holding its plan.
        var connectSeconds: Double
        var requests: Int
        var answeredPerChange: [Int]
        var strayAnswers: Int
        var isolated: Bool
        var slowest: [Double]
        /// Admin `network list` round trips, one after another on an open connection (ms).
        var adminP50: Double, adminP99: Double
        /// Resident set of the replicas once started, before any agent connects (MB), and their
        /// threads after the changes.
        var replicaIdleRSSMB: [Double] = []
        var threads = 0

        var cpuSeconds: Double { replicaCPUSeconds.reduce(0, +) }
        var cpuPerSecondMs: Double { seconds > 0 ? cpuSeconds / seconds * 1000 : 0 }
        var peakRSSMB: Double { replicaRSSMB.reduce(0, +) }
        var idleRSSMB: Double { replicaIdleRSSMB.reduce(0, +) }
        func replicaCPUPerSecondMs(_ r: Int) -> Double { seconds > 0 ? replicaCPUSeconds[r] / seconds * 1000 : 0 }
    }

    func run(round: Int) async throws -> Result {
        var servers: [OverlaydProcess] = []
        var clients: [ControllerClient] = []
        // The operator's own connection, apart from the agents' pool: an admin request never
        // waits for a new TLS handshake behind a thousand agents' polls.
        var adminClients: [ControllerClient] = []
        let log = DeliveryLog()
        let stop = StopFlag()
        var tasks: [Task<Void, Never>] = []
        // Whatever happens, the agents stop, the servers die and the clients close: a failed
        // run must not leave thousands of tasks retrying.
        func cleanup() async {
            stop.set()
            for t in tasks { t.cancel() }
            for s in servers { s.stop() }
            for c in clients + adminClients { try? await c.shutdown() }
            for t in tasks { _ = await t.value }
        }
        do {
            for launch in replicas { servers.append(try OverlaydProcess(launch: launch, tls: tls)) }
            for server in servers {
                let client = try ControllerClient(
                    baseURL: server.url, maxConnections: agents.count + 16,
                    trust: server.fingerprint.map { .pinned([$0]) } ?? .system)
                clients.append(client)
                // One request first: over HTTPS it checks the pinned certificate once, not once per agent.
                _ = try await client.send(method: "GET", pathAndQuery: "/healthz")
                adminClients.append(
                    try ControllerClient(
                        baseURL: server.url, maxConnections: 1,
                        trust: server.fingerprint.map { .pinned([$0]) } ?? .system))
            }
            guard let key = Data(base64Encoded: servers[0].controllerKey) else {
                throw BenchError("no controller key in overlayd's log")
            }
            // The operator's connections open before the agents come, and are kept busy while
            // they do: a new TLS connection beside thousands of held ones can take longer than
            // the client's connect timeout on a loaded machine.
            let admins = adminClients.map { RemoteAdmin(client: $0, token: token) }
            for admin in admins { _ = try await Self.connecting { try await admin.networks() } }
            let idle = servers.map { $0.residentMB() }
            var result = try await measure(
                round: round, servers: servers, clients: clients,
                admins: admins,
                controllerKey: Array(key), log: log, stop: stop, tasks: &tasks)
            result.replicaIdleRSSMB = idle
            await cleanup()
            return result
        } catch {
            await cleanup()
            throw error
        }
    }

    private func measure(
        round: Int, servers: [OverlaydProcess], clients: [ControllerClient], admins: [RemoteAdmin],
        controllerKey: [UInt8], log: DeliveryLog, stop: StopFlag, tasks: inout [Task<Void, Never>]
    ) async throws -> Result {
        let home = agents.indices.map { $0 % servers.count }
        let homeOf = Dictionary(uniqueKeysWithValues: agents.indices.map { (agents[$0].node, home[$0]) })

        // Agents start in batches, take their current plan, then wait (long-poll) or poll every second.
        let connectStart = Bench.now()
        for batch in stride(from: 0, to: agents.count, by: rampBatch) {
            let end = min(batch + rampBatch, agents.count)
            for i in batch..<end {
                let (agent, client, wait) = (agents[i], clients[home[i]], mode == .longPoll ? longPollWait : 0)
                tasks.append(
                    Task {
                        await Self.agentLoop(
                            agent, client: client, wait: wait, controllerKey: controllerKey, log: log,
                            stop: stop)
                    })
            }
            let deadline = Bench.now() + rampTimeout * 1000
            var keepAlive = Bench.now()
            while log.nodesWithPlans < end {
                if Bench.now() - keepAlive > 10_000 {
                    keepAlive = Bench.now()
                    for admin in admins { _ = try await Self.connecting { try await admin.networks() } }
                }
                let holding = log.nodesWithPlans
                guard Bench.now() < deadline || holding >= end else {
                    throw BenchError(
                        "\(label): only \(holding) of \(end) agents hold a plan after \(Bench.fmt(rampTimeout, 0)) s (\(log.failures) failed requests)"
                    )
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let connectSeconds = (Bench.now() - connectStart) / 1000
        print(
            "\(label): \(agents.count) agents hold their plans after \(Bench.fmt(connectSeconds)) s (\(log.failures) failed requests, retried)"
        )
        try await Task.sleep(for: .milliseconds(mode == .periodic ? 1200 : 300))
        // The admin connections are open before the clock starts (as an operator's would be).
        for admin in admins { _ = try await Self.connecting { try await admin.networks() } }
        // Past the first rounds, changes come back to networks that already hold the spare node
        // (an attach there would change nothing): it leaves them first, before the clock starts.
        var detached = false
        for c in 0..<changes {
            let network = networkOf(c + round * changes)
            let detail = try await Self.connecting { try await admins[0].network(named: network) }
            if detail.members.contains(where: { $0.node == "spare" }) {
                _ = try await Self.connecting { try await admins[0].detach(network: network, node: "spare") }
                detached = true
            }
        }
        if detached { try await Task.sleep(for: .milliseconds(500)) }
        let cpu0 = servers.map { $0.cpuSeconds() }
        let requests0 = log.requests
        let t0 = Bench.now()
        var local: [Double] = []
        var remote: [Double] = []
        var answered: [Int] = []
        var stray = 0
        var slowest: [Double] = []
        var expected = 0
        for c in 0..<changes {
            let network = networkOf(c + round * changes)
            let members = agents.filter { $0.network == network }.map(\.node)
            expected += members.count
            let before = log.count
            let via = c % servers.count
            let sent = Bench.now()
            // attach spare to this network (detaching it from the last one would wake that one too)
            let change = try await Self.connecting { try await admins[via].attach(network: network, node: "spare") }
            var got: [String: Double] = [:]
            let deadline = Bench.now() + 5000
            while got.count < members.count && Bench.now() < deadline {
                for m in members where got[m] == nil {
                    if let t = log.firstDelivery(node: m, atLeast: change.revision) { got[m] = t }
                }
                if got.count < members.count { try await Task.sleep(for: .milliseconds(2)) }
            }
            for (node, t) in got {
                if homeOf[node] == via { local.append(t - sent) } else { remote.append(t - sent) }
            }
            slowest.append(got.values.map { $0 - sent }.max() ?? 0)
            // Let any wrongly woken agent show up before counting.
            try await Task.sleep(for: .milliseconds(mode == .longPoll ? 150 : 500))
            let new = log.since(before)
            answered.append(new.filter { $0.network == network }.count)
            stray += new.filter { $0.network != network }.count
        }
        let seconds = (Bench.now() - t0) / 1000
        let cpu = servers.indices.map { servers[$0].cpuSeconds() - cpu0[$0] }
        let requests = log.requests - requests0
        // Admin latency with every agent connected (long-polls held, or polling).
        var adminLatencies: [Double] = []
        for _ in 0..<200 {
            let sent = Bench.now()
            _ = try await Self.connecting { try await admins[0].networks() }
            adminLatencies.append(Bench.now() - sent)
        }
        let rss = servers.map { $0.peakRSSMB() }
        let threads = servers.reduce(0) { $0 + $1.threads() }
        let all = local + remote
        let members = agents.count / Set(agents.map(\.network)).count
        print(
            "\(label): \(changes) changes in \(Bench.fmt(seconds)) s, \(all.count)/\(expected) deliveries, "
                + "p50 \(Bench.fmt(Bench.percentile(all, 0.5))) ms, p99 \(Bench.fmt(Bench.percentile(all, 0.99))) ms, "
                + "controller CPU \(cpu.map { Bench.fmt($0, 2) + " s" }.joined(separator: " + ")), "
                + "peak RSS \(rss.map { Bench.fmt($0) + " MB" }.joined(separator: " + "))"
        )
        return Result(
            p50: Bench.percentile(all, 0.5), p99: Bench.percentile(all, 0.99),
            localP50: Bench.percentile(local, 0.5), localP99: Bench.percentile(local, 0.99),
            remoteP50: Bench.percentile(remote, 0.5), remoteP99: Bench.percentile(remote, 0.99),
            delivered: all.count, expected: expected, replicaCPUSeconds: cpu, replicaRSSMB: rss, seconds: seconds,
            connectSeconds: connectSeconds, requests: requests, answeredPerChange: answered, strayAnswers: stray,
            isolated: stray == 0 && answered.allSatisfy { $0 == members }, slowest: slowest,
            adminP50: Bench.percentile(adminLatencies, 0.5), adminP99: Bench.percentile(adminLatencies, 0.99),
            threads: threads)
    }

    /// An admin request, tried again while no connection could be made (it never left, so it
    /// cannot have been carried out), for up to 60 s.
    static func connecting<T>(_ body: () async throws -> T) async throws -> T {
        let deadline = Bench.now() + 60_000
        while true {
            do { return try await body() } catch ControllerClientError.notConnected(let url, let why) {
                guard Bench.now() < deadline else { throw ControllerClientError.notConnected(url, why) }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// One simulated agent: signed plan requests, the plan's signature checked, until `stop`.
    static func agentLoop(
        _ agent: SimulatedAgent, client: ControllerClient, wait: Int, controllerKey: [UInt8], log: DeliveryLog,
        stop: StopFlag
    ) async {
        let longPoll = wait > 0
        var after: Int64 = 0
        if !longPoll { try? await Task.sleep(for: .milliseconds(Int.random(in: 0..<1000))) }
        while !stop.isSet && !Task.isCancelled {
            let path = "\(AgentPaths.plan)?after=\(after)&wait=\(wait)"
            let started = Bench.now()
            let headers = AgentSignature.headers(
                identity: agent.identity, node: agent.node, method: "GET", pathAndQuery: path, body: [])
            guard
                let reply = try? await client.send(
                    method: "GET", pathAndQuery: path, headers: headers, timeout: .seconds(40))
            else {
                if stop.isSet { return }
                log.failed()
                // Spread the retries: a burst of failures must not come back as one burst.
                try? await Task.sleep(for: .milliseconds(Int.random(in: 200..<1200)))
                continue
            }
            log.request()
            if reply.status == 200,
                let signed = try? JSONDecoder().decode(SignedPlan.self, from: Data(reply.body)),
                (try? signed.open(controllerKey: controllerKey, expectedNode: agent.node)) != nil
            {
                after = signed.revision
                log.delivered(node: agent.node, network: agent.network, revision: signed.revision, at: Bench.now())
            }
            if !longPoll {
                let left = 1000 - (Bench.now() - started)
                if left > 0 { try? await Task.sleep(for: .milliseconds(Int(left))) }
            }
        }
    }
}

/// Plans received by the simulated agents.
final class DeliveryLog: Sendable {
    struct Entry { var node: String, network: String, revision: Int64, at: Double }
    private struct State {
        var entries: [Entry] = []
        var first: [String: [(Int64, Double)]] = [:]
        var served = 0
        var failed = 0
    }
    private let state = Mutex(State())

    func delivered(node: String, network: String, revision: Int64, at: Double) {
        state.withLock {
            $0.entries.append(Entry(node: node, network: network, revision: revision, at: at))
            $0.first[node, default: []].append((revision, at))
        }
    }
    func request() { state.withLock { $0.served += 1 } }
    func failed() { state.withLock { $0.failed += 1 } }
    var failures: Int { state.withLock { $0.failed } }
    var requests: Int { state.withLock { $0.served } }
    var count: Int { state.withLock { $0.entries.count } }
    var nodesWithPlans: Int { state.withLock { $0.first.count } }
    func since(_ index: Int) -> [Entry] { state.withLock { Array($0.entries[index...]) } }
    func firstDelivery(node: String, atLeast revision: Int64) -> Double? {
        state.withLock { $0.first[node]?.first { $0.0 >= revision }?.1 }
    }
}

final class StopFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// How to start one `overlayd serve`: its database and any further options (key, certificate),
/// and which binary (the one beside this benchmark unless told).
struct OverlaydLaunch: Sendable {
    var arguments: [String]
    var binary = Self.besideBenchmark

    /// `overlayd` beside this benchmark's binary.
    static var besideBenchmark: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("overlayd")
            .path
    }

    /// The `serve` options that `binary` knows: an older build (a baseline) may lack the
    /// connection limits, and predate HTTPS and so `--plain-http`.
    func serveOptions() throws -> Set<String> {
        let help = try Bench.run([binary, "serve", "--help"]).output
        return Set(
            help.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," }).filter { $0.hasPrefix("--") }.map(
                String.init))
    }
}

/// `overlayd serve` as a child process on a free loopback port.
final class OverlaydProcess: @unchecked Sendable {
    let process = Process()
    private(set) var url = ""
    private(set) var controllerKey = ""
    /// The certificate it serves (nil over plain HTTP).
    private(set) var fingerprint: CertificateFingerprint?

    /// - Parameter tls: HTTPS (the launch's certificate, or the self-signed one beside a SQLite
    ///   database), else plain HTTP (loopback).
    init(launch: OverlaydLaunch, tls: Bool) throws {
        let binary = launch.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw BenchError("\(binary) is not built") }
        process.executableURL = URL(fileURLWithPath: binary)
        let known = try launch.serveOptions()
        var arguments = ["serve"] + launch.arguments + ["--listen", "127.0.0.1:0", "--log-level", "notice"]
        // Every simulated agent connects from 127.0.0.1: one source, so its budget is the whole.
        // A build without these limits has none.
        if known.contains("--connections-per-source") {
            arguments += ["--connections-per-source", "100000", "--max-connections", "100000"]
        }
        // A build without --plain-http serves nothing but plain HTTP.
        if !tls && known.contains("--plain-http") {
            arguments.append("--plain-http")
        } else if tls && !known.contains("--plain-http") {
            throw BenchError("\(binary) serves plain HTTP only: it cannot run an HTTPS phase")
        }
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Read the log until the listening line names the port and the key.
        var text = ""
        let handle = err.fileHandleForReading
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.contains("overlayd listening") }) {
                for part in line.split(separator: " ") {
                    if part.hasPrefix("url=") { url = String(part.dropFirst("url=".count)) }
                    // A build before HTTPS names the address only.
                    if part.hasPrefix("address="), url.isEmpty, !tls {
                        url = "http://" + part.dropFirst("address=".count)
                    }
                    if part.hasPrefix("fingerprint=") {
                        fingerprint = try? CertificateFingerprint(parsing: String(part.dropFirst("fingerprint=".count)))
                    }
                    if part.hasPrefix("controllerKey=") {
                        controllerKey = String(part.dropFirst("controllerKey=".count))
                    }
                }
                break
            }
        }
        guard !url.isEmpty, !tls || fingerprint != nil else {
            stop()
            throw BenchError("overlayd did not start: \(text)")
        }
        // Keep draining its log so it never blocks on a full pipe.
        handle.readabilityHandler = { h in _ = h.availableData }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// User + system CPU time of overlayd so far (seconds).
    func cpuSeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Fields 14 and 15 of the whole line: utime, stime (clock ticks); here offset by the first two.
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Peak resident set of overlayd (VmHWM), in MB.
    func peakRSSMB() -> Double { statusField("VmHWM:") / 1024 }

    /// Resident set of overlayd now (VmRSS), in MB.
    func residentMB() -> Double { statusField("VmRSS:") / 1024 }

    /// Threads of overlayd now.
    func threads() -> Int { Int(statusField("Threads:")) }

    /// A number from /proc/PID/status (0 when it cannot be read).
    private func statusField(_ name: String) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
            let value = Double(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
        else { return 0 }
        return value
    }
}
