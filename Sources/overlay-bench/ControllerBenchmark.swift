import Foundation
import Glibc
import OverlayAPI
import OverlayController
import OverlayCrypto
import OverlayHTTPClient
import OverlayModel
import OverlayProtocol
import Synchronization

/// 1,000 simulated agents, each with its own node identity, against a real `overlayd` (a child
/// process on loopback) while networks change. Phase 1: agents long-poll (the product). Phase 2,
/// the baseline: the same agents poll every second (periodic polling, innernet-style). Each phase
/// runs its own overlayd on the same database, so CPU time and peak memory are the controller's.
func runControllerBenchmark() async throws {
    let networks = 100
    let perNetwork = 10
    let changes = 20
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("overlay-bench-controller-\(getpid())").path
    try? FileManager.default.removeItem(atPath: dir)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let db = dir + "/controller.db"

    // The desired state, written directly: 100 networks of 10 public nodes, one workload each,
    // and one spare node that each change attaches to one network (a new peer for every member).
    let setup = Bench.now()
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
                .init(name: name, identity: id.publicKeyBase64, publicAddresses: ["198.18.\(i / 250).\(i % 250 + 1)"]))
            try controller.addWorkload(name: "w-\(i)", network: net, node: name)
            agents.append(SimulatedAgent(node: name, network: net, identity: id))
        }
    }
    try controller.addNode(
        .init(name: "spare", identity: Ed25519Identity.generate().publicKeyBase64, publicAddresses: ["198.18.200.1"]))
    let token = try controller.createAdminToken(name: "bench").token
    print(
        "controller: \(agents.count) agents (\(networks) networks x \(perNetwork) nodes), setup \(Bench.fmt((Bench.now() - setup) / 1000)) s"
    )

    let overlayd = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
        "overlayd"
    ).path
    var results: [ControllerPhase.Result] = []
    // Long-poll and periodic over HTTPS (the default), then long-poll over plain HTTP: the cost of TLS.
    for (mode, tls) in [(ControllerPhase.Mode.longPoll, true), (.periodic, true), (.longPoll, false)] {
        let phase = ControllerPhase(
            mode: mode, tls: tls, overlayd: overlayd, db: db, token: token, agents: agents, changes: changes,
            networkOf: { "net-\(($0 * 37) % networks)" })
        results.append(try await phase.run(round: results.count))
    }
    let (lp, pp, plain) = (results[0], results[1], results[2])
    print("")
    print("                          long-poll   periodic 1 s   ratio")
    func row(_ label: String, _ a: Double, _ b: Double, _ unit: String, digits: Int = 1) {
        let ratio = a > 0 ? b / a : 0
        print(
            label.padding(toLength: 26, withPad: " ", startingAt: 0)
                + (Bench.fmt(a, digits) + unit).padding(toLength: 12, withPad: " ", startingAt: 0)
                + (Bench.fmt(b, digits) + unit).padding(toLength: 15, withPad: " ", startingAt: 0)
                + "\(Bench.fmt(ratio, 1))x")
    }
    row("delivery p50", lp.p50, pp.p50, " ms")
    row("delivery p99", lp.p99, pp.p99, " ms")
    row("controller CPU", lp.cpuSeconds, pp.cpuSeconds, " s", digits: 2)
    row(
        "controller CPU per second", lp.cpuSeconds / lp.seconds * 1000, pp.cpuSeconds / pp.seconds * 1000, " ms",
        digits: 0)
    row("controller peak RSS", lp.peakRSSMB, pp.peakRSSMB, " MB")
    row("requests served", Double(lp.requests), Double(pp.requests), "", digits: 0)
    print(
        "long-poll: every change answered only its network's \(perNetwork) agents: \(lp.isolated ? "yes" : "NO") "
            + "(answered per change: \(lp.answeredPerChange.map(String.init).joined(separator: ",")); other networks: \(lp.strayAnswers))"
    )
    print("long-poll slowest delivery per change (ms): \(lp.slowest.map { Bench.fmt($0, 0) }.joined(separator: ","))")
    print("")
    print("the cost of TLS (long-poll)   plain HTTP   HTTPS        ratio")
    func tlsRow(_ label: String, _ http: Double, _ https: Double) {
        print(
            label.padding(toLength: 30, withPad: " ", startingAt: 0)
                + (Bench.fmt(http, 2) + " ms").padding(toLength: 13, withPad: " ", startingAt: 0)
                + (Bench.fmt(https, 2) + " ms").padding(toLength: 13, withPad: " ", startingAt: 0)
                + "\(Bench.fmt(http > 0 ? https / http : 0, 2))x")
    }
    tlsRow("delivery p50", plain.p50, lp.p50)
    tlsRow("delivery p99", plain.p99, lp.p99)
    tlsRow("admin network list p50", plain.adminP50, lp.adminP50)
    tlsRow("admin network list p99", plain.adminP99, lp.adminP99)
    tlsRow("controller CPU", plain.cpuSeconds * 1000, lp.cpuSeconds * 1000)
    print(
        "(phases \(Bench.fmt(lp.seconds)) s and \(Bench.fmt(pp.seconds)) s; latency from sending the admin command to the agent holding the new plan;"
            + " bench process peak RSS \(Bench.fmt(Bench.peakRSSMB())) MB)")
}

