import Foundation
import OverlayController
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import OverlayStore

/// Issue figures: full plans for a 5,000-member network (10 % hidden, 4 hubs) against the naive
/// full-mesh generator, and adding one member to that network through the store.
func runPlansBenchmark(members: Int = 5000) throws {
    // For quick iterations on the store and the re-plan: only the second part.
    if ProcessInfo.processInfo.environment["OVERLAY_BENCH_ADD_ONLY"] == "1" {
        return try runAddMemberBenchmark(members: members)
    }
    print("== plans: one network of \(members) members (10% hidden, 4 hubs)")
    let network = Network(name: "bench", id: "0badcafe", prefix: IPv6Prefix("fd42:4242:4242::/48")!)
    let identity = Ed25519Identity.generate()
    var nodes: [Node] = []
    var snapshotMembers: [NetworkSnapshot.Member] = []
    let sealed = try SealedBox.seal(X25519.generateKeyPair().privateKey, toIdentity: identity.publicKey)
    for i in 0..<members {
        let hidden = i % 10 == 9
        let hub = i < 4
        let addr: [IPAddress] = hidden ? [] : [.v6(IPv6Address("2001:db8::")!.adding(UInt64(i + 1)))]
        let node = Node(name: "node-\(i)", identity: identity.publicKey, publicAddresses: addr, hub: hub)
        nodes.append(node)
        // Sealing a fresh key per member costs setup time only; one sealed blob stands in for all.
        snapshotMembers.append(
            .init(
                node: node,
                membership: Membership(
                    network: network.name, node: node.name, subnetID: UInt16(i + 1),
                    publicKey: X25519.generateKeyPair().publicKey,
                    sealedPrivateKey: sealed, listenPort: 51820)))
    }
    let snapshot = NetworkSnapshot(network: network, members: snapshotMembers)

    var ours: [Double] = []
    var bytes = 0
    for _ in 0..<3 {
        bytes = 0
        ours.append(
            try Bench.time {
                let planned = try PlannedNetwork(snapshot)
                let renderer = try PlanRenderer(planned, revision: 1)
                var buffer: [UInt8] = []
                buffer.reserveCapacity(2 << 20)
                for n in nodes {
                    buffer.removeAll(keepingCapacity: true)
                    try renderer.render(node: n, into: &buffer)
                    bytes += buffer.count
                }
            })
    }
    // The spliced output decodes to the plan encoded whole, for a sample of members of each kind.
    let planned = try PlannedNetwork(snapshot)
    let renderer = try PlanRenderer(planned, revision: 1)
    for n in nodes.enumerated().filter({ $0.offset % 97 == 0 }).map(\.element) {
        var buffer: [UInt8] = []
        try renderer.render(node: n, into: &buffer)
        let i = planned.topology.indexByName[n.name]!
        let resource = planned.resource(index: i, membership: planned.membership(index: i), peers: true)
        let whole = NodePlan(
            node: n.name, revision: 1, hostFirewall: HostFirewallPlan(wireguardPorts: [resource.listenPort]),
            networks: [resource], gateway: nil)
        guard try JSONDecoder().decode(NodePlan.self, from: Data(buffer)) == whole else {
            throw BenchError("the rendered plan of \(n.name) differs from the plan encoded whole")
        }
    }
    let rss = Bench.peakRSSMB()
    let naive = try Bench.run([
        "/usr/bin/python3", Baselines.directory + "/mesh_naive.py", String(members), "naive-discard",
    ])
    let naiveTotal =
        naive.output.split(separator: " ").first { $0.hasPrefix("total_s=") }.flatMap { Double($0.dropFirst(8)) } ?? 0
    let naiveRender =
        naive.output.split(separator: " ").first { $0.hasPrefix("render_s=") }.flatMap { Double($0.dropFirst(9)) } ?? 0
    let m = Bench.median(ours)
    print(
        "full plans, all \(members) nodes rendered as JSON (\(bytes / 1_000_000) MB): planner \(Bench.fmt(m)) ms (median of 3), peak RSS \(Bench.fmt(rss, 0)) MB"
    )
    print(
        "  naive mesh_naive.py \(members) naive-discard: render \(Bench.fmt(naiveRender * 1000)) ms, whole script \(Bench.fmt(naive.ms)) ms (total_s \(naiveTotal))"
    )
    print(
        "  ratio (naive render / planner): \(Bench.fmt(naiveRender * 1000 / m))x; (naive whole script / planner): \(Bench.fmt(naive.ms / m))x"
    )

    try runAddMemberBenchmark(members: members)
}

