import Foundation
import Glibc
import Netlink
import OverlayModel
import WireGuard

/// WireGuard peer programming with 1,000 peers: the library against the baseline `wg setconf`
/// (shared/baselines/bench_wg.sh), side by side in one run, on wireguard-go (UAPI) or, with
/// WG_BENCH_BACKEND=kernel, on the kernel's WireGuard (generic netlink; `make bench-kernel` runs
/// it in the VM, as this machine's kernel has no WireGuard).
///
///  (a) one peer changes: library apply of that peer (and a full read + diff + apply) vs
///      `wg setconf` with the changed file
///  (b) the first 1,000 peers onto an empty interface: library vs `wg setconf`
///  (c) reading the device back: library vs `wg show IF dump`
///
/// Runs in a namespace and with names of its own (`ob-*`, `obwg*`), removed at the end. The kernel
/// mode runs itself again under `unshare --net`, so the library and `wg` both work in a namespace
/// that goes away with the process. WG_BENCH_PEERS and WG_BENCH_RUNS override the defaults (1000, 11). WG_BENCH_PARSE=1 also
/// times the library's own share (building a request, parsing a reply, diffing) without
/// wireguard-go; WG_BENCH_PARSE=only does just that.
func runWireGuardBenchmark() throws {
    let env = ProcessInfo.processInfo.environment
    let peerCount = env["WG_BENCH_PEERS"].flatMap(Int.init) ?? 1000
    let runs = env["WG_BENCH_RUNS"].flatMap(Int.init) ?? 11
    let kernel: Bool
    switch env["WG_BENCH_BACKEND"] ?? "userspace" {
    case "userspace": kernel = false
    case "kernel": kernel = true
    case let other: throw BenchError("WG_BENCH_BACKEND '\(other)': expected userspace or kernel")
    }
    if kernel && env["WG_BENCH_IN_NETNS"] != "1" {
        setenv("WG_BENCH_IN_NETNS", "1", 1)
        // Our own path: /proc/self/exe read by `unshare` would be `unshare`.
        let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let status = try spawn(["unshare", "--net", me] + CommandLine.arguments.dropFirst())
        guard status == 0 else { throw BenchError("kernel WireGuard benchmark failed (status \(status))") }
        return
    }
    let bench = try WireGuardBench(peerCount: peerCount, kernel: kernel)
    defer { bench.tearDown() }
    // Ctrl-C or a timeout must not leave the namespace and wireguard-go behind.
    var sources: [any DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            bench.tearDown()
            exit(128 + sig)
        }
        source.resume()
        sources.append(source)
    }
    defer { for source in sources { source.cancel() } }
    if env["WG_BENCH_PARSE"] != nil { try bench.parseOnly(runs: runs) }
    if env["WG_BENCH_PARSE"] == "only" { return }
    try bench.run(runs: runs)
}

/// Used from the main thread, and from a signal handler only to tear down before exiting.
private final class WireGuardBench: @unchecked Sendable {
    let id = String(format: "%06x", UInt32.random(in: 0..<0x100_0000))
    var namespace: String { "ob-\(id)" }
    var interface: String { "obwg\(id)" }
    let peerCount: Int
    let directory: URL
    /// Kernel mode: this process is alone in its network namespace (see above).
    let kernel: Bool
    let backend: any WireGuardBackend
    let privateKey: SecretKey
    var peers: [PeerConfig] = []
    var namespaceCreated = false
    var interfaceCreated = false

    init(peerCount: Int, kernel: Bool) throws {
        self.peerCount = peerCount
        self.kernel = kernel
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("overlay-bench-wg-\(id)")
        if kernel {
            backend = try KernelWireGuard.system()
        } else {
            var options = UserspaceWireGuard.Options()
            options.launcher = ["ip", "netns", "exec", "ob-\(id)"]
            backend = UserspaceWireGuard(options: options)
        }
        privateKey = SecretKey(count: 32)
        privateKey.withMutableBytes { for i in 0..<32 { $0[i] = UInt8.random(in: 0...255) } }
        // Any 32 bytes is a usable X25519 public key; wireguard-go does its per-peer work all the same.
        peers = (1...peerCount).map { i in
            PeerConfig(
                publicKey: WireGuardKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!,
                endpoint: Endpoint("127.0.0.1:\(20000 + i % 40000)"),
                allowedIPs: [IPPrefix("fd00::\(String(i, radix: 16))/128")!])
        }
    }

