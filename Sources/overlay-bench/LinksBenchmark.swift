import Foundation
import Netlink
import OverlayModel

/// 100 workload attachments through the library vs `ip -batch` (the baseline script
/// /work/shared/baselines/links_batch.sh). Per workload: a namespace, a veth pair with one end
/// in a bridge in a host-side namespace and the other (`ovl0`) in the workload's namespace, an
/// IPv6 address (no DAD), a default route, links up. The baseline does the same topology with an
/// IPv4 address and no route, so the library does slightly more work.
func runLinksBenchmark() throws {
    let count = 100
    let rounds = 5
    let settle: UInt32 = 4  // seconds: the kernel frees namespaces asynchronously after delete
    let baselineDir = "/work/shared/baselines"

    var library: [Double] = []
    var baseline: [Double] = []
    var phases: [String: Double] = [:]
    teardownLibraryLinks(count)
    try kbRun(["\(baselineDir)/links_teardown.sh", "\(count)", "1"])
    for round in 0..<rounds {
        sleep(settle)
        library.append(try kbMeasure { try attachWorkloads(count, phases: &phases) })
        if round == 0 { try verifyWorkloads(count) }
        teardownLibraryLinks(count)

        sleep(settle)
        baseline.append(try kbMeasure { try kbRun(["\(baselineDir)/links_batch.sh", "\(count)"]) })
        try kbRun(["\(baselineDir)/links_teardown.sh", "\(count)", "0"])
    }
    let lib = kbMedian(library)
    let base = kbMedian(baseline)
    print(
        "links: \(count) attachments  library \(kbFormat(lib))  ip -batch \(kbFormat(base))  ratio \(String(format: "%.1f", base / lib))x  peak RSS \(String(format: "%.0f", kbPeakRSSMegabytes())) MB"
    )
    print(
        "  library phases (mean): "
            + phases.sorted { $0.key < $1.key }.map { "\($0.key) \(kbFormat($0.value / Double(rounds)))" }.joined(
                separator: ", "))
    print("  rounds library \(library.map(kbFormat))  ip -batch \(baseline.map(kbFormat))")
}

private let hostNamespace = "lbh-host"
private func workloadNamespace(_ i: Int) -> String { "lbh-c\(i)" }
private let gateway = IPAddress("fd42:1:2:3::1")!
private func workloadAddress(_ i: Int) -> IPPrefix { IPPrefix("fd42:1:2:3::\(String(i + 1, radix: 16))/64")! }

/// `phases` accumulates where the time went (namespaces, veths, per-workload configuration).
private func attachWorkloads(_ count: Int, phases kbPhases: inout [String: Double]) throws {
    var t0 = DispatchTime.now().uptimeNanoseconds
    func lap(_ name: String) {
        let t = DispatchTime.now().uptimeNanoseconds
        kbPhases[name, default: 0] += Double(t - t0) / 1e6
        t0 = t
    }
    // Sequential on purpose: spreading creation or configuration over threads gained nothing here
    // (the kernel serialises both).
    try NetworkNamespace.create(hostNamespace)
    for i in 1...count { try NetworkNamespace.create(workloadNamespace(i)) }
    lap("netns")

    let host = try NetlinkHandle(namespace: hostNamespace)
    let bridge = try host.linkAdd(.bridge("lbbr0", up: true))!
    try host.addressAdd(IPPrefix(address: gateway, length: 64)!, link: bridge.id)

    // Every veth in one sendmsg: host end enslaved and up at creation, peer created directly in
    // the workload's namespace (by fd, kept open until the batch is answered).
    let fds = try (1...count).map { i throws(NetlinkError) in try NetworkNamespace.open(workloadNamespace(i)) }
    try host.batch { b in
        for i in 1...count {
            var spec = LinkSpec.veth("lbh\(i)", peer: VethPeer(name: "ovl0", namespace: .fd(fds[i - 1].fd)), up: true)
            spec.masterIndex = bridge.index
            b.linkAdd(spec)
        }
    }
    withExtendedLifetime(fds) {}
    lap("veth")

    // Per workload: one lookup and one batch in its namespace.
    for i in 1...count {
        let h = try NetlinkHandle(namespace: workloadNamespace(i))
        let ovl0 = try h.linkByName("ovl0").index
        try h.batch { b in
            b.linkSetUp("lo")
            b.linkSetUp(.index(ovl0))
            b.addressAdd(workloadAddress(i), linkIndex: ovl0)
            b.routeAdd(.defaultRoute(via: gateway, outputIndex: ovl0))
        }
    }
    lap("config")
}

/// The first round is checked with the library's own reads (and once by `ip`), so the timing
/// is of work that really happened.
private func verifyWorkloads(_ count: Int) throws {
    let host = try NetlinkHandle(namespace: hostNamespace)
    let bridge = try host.linkByName("lbbr0")
    let ports = try host.linkList().filter { $0.masterIndex == bridge.index && $0.isUp }
    guard ports.count == count else {
        throw KernelBenchError.wrongResult("\(ports.count) bridge ports up, expected \(count)")
    }
    for i in [1, count / 2, count] {
        let h = try NetlinkHandle(namespace: workloadNamespace(i))
        let ovl0 = try h.linkByName("ovl0")
        guard ovl0.isUp, try h.addressList(link: ovl0.id).contains(where: { $0.prefix == workloadAddress(i) }),
            try h.routeList().contains(where: { $0.destination.length == 0 && $0.gateway == gateway })
        else { throw KernelBenchError.wrongResult("workload \(i) incomplete") }
    }
    try kbRun(["ip", "netns", "exec", workloadNamespace(count), "ping", "-6", "-c1", "-W2", "\(gateway)"])
}

private func teardownLibraryLinks(_ count: Int) {
    for i in 1...count { try? NetworkNamespace.delete(workloadNamespace(i)) }
    try? NetworkNamespace.delete(hostNamespace)
}

// Helpers shared with NFTablesBenchmark.swift (prefixed `kb` so other benchmarks cannot clash).

/// Wall-clock milliseconds of `body`.
func kbMeasure(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000
}

func kbMedian(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Peak resident set of this process (ru_maxrss is in KiB on Linux), in MB.
func kbPeakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Runs a command (the baseline) and waits; throws on a non-zero exit.
@discardableResult
func kbRun(_ args: [String], input: String? = nil) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    let stdin = Pipe()
    if input != nil { p.standardInput = stdin }
    try p.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        stdin.fileHandleForWriting.closeFile()
    }
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw KernelBenchError.commandFailed(args.joined(separator: " "), p.terminationStatus)
    }
    return p.terminationStatus
}

enum KernelBenchError: Error, CustomStringConvertible {
    case commandFailed(String, Int32)
    case wrongResult(String)
    var description: String {
        switch self {
        case .commandFailed(let c, let s): "\(c) exited \(s)"
        case .wrongResult(let s): "benchmark result wrong: \(s)"
        }
    }
}

func kbFormat(_ ms: Double) -> String { String(format: "%.1f ms", ms) }