/// Builds the same network in a real SQLite file, then times `network attach` of new nodes:
/// one transaction that allocates, seals a key, re-plans and marks touched nodes.
func runAddMemberBenchmark(members: Int) throws {
    let dir = NSTemporaryDirectory() + "overlay-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let controller = try Controller(databasePath: dir + "/bench.db")
    try controller.createNetwork(name: "bench", prefix: "fd42:4242:4242::/48", noIPv4: true)
    let identity = Ed25519Identity.generate()
    let setup = try Bench.time {
        try controller.store.write { tx in
            for i in 0..<members {
                let hidden = i % 10 == 9
                let node = Node(
                    name: "node-\(i)", identity: Array(Digest.blake2b(Array("id\(i)".utf8))),
                    publicAddresses: hidden ? [] : [.v6(IPv6Address("2001:db8::")!.adding(UInt64(i + 1)))],
                    hub: i < 4)
                try tx.insert(node)
                let (sk, pk) = X25519.generateKeyPair()
                try tx.insert(
                    Membership(
                        network: "bench", node: node.name, subnetID: UInt16(i + 1), publicKey: pk,
                        sealedPrivateKey: try SealedBox.seal(sk, toIdentity: identity.publicKey),
                        listenPort: 51820), pinned: true)
            }
        }
    }
    print("add one member to the \(members)-member network (store: SQLite WAL; setup \(Bench.fmt(setup / 1000)) s)")
    let sample = "node-10"
    var times: [Double] = []
    var touched = 0
    var deltas: [String] = []
    for k in 0..<7 {
        let name = "extra-\(k)"
        try controller.addNode(
            .init(
                name: name, identity: Ed25519Identity.generate().publicKeyBase64,
                publicAddresses: ["2001:db8:1::\(k + 1)"]))
        let before = try controller.plan(node: sample)
        var change: Controller.Change?
        times.append(try Bench.time { change = try controller.attach(network: "bench", node: name) })
        touched = change!.touchedNodes.count
        let after = try controller.plan(node: sample)
        let d = PlanDelta(from: before, to: after)
        deltas.append(d.summary.description)
        if k == 0 {
            let full = try JSONEncoder().encode(after).count
            let deltaBytes = try JSONEncoder().encode(d.networks.flatMap(\.peersAdded)).count
            print(
                "  what \(sample) receives: \(d.summary.description) (\(deltaBytes) bytes of delta vs \(full / 1024) KB full plan)"
            )
        }
    }
    print(
        "  transaction + re-plan: median \(Bench.fmt(Bench.median(times))) ms, max \(Bench.fmt(times.max() ?? 0)) ms over \(times.count) adds (goal < 20 ms); nodes whose plan changed: \(touched)"
    )
    print(
        "  every sampled delta: \(Set(deltas).sorted().joined(separator: " | "))  peak RSS \(Bench.fmt(Bench.peakRSSMB(), 0)) MB"
    )
}

/// Reads one 5,000-member snapshot repeatedly, for profiling the store's decoding.
func runSnapshotProbe() throws {
    let dir = NSTemporaryDirectory() + "overlay-probe-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let controller = try Controller(databasePath: dir + "/p.db")
    try controller.createNetwork(name: "bench", prefix: "fd42:4242:4242::/48", noIPv4: true)
    let identity = Ed25519Identity.generate()
    try controller.store.write { tx in
        for i in 0..<5000 {
            let node = Node(
                name: "node-\(i)", identity: Array(Digest.blake2b(Array("id\(i)".utf8))),
                publicAddresses: i % 10 == 9 ? [] : [.v6(IPv6Address("2001:db8::")!.adding(UInt64(i + 1)))], hub: i < 4)
            try tx.insert(node)
            let (sk, pk) = X25519.generateKeyPair()
            try tx.insert(
                Membership(
                    network: "bench", node: node.name, subnetID: UInt16(i + 1), publicKey: pk,
                    sealedPrivateKey: try SealedBox.seal(sk, toIdentity: identity.publicKey), listenPort: 51820),
                pinned: true)
        }
    }
    var times: [Double] = []
    for _ in 0..<(ProcessInfo.processInfo.environment["PROBE_N"].flatMap { Int($0) } ?? 20) {
        times.append(try Bench.time { _ = try controller.store.read { try $0.snapshot(network: "bench") } })
    }
    print("snapshot of 5000 members: median \(Bench.fmt(Bench.median(times), 2)) ms")
}