    func tearDown() {
        if interfaceCreated { try? backend.deleteInterface(interface) }
        if namespaceCreated { _ = try? command(["ip", "netns", "del", namespace]) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The changed peer: its AllowedIPs gain a prefix.
    var changedIndex: Int { peerCount / 2 }
    var changedPeer: PeerConfig {
        var p = peers[changedIndex]
        p.allowedIPs.append(IPPrefix("fd01::\(String(changedIndex + 1, radix: 16))/128")!)
        return p
    }

    func run(runs: Int) throws {
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let empty = try writeConf("wg_0.conf", peers: [])
        let full = try writeConf("wg_\(peerCount).conf", peers: peers)
        var changed = peers
        changed[changedIndex] = changedPeer

        if kernel {
            try backend.createInterface(interface)
            interfaceCreated = true
            try NetlinkHandle().linkSetUp(.name(interface))
            print(
                "wg: kernel WireGuard on \(interface) in a namespace of its own, \(peerCount) peers, \(runs) runs each (median)"
            )
        } else {
            try command(["ip", "netns", "add", namespace])
            namespaceCreated = true
            try command(["ip", "-n", namespace, "link", "set", "lo", "up"])
            try backend.createInterface(interface)
            interfaceCreated = true
            try command(["ip", "-n", namespace, "link", "set", interface, "up"])
            let pid = (backend as? UserspaceWireGuard)?.instance(interface)?.pid ?? 0
            print(
                "wg: wireguard-go \(pid) on \(interface) in \(namespace), \(peerCount) peers, \(runs) runs each (median)"
            )
        }

        // (b) first N peers onto an empty interface.
        let first = DeviceChange(privateKey: privateKey, listenPort: 51820, peers: peers.map { .add($0) })
        var libFresh: [Double] = []
        var wgFresh: [Double] = []
        for i in 0..<(runs + 1) {
            // Alternate which goes first, so neither always follows the same removal.
            var l = 0.0
            var w = 0.0
            for libraryTurn in (i % 2 == 0 ? [true, false] : [false, true]) {
                try wg(["setconf", interface, empty])
                if libraryTurn {
                    l = try time { try backend.apply(first, to: interface) }
                } else {
                    w = try time { try wg(["setconf", interface, full]) }
                }
            }
            if i > 0 {
                libFresh.append(l)
                wgFresh.append(w)
            }  // first round is warm-up
        }

        // Now holding the N peers; check both paths produced the same device.
        let viaWg = try backend.device(interface)
        try backend.apply(DeviceChange(replacePeers: true), to: interface)
        try backend.apply(first, to: interface)
        let viaLibrary = try backend.device(interface)
        guard Set(viaWg.peers.map(\.config)) == Set(viaLibrary.peers.map(\.config)), viaLibrary.peers.count == peerCount
        else { throw BenchError("library and wg setconf left different peers") }

        // (a) one peer changes. Every timed step really changes that peer: the library moves it
        // to the changed version, then `wg setconf` with a file that differs from the live
        // state in that one peer (the original file) moves it back.
        let toChanged = DeviceChange(peers: [
            .update(
                PeerUpdate(
                    publicKey: changedPeer.publicKey, allowedIPs: changedPeer.allowedIPs))
        ])
        let desiredChanged = DeviceConfig(privateKey: privateKey, listenPort: 51820, peers: changed)
        var libApply: [Double] = []
        var libSync: [Double] = []
        var wgChange: [Double] = []
        for i in 0..<(runs + 1) {
            let a = try time { try backend.apply(toChanged, to: interface) }
            let w1 = try time { try wg(["setconf", interface, full]) }
            var sent = DeviceChange()
            let s = try time { sent = try backend.sync(interface, to: desiredChanged) }
            guard sent.peers.count == 1, !sent.hasDeviceFields else {
                throw BenchError("sync sent \(sent.peers.count) peers, device fields \(sent.hasDeviceFields)")
            }
            let w2 = try time { try wg(["setconf", interface, full]) }
            if i > 0 {
                libApply.append(a)
                libSync.append(s)
                wgChange.append(w1)
                wgChange.append(w2)
            }
        }

        // (c) read back.
        var libRead: [Double] = []
        var wgRead: [Double] = []
        for i in 0..<(runs + 1) {
            var d: Device?
            let l = try time { d = try backend.device(interface) }
            guard d?.peers.count == peerCount else { throw BenchError("read back \(d?.peers.count ?? 0) peers") }
            let w = try time { try wg(["show", interface, "dump"]) }
            if i > 0 {
                libRead.append(l)
                wgRead.append(w)
            }
        }

        let rss = peakRSSMegabytes()
        report("one-peer change", "library", libApply, "wg setconf", wgChange, rss)
        report("one-peer sync (read+diff+apply)", "library", libSync, "wg setconf", wgChange, rss)
        report("first \(peerCount) peers", "library", libFresh, "wg setconf", wgFresh, rss)
        report("read back", "library", libRead, "wg show dump", wgRead, rss)
    }

    /// The library's own work on N peers, without wireguard-go: parse a `get` reply shaped like
    /// wireguard-go's, build the first set request, diff a no-op.
    func parseOnly(runs: Int) throws {
        var reply = "private_key=\(String(repeating: "ab", count: 32))\nlisten_port=51820\n"
        for p in peers {
            reply +=
                "public_key=\(p.publicKey.hex)\npreshared_key=\(String(repeating: "0", count: 64))\nprotocol_version=1\nendpoint=\(p.endpoint!)\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\nallowed_ip=\(p.allowedIPs[0])\n"
        }
        reply += "errno=0\n\n"
        let bytes = Array(reply.utf8)
        var parse: [Double] = []
        for _ in 0..<runs { parse.append(try time { _ = try UAPI.parseDevice(bytes, name: interface) }) }
        print(String(format: "wg: library only  parse %.2f ms (%d bytes)", median(parse), bytes.count))
        let first = DeviceChange(privateKey: privateKey, listenPort: 51820, peers: peers.map { .add($0) })
        var build: [Double] = []
        for _ in 0..<runs {
            build.append(
                try time {
                    var r = UAPI.setRequest(first)
                    r.wipe()
                })
        }
        print(String(format: "wg: library only  build first request %.2f ms", median(build)))
        let current = try UAPI.parseDevice(bytes, name: interface)
        let desired = DeviceConfig(peers: peers)
        var diff: [Double] = []
        for _ in 0..<runs {
            diff.append(try time { _ = DeviceChange.between(current: current, desired: desired, now: Date()) })
        }
        print(String(format: "wg: library only  diff (no change) %.2f ms", median(diff)))
    }

    // MARK: - Helpers

    func report(_ what: String, _ a: String, _ x: [Double], _ b: String, _ y: [Double], _ rss: Double) {
        let mx = median(x)
        let my = median(y)
        let ratio = my / mx
        let ratioText = ratio >= 10 ? String(format: "%.0fx", ratio) : String(format: "%.2fx", ratio)
        print(
            String(
                format: "wg: %@  %@ %.2f ms  %@ %.1f ms  ratio %@  peak RSS %.0f MB",
                what, a, mx, b, my, ratioText, rss))
    }

    func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    func time(_ body: () throws -> Void) throws -> Double {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
    }

    func peakRSSMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024  // KiB on Linux
    }

    /// A `wg setconf` file in the form of shared/baselines/gen_wg_conf.py.
    func writeConf(_ name: String, peers: [PeerConfig]) throws -> String {
        var text = "[Interface]\nPrivateKey = \(privateKey.base64)\nListenPort = 51820\n"
        for p in peers {
            text += "\n[Peer]\nPublicKey = \(p.publicKey.base64)\n"
            text += "AllowedIPs = \(p.allowedIPs.map(\.description).joined(separator: ", "))\n"
            if let e = p.endpoint { text += "Endpoint = \(e)\n" }
        }
        let path = directory.appendingPathComponent(name).path
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw BenchError("cannot write \(path)") }
        return path
    }

    func wg(_ args: [String]) throws { try command(["wg"] + args) }

    /// Runs a tool as its own process (no shell), output discarded, like `hyperfine -N`.
    @discardableResult
    func command(_ argv: [String]) throws -> Int32 {
        let status = try spawn(argv, quiet: true)
        guard status == 0 else { throw BenchError("`\(argv.joined(separator: " "))` failed (status \(status))") }
        return status
    }
}

/// Runs `argv` (no shell) and returns its wait status; `quiet` discards its output.
private func spawn(_ argv: [String], quiet: Bool = false) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if quiet {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    }
    let cArgs = argv.map { strdup($0) } + [nil]
    defer { for p in cArgs { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, nil, cArgs, environ)
    guard rc == 0 else { throw BenchError("cannot run \(argv[0]): errno \(rc)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status
}