struct SimulatedAgent: Sendable {
    var node: String
    var network: String
    var identity: Ed25519Identity
}

/// One run of overlayd with all agents connected, `changes` changes made one after another.
struct ControllerPhase {
    enum Mode { case longPoll, periodic }
    var mode: Mode
    /// HTTPS (the default) or plain HTTP on loopback.
    var tls = true
    var overlayd: String
    var db: String
    var token: String
    var agents: [SimulatedAgent]
    var changes: Int
    var networkOf: (Int) -> String

    struct Result {
        var p50: Double, p99: Double, cpuSeconds: Double, peakRSSMB: Double, seconds: Double
        var requests: Int
        var answeredPerChange: [Int]
        var strayAnswers: Int
        var isolated: Bool
        var slowest: [Double]
        /// Admin `network list` round trips, one after another on an open connection (ms).
        var adminP50: Double, adminP99: Double
    }

    func run(round: Int) async throws -> Result {
        let server = try OverlaydProcess(binary: overlayd, db: db, tls: tls)
        defer { server.stop() }
        let client = try ControllerClient(
            baseURL: server.url, maxConnections: agents.count + 16,
            trust: server.fingerprint.map { .pinned([$0]) } ?? .system)
        let admin = RemoteAdmin(client: client, token: token)
        // One request first: over HTTPS it checks the pinned certificate once, not once per agent.
        _ = try await client.send(method: "GET", pathAndQuery: "/healthz")
        let log = DeliveryLog()
        let stop = StopFlag()
        let controllerKey = try await pinnedKey(server: server, client: client)

        // Agents start, take their current plan, then wait (long-poll) or poll every second.
        let longPoll = mode == .longPoll
        let tasks = agents.map { agent in
            Task { [client, log, stop, controllerKey] in
                var after: Int64 = 0
                if !longPoll { try? await Task.sleep(for: .milliseconds(Int.random(in: 0..<1000))) }
                while !stop.isSet {
                    let wait = longPoll ? 30 : 0
                    let path = "\(AgentPaths.plan)?after=\(after)&wait=\(wait)"
                    let started = Bench.now()
                    let headers = AgentSignature.headers(
                        identity: agent.identity, node: agent.node, method: "GET", pathAndQuery: path, body: [])
                    guard
                        let reply = try? await client.send(
                            method: "GET", pathAndQuery: path, headers: headers, timeout: .seconds(40))
                    else {
                        if stop.isSet { return }
                        try? await Task.sleep(for: .milliseconds(200))
                        continue
                    }
                    log.request()
                    if reply.status == 200,
                        let signed = try? JSONDecoder().decode(SignedPlan.self, from: Data(reply.body)),
                        (try? signed.open(controllerKey: controllerKey, expectedNode: agent.node)) != nil
                    {
                        after = signed.revision
                        log.delivered(
                            node: agent.node, network: agent.network, revision: signed.revision, at: Bench.now())
                    }
                    if !longPoll {
                        let left = 1000 - (Bench.now() - started)
                        if left > 0 { try? await Task.sleep(for: .milliseconds(Int(left))) }
                    }
                }
            }
        }
        // Everyone holds a plan before the clock starts.
        while log.nodesWithPlans < agents.count { try await Task.sleep(for: .milliseconds(50)) }
        try await Task.sleep(for: .milliseconds(mode == .periodic ? 1200 : 300))
        // The admin's connection is open before the clock starts (as an operator's would be).
        _ = try await admin.networks()
        let cpu0 = server.cpuSeconds()
        let requests0 = log.requests
        let t0 = Bench.now()
        var latencies: [Double] = []
        var answered: [Int] = []
        var stray = 0
        var slowest: [Double] = []
        for c in 0..<changes {
            let network = networkOf(c + round * changes)
            let members = agents.filter { $0.network == network }.map(\.node)
            let before = log.count
            let sent = Bench.now()
            // attach spare to this network (detaching it from the last one would wake that one too)
            let change = try await admin.attach(network: network, node: "spare")
            var got: [String: Double] = [:]
            let deadline = Bench.now() + 5000
            while got.count < members.count && Bench.now() < deadline {
                for m in members where got[m] == nil {
                    if let t = log.firstDelivery(node: m, atLeast: change.revision) { got[m] = t }
                }
                if got.count < members.count { try await Task.sleep(for: .milliseconds(2)) }
            }
            latencies += got.values.map { $0 - sent }
            slowest.append(got.values.map { $0 - sent }.max() ?? 0)
            // Let any wrongly woken agent show up before counting.
            try await Task.sleep(for: .milliseconds(mode == .longPoll ? 150 : 500))
            let new = log.since(before)
            answered.append(new.filter { $0.network == network }.count)
            stray += new.filter { $0.network != network }.count
        }
        let seconds = (Bench.now() - t0) / 1000
        let cpu = server.cpuSeconds() - cpu0
        let requests = log.requests - requests0
        // Admin latency with every agent connected (long-polls held, or polling).
        var adminLatencies: [Double] = []
        for _ in 0..<200 {
            let sent = Bench.now()
            _ = try await admin.networks()
            adminLatencies.append(Bench.now() - sent)
        }
        stop.set()
        for t in tasks { t.cancel() }
        let rss = server.peakRSSMB()
        server.stop()
        for t in tasks { _ = await t.value }
        try? await client.shutdown()
        let members = agents.count / Set(agents.map(\.network)).count
        print(
            "\(mode == .longPoll ? "long-poll" : "periodic 1 s") over \(tls ? "HTTPS" : "plain HTTP"): \(changes) changes in \(Bench.fmt(seconds)) s, "
                + "\(latencies.count)/\(changes * members) deliveries, p50 \(Bench.fmt(Bench.percentile(latencies, 0.5))) ms, "
                + "p99 \(Bench.fmt(Bench.percentile(latencies, 0.99))) ms, controller CPU \(Bench.fmt(cpu, 2)) s, peak RSS \(Bench.fmt(rss)) MB"
        )
        return Result(
            p50: Bench.percentile(latencies, 0.5), p99: Bench.percentile(latencies, 0.99), cpuSeconds: cpu,
            peakRSSMB: rss,
            seconds: seconds, requests: requests, answeredPerChange: answered, strayAnswers: stray,
            isolated: stray == 0 && answered.allSatisfy { $0 == members }, slowest: slowest,
            adminP50: Bench.percentile(adminLatencies, 0.5), adminP99: Bench.percentile(adminLatencies, 0.99))
    }

