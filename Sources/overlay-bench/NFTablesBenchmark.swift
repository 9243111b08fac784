import Foundation
import NFTables
import Netlink
import OverlayModel

/// An atomic replace of a table whose set holds 10,000 `ipv6_addr . inet_service` elements,
/// through the library vs `nft -f` of the same table text (gen_nft.py's nft_replace_set_10000:
/// ensure table, flush table, full content, one transaction). Both replace N with N inside a
/// namespace created for the run.
func runNFTablesBenchmark() throws {
    let count = 10_000
    let rounds = 21
    let namespace = "lbn-nft"
    try? NetworkNamespace.delete(namespace)
    try NetworkNamespace.create(namespace)
    defer { try? NetworkNamespace.delete(namespace) }

    let file = NSTemporaryDirectory() + "overlay-bench-nft-\(getpid()).nft"
    try nftText(count).write(toFile: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: file) }
    let table = nftTable(count)

    // Each side replaces N with N of its own making, as the baseline's hyperfine run does
    // (--prepare loads the same file): an untimed replace first, then the timed one. The sides
    // alternate round by round so that machine noise hits both alike.
    //
    // The library is timed as the agent uses it, on a long-lived socket. Closing a netfilter
    // socket waits for the kernel's deferred free of what the last transaction replaced (an RCU
    // grace period, then 10,000 elements); `nft -f` pays that at exit, so a second figure opens
    // and closes a socket around each replace for a like-for-like comparison.
    var library: [Double] = []
    var libraryFresh: [Double] = []
    var baseline: [Double] = []
    let nft = ["nsenter", "--net=/run/netns/\(namespace)", "nft", "-f", file]
    let handle = try NFTablesHandle(namespace: namespace)
    for _ in 0..<rounds {
        try handle.replace(table)
        library.append(try kbMeasure { try handle.replace(table) })
        libraryFresh.append(try kbMeasure { try NFTablesHandle(namespace: namespace).replace(table) })
        try kbRun(nft)
        baseline.append(try kbMeasure { try kbRun(nft) })
    }
    // The last replace was nft's; do one more of ours and check it landed whole.
    try handle.replace(table)
    guard let installed = try handle.read("pblfilter"), installed.set("peers")?.keys.count == count else {
        throw KernelBenchError.wrongResult("set does not hold \(count) elements after replace")
    }
    let lib = kbMedian(library)
    let fresh = kbMedian(libraryFresh)
    let base = kbMedian(baseline)
    print(
        "nft: \(count) set elements atomic replace  library \(kbFormat(lib))  nft -f \(kbFormat(base))  ratio \(String(format: "%.1f", base / lib))x  peak RSS \(String(format: "%.0f", kbPeakRSSMegabytes())) MB"
    )
    print(
        "  with socket open+close per replace: library \(kbFormat(fresh))  ratio \(String(format: "%.1f", base / fresh))x  (min/max library \(kbFormat(library.min()!))/\(kbFormat(library.max()!)), nft -f \(kbFormat(baseline.min()!))/\(kbFormat(baseline.max()!)))"
    )
}
private func address(_ i: Int) -> IPv6Address {
    IPv6Address(high: 0xfd00_0000_0000_0000, low: UInt64(i >> 16) << 16 | UInt64(i & 0xffff))
}

private func port(_ i: Int) -> UInt16 { UInt16(1024 + i % 60000) }

private func nftTable(_ n: Int) -> NFTable {
    NFTable(
        name: "pblfilter",
        chains: [
            .base(
                "input", hook: .input, priority: 0, policy: .accept,
                rules: [NFTRule([.inSet([.ip6Saddr, .tcpDport], set: "peers")], .accept)])
        ],
        sets: [
            NFTSet(
                name: "peers", fields: [.ipv6Address, .inetService],
                elements: (1...n).map { .values([.address(.v6(address($0))), .port(port($0))]) })
        ])
}

/// The same text gen_nft.py writes for nft_replace_set_N.
private func nftText(_ n: Int) -> String {
    let elements = (1...n).map { "      \(address($0)) . \(port($0))" }.joined(separator: ",\n")
    return """
        table inet pblfilter
        flush table inet pblfilter
        table inet pblfilter {
          set peers {
            type ipv6_addr . inet_service
            elements = {
        \(elements)
            }
          }
          chain input {
            type filter hook input priority 0; policy accept;
            ip6 saddr . tcp dport @peers accept
          }
        }

        """
}