    /// The controller key, as an agent pins it (read from overlayd's log line).
    func pinnedKey(server: OverlaydProcess, client: ControllerClient) async throws -> [UInt8] {
        guard let k = Data(base64Encoded: server.controllerKey) else {
            throw BenchError("no controller key in overlayd's log")
        }
        return Array(k)
    }
}

/// Plans received by the simulated agents.
final class DeliveryLog: Sendable {
    struct Entry { var node: String, network: String, revision: Int64, at: Double }
    private struct State {
        var entries: [Entry] = []
        var first: [String: [(Int64, Double)]] = [:]
        var served = 0
    }
    private let state = Mutex(State())

    func delivered(node: String, network: String, revision: Int64, at: Double) {
        state.withLock {
            $0.entries.append(Entry(node: node, network: network, revision: revision, at: at))
            $0.first[node, default: []].append((revision, at))
        }
    }
    func request() { state.withLock { $0.served += 1 } }
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

/// `overlayd serve` as a child process on a free loopback port.
final class OverlaydProcess: @unchecked Sendable {
    let process = Process()
    private(set) var url = ""
    private(set) var controllerKey = ""
    /// The certificate it serves (nil over plain HTTP).
    private(set) var fingerprint: CertificateFingerprint?

    /// - Parameter tls: HTTPS with the self-signed certificate beside the database, else plain
    ///   HTTP (loopback).
    init(binary: String, db: String, tls: Bool) throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw BenchError("\(binary) is not built") }
        process.executableURL = URL(fileURLWithPath: binary)
        // Every simulated agent connects from 127.0.0.1: one source, so its budget is the whole.
        process.arguments =
            [
                "serve", "--db", db, "--listen", "127.0.0.1:0", "--log-level", "notice",
                "--connections-per-source", "100000", "--max-connections", "100000",
            ] + (tls ? [] : ["--plain-http"])
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Read the log until the listening line names the port and the key.
        var text = ""
        let handle = err.fileHandleForReading
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.contains("overlayd listening") }) {
                for part in line.split(separator: " ") {
                    if part.hasPrefix("url=") { url = String(part.dropFirst("url=".count)) }
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
    func peakRSSMB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kb / 1024
    }
}
