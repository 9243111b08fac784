import Foundation
import NFTables
import Netlink
import OverlayModel
import Testing

/// The firewall the design calls for on a workload-facing namespace, reduced to what the tests
/// probe: input policy drop; established/related, loopback and the ICMPv6 IPv6 needs accepted;
/// new TCP only from (source . port) pairs in a concatenated set.
func overlayTable(name: String = "overlay", allowed: [(IPAddress, UInt16)], comment: String = "overlay") -> NFTable {
    let nd: [ICMPv6Type] = [.neighborSolicit, .neighborAdvert, .routerSolicit, .routerAdvert, .packetTooBig]
    var rules: [NFTRule] = [
        NFTRule([.ctState([.established, .related])], .accept, comment: "established"),
        NFTRule([.iifname("lo")], .accept),
        NFTRule([.ip6Saddr(notIn: IPPrefix("fd00:77::/48")!)], counter: true, .drop, comment: "anti-spoof"),
    ]
    rules += nd.map { NFTRule([.icmpv6Type($0)], .accept) }
    rules.append(NFTRule([.inSet([.ip6Saddr, .tcpDport], set: "allowed")], counter: true, .jump("allowed-in")))
    rules.append(NFTRule([.l4proto(.udp), .udpDport(9999)], .drop))
    rules.append(NFTRule(counter: true, .drop, comment: comment))
    return NFTable(
        name: name,
        chains: [
            .base("input", hook: .input, priority: 0, policy: .drop, rules: rules),
            NFTChain(name: "allowed-in", rules: [NFTRule(counter: true, .accept, comment: "allowed")]),
        ],
        sets: [
            NFTSet(
                name: "allowed", fields: [.ipv6Address, .inetService],
                elements: allowed.map { .values([.address($0.0), .port($0.1)]) }),
            NFTSet(
                name: "nets", fields: [.ipv6Address], interval: true, elements: [.prefix(IPPrefix("fd00:77::/48")!)]),
            .single("ports", .inetService, [.port(22), .port(443)]),
            .single("ifaces", .interfaceName, [.interface("wg-1234abcd")]),
        ])
}

/// A non-blocking TCP connect from inside `namespace`; true when the handshake completed in time.
func tcpConnects(from namespace: String, to address: IPv6Address, port: UInt16, timeoutMs: Int32) throws -> Bool {
    let fd = try NetworkNamespace.openSocket(
        in: namespace, domain: AF_INET6, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
    defer { close(fd) }
    var sa = sockaddr_in6()
    sa.sin6_family = sa_family_t(AF_INET6)
    sa.sin6_port = port.bigEndian
    let bytes = address.bytes
    withUnsafeMutableBytes(of: &sa.sin6_addr) { for i in 0..<16 { $0[i] = bytes[i] } }
    let r = withUnsafePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
    }
    if r == 0 { return true }
    guard errno == EINPROGRESS else { return false }
    var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    guard poll(&pfd, 1, timeoutMs) == 1 else { return false }
    var err: Int32 = 0
    var len = socklen_t(4)
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
    return err == 0
}

/// Two namespaces joined by a veth: `client` fd00:77::1, `server` fd00:77::2.
func withPair<T>(_ body: (_ client: String, _ server: String) throws -> T) throws -> T {
    try withNamespaces(2) { ns in
        let a = try NetlinkHandle(namespace: ns[0])
        let b = try NetlinkHandle(namespace: ns[1])
        try a.linkAdd(.veth("eth0", peer: VethPeer(name: "eth0", namespace: .named(ns[1]), up: true), up: true))
        try a.addressAdd(IPPrefix("fd00:77::1/64")!, link: "eth0")
        try b.addressAdd(IPPrefix("fd00:77::2/64")!, link: "eth0")
        try a.linkSetUp("lo")
        try b.linkSetUp("lo")
        return try body(ns[0], ns[1])
    }
}

/// Reads one line from a pipe, giving up after `timeoutMs`.
func readLine(_ handle: FileHandle, timeoutMs: Int32 = 2000) -> String? {
    var line: [UInt8] = []
    var pfd = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
    while poll(&pfd, 1, timeoutMs) == 1 {
        var byte: UInt8 = 0
        guard read(handle.fileDescriptor, &byte, 1) == 1 else { return nil }
        if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
        line.append(byte)
    }
    return nil
}

let server = IPv6Address("fd00:77::2")!
let client = IPAddress("fd00:77::1")!

@Suite(.serialized, .enabled(if: getuid() == 0))
struct NFTablesNamespaceTests {
    @Test func replacedTableReadsBackAndMatchesNftListing() throws {
        try withNamespaces(1) { ns in
            // Someone else's table, which must survive everything we do.
            try tool(
                "ip", "netns", "exec", ns[0], "nft",
                "add table inet other; add chain inet other c { type filter hook output priority 10; policy accept; }; add rule inet other c counter comment \"theirs\""
            )
            let otherBefore = try tool("ip", "netns", "exec", ns[0], "nft", "list", "table", "inet", "other").stdout

            let nft = try NFTablesHandle(namespace: ns[0])
            let table = overlayTable(allowed: [(client, 9000), (IPAddress("fd00:77::5")!, 22)])
            try nft.replace(table)
            try nft.replace(table)  // replacing an existing table is the normal path

            let listing = try tool("ip", "netns", "exec", ns[0], "nft", "list", "table", "inet", "overlay").stdout
            #expect(listing.contains("type filter hook input priority filter; policy drop;"))
            #expect(listing.contains("ct state established,related accept comment \"established\""))
            #expect(listing.contains("iifname \"lo\" accept"))
            #expect(listing.contains("ip6 saddr != fd00:77::/48 counter packets 0 bytes 0 drop comment \"anti-spoof\""))
            #expect(listing.contains("icmpv6 type nd-neighbor-solicit accept"))
            #expect(listing.contains("icmpv6 type packet-too-big accept"))
            #expect(listing.contains("ip6 saddr . tcp dport @allowed counter packets 0 bytes 0 jump allowed-in"))
            #expect(listing.contains("udp dport 9999 drop"))
            #expect(listing.contains("type ipv6_addr . inet_service"))
            #expect(listing.contains("fd00:77::1 . 9000"))
            #expect(listing.contains("type inet_service"))
            #expect(listing.contains("type ifname"))
            #expect(listing.contains("\"wg-1234abcd\""))
            #expect(listing.contains("fd00:77::/48"))

            // JSON view: the set has exactly our two elements.
            let json = try tool("ip", "netns", "exec", ns[0], "nft", "-j", "list", "set", "inet", "overlay", "allowed")
                .stdout
            let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            let items = root?["nftables"] as? [[String: Any]] ?? []
            let set = items.compactMap { $0["set"] as? [String: Any] }.first
            #expect((set?["elem"] as? [Any])?.count == 2)

            // Read back through the library.
            let installed = try #require(try nft.read("overlay"))
            #expect(installed.chains.map(\.name).sorted() == ["allowed-in", "input"])
            let input = try #require(installed.chain("input"))
            #expect(input.base == NFTChain.Base(hook: .input, priority: 0, policy: .drop))
            #expect(input.rules.count == table.chains[0].rules.count)
            #expect(input.rules.first?.comment == "established")
            #expect(input.rules.last?.comment == "overlay")
            #expect(input.rules.last?.expressionKinds == ["counter", "immediate"])
            let allowed = try #require(installed.set("allowed"))
            #expect(allowed.fields == [.ipv6Address, .inetService])
            #expect(Set(allowed.elements) == Set(table.sets[0].elements))
            #expect(installed.set("nets")?.interval == true)
            #expect(installed.set("ifaces")?.elements == [.values([.interface("wg-1234abcd")])])
            #expect(Set(try nft.tableNames()) == ["overlay", "other"])

            // Other tables untouched, through replace and delete.
            #expect(
                try tool("ip", "netns", "exec", ns[0], "nft", "list", "table", "inet", "other").stdout == otherBefore)
            try nft.delete(table: "overlay")
            try nft.delete(table: "overlay")  // absent: still fine
            #expect(try nft.read("overlay") == nil)
            let ruleset = try tool("ip", "netns", "exec", ns[0], "nft", "list", "ruleset").stdout
            #expect(!ruleset.contains("overlay"))
            #expect(ruleset.contains("comment \"theirs\""))
        }
    }

    @Test func adjacentPrefixesInAnIntervalSetLoadAndMatchTheirWholeRange() throws {
        try withNamespaces(1) { ns in
            let nft = try NFTablesHandle(namespace: ns[0])
            // Neighbouring /16s (the default IPv4 prefixes of two networks) and one apart.
            let prefixes = ["100.64.0.0/16", "100.65.0.0/16", "100.127.0.0/16"].map { IPPrefix($0)! }
            let table = NFTable(
                name: "overlay",
                chains: [
                    .base(
                        "forward", hook: .forward, policy: .accept,
                        rules: [NFTRule([.inSet([.ipSaddr], set: "egress4")], .accept)])
                ],
                sets: [
                    NFTSet(
                        name: "egress4", fields: [.ipv4Address], interval: true, elements: prefixes.map { .prefix($0) })
                ])
            try nft.replace(table)
            try nft.replace(table)
            func has(_ address: String) -> Bool {
                (try? tool(
                    "ip", "netns", "exec", ns[0], "nft", "get", "element", "inet", "overlay", "egress4",
                    "{ \(address) }"))
                    != nil
            }
            for inside in ["100.64.0.0", "100.64.255.255", "100.65.0.0", "100.65.255.255", "100.127.1.2"] {
                #expect(has(inside), "\(inside)")
            }
            for outside in ["100.63.255.255", "100.66.0.0", "100.126.255.255", "100.128.0.0"] {
                #expect(!has(outside), "\(outside)")
            }
        }
    }

    @Test func theRulesetGenerationMovesWithEveryChangeAndOnlyThen() throws {
        try withNamespaces(1) { ns in
            let nft = try NFTablesHandle(namespace: ns[0])
            let empty = try nft.generation()
            #expect(try nft.generation() == empty)
            try nft.replace(overlayTable(allowed: [(client, 9000)]))
            let ours = try nft.generation()
            #expect(ours != empty)
            // Reads change nothing.
            _ = try nft.read("overlay")
            #expect(try nft.generation() == ours)
            // Someone else's change anywhere in the namespace moves it too: an element added to
            // our set, a table of theirs.
            try tool("ip", "netns", "exec", ns[0], "nft", "add element inet overlay ports { 8080 }")
            let element = try nft.generation()
            #expect(element != ours)
            try tool("ip", "netns", "exec", ns[0], "nft", "add table inet other")
            #expect(try nft.generation() != element)
            // A refused transaction commits nothing.
            let before = try nft.generation()
            var refused = overlayTable(allowed: [])
            refused.chains[1].rules = [NFTRule([], .jump("input"))]
            #expect(throws: NetlinkError.self) { try nft.replace(refused) }
            #expect(try nft.generation() == before)
        }
    }

    @Test func invalidTablesAreRejectedAndChangeNothing() throws {
        try withNamespaces(1) { ns in
            let nft = try NFTablesHandle(namespace: ns[0])
            try nft.replace(overlayTable(allowed: [(client, 9000)]))
            // Unknown set: caught before sending.
            var bad = overlayTable(allowed: [])
            bad.chains[0].rules.append(NFTRule([.ip6Daddr(inSet: "nope")], .accept))
            #expect(throws: NFTError.self) { try nft.replace(bad) }
            // Kernel-side failure mid-transaction (jump to a base chain is refused): nothing changes.
            var refused = overlayTable(allowed: [])
            refused.chains[1].rules = [NFTRule([], .jump("input"))]
            #expect(throws: NetlinkError.self) { try nft.replace(refused) }
            let still = try #require(try nft.read("overlay"))
            #expect(still.set("allowed")?.elements.count == 1)
        }
    }

    @Test func dropPolicyBlocksNewProbesButNotEstablishedFlows() throws {
        try withPair { clientNS, serverNS in
            let echo = try BackgroundProcess([
                "ip", "netns", "exec", serverNS, "socat", "TCP6-LISTEN:9000,reuseaddr,fork", "EXEC:cat",
            ])
            defer { echo.stop() }
            let udp = try BackgroundProcess([
                // One process answering every datagram itself (no fork per datagram: under a loaded test
                // run socat's forked responders missed the client's wait).
                "ip", "netns", "exec", serverNS, "python3", "-c",
                "import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\ns.bind(('::', 9001))\n"
                    + "while True:\n    d, a = s.recvfrom(512)\n    s.sendto(b'pong\\n', a)",
            ])
            defer { udp.stop() }
            #expect(
                try eventually { try tool("ip", "netns", "exec", serverNS, "ss", "-Hltnu").stdout.contains(":9001") })
            #expect(try eventually { try tcpConnects(from: clientNS, to: server, port: 9000, timeoutMs: 500) })

            func udpAnswers() throws -> Bool {
                try tool(
                    "ip", "netns", "exec", clientNS, "sh", "-c", "echo hi | socat -t2 -T2 - UDP6:[fd00:77::2]:9001",
                    check: false
                )
                .stdout.contains("pong")
            }
            func pingAnswers() throws -> Bool {
                try tool("ip", "netns", "exec", clientNS, "ping", "-6", "-c1", "-W1", "fd00:77::2", check: false).status
                    == 0
            }
            // Before the table: every probe passes (retried: a loaded machine may be slow to fork
            // the responder, and the client waits at most 2 s after its EOF for the answer; the
            // blocked probes below stay single-shot).
            #expect(try eventually(10) { try udpAnswers() })
            #expect(try eventually { try pingAnswers() })

            // Conntrack starts tracking in a namespace only once some rule there uses it; another
            // tool's table with a ct rule stands for whatever the host had before ours arrived.
            try tool(
                "ip", "netns", "exec", serverNS, "nft",
                "add table inet watcher; add chain inet watcher c { type filter hook input priority 10; }; add rule inet watcher c ct state established counter"
            )
            // A long-lived connection, established before the firewall goes up.
            let conversation = try BackgroundProcess([
                "ip", "netns", "exec", clientNS, "socat", "-", "TCP6:[fd00:77::2]:9000",
            ])
            defer { conversation.stop() }
            let input = conversation.input
            let output = conversation.output
            input.fileHandleForWriting.write(Data("before\n".utf8))
            #expect(readLine(output.fileHandleForReading) == "before")

            // Allow port 9000 only for a source that is not the client: new connections are blocked.
            let nft = try NFTablesHandle(namespace: serverNS)
            try nft.replace(overlayTable(allowed: [(IPAddress("fd00:77::99")!, 9000)]))

            #expect(!(try tcpConnects(from: clientNS, to: server, port: 9000, timeoutMs: 500)))
            #expect(!(try udpAnswers()))
            #expect(!(try pingAnswers()))
            input.fileHandleForWriting.write(Data("after\n".utf8))
            #expect(readLine(output.fileHandleForReading) == "after")

            // The concatenated set is what decides: add (client . 9000) and new connections pass.
            try nft.replace(overlayTable(allowed: [(client, 9000)]))
            #expect(try tcpConnects(from: clientNS, to: server, port: 9000, timeoutMs: 1000))
            let installed = try #require(try nft.read("overlay"))
            #expect((installed.chain("allowed-in")?.rules.first?.packets ?? 0) >= 1)
            // Neighbour discovery still works under policy drop (the ping above needed none; this does).
            try tool("ip", "-n", serverNS, "neigh", "flush", "all")
            #expect(try tcpConnects(from: clientNS, to: server, port: 9000, timeoutMs: 2000))
            input.fileHandleForWriting.closeFile()
        }
    }

    @Test func hundredAtomicReplacesNeverLetABlockedProbeThrough() throws {
        try withPair { clientNS, serverNS in
            let listener = try BackgroundProcess([
                "ip", "netns", "exec", serverNS, "socat", "TCP6-LISTEN:9000,reuseaddr,fork", "/dev/null",
            ])
            defer { listener.stop() }
            #expect(try eventually { try tcpConnects(from: clientNS, to: server, port: 9000, timeoutMs: 500) })
            // Another tool's table stays intact through all of it.
            try tool(
                "ip", "netns", "exec", serverNS, "nft",
                "add table ip6 bystander; add set ip6 bystander s { type ipv6_addr; elements = { ::1 }; }")
            let bystander = try tool("ip", "netns", "exec", serverNS, "nft", "list", "table", "ip6", "bystander").stdout

            let nft = try NFTablesHandle(namespace: serverNS)
            try nft.replace(overlayTable(allowed: []))
            #expect(!(try tcpConnects(from: clientNS, to: server, port: 9000, timeoutMs: 300)))

            let stop = Atomic(false)
            let passed = Atomic(0)
            let attempts = Atomic(0)
            let probe = Thread {
                while !stop.value {
                    // A short timeout keeps the probe fast; a SYN let through would complete well within it.
                    if (try? tcpConnects(from: clientNS, to: server, port: 9000, timeoutMs: 20)) == true {
                        passed.add(1)
                    }
                    attempts.add(1)
                }
            }
            probe.start()
            for i in 0..<100 {
                let others = (0..<(i % 7)).map { (IPAddress("fd00:77::\(100 + $0)")!, UInt16(9000)) }
                let before = attempts.value
                try nft.replace(overlayTable(allowed: others, comment: "round \(i)"))
                // Let at least one probe overlap each round, however loaded the machine is.
                while attempts.value == before { usleep(1000) }
            }
            stop.set(true)
            while !probe.isFinished { usleep(10_000) }
            #expect(passed.value == 0)
            #expect(attempts.value >= 100)
            #expect(try nft.read("overlay")?.chain("input")?.rules.last?.comment == "round 99")
            #expect(
                try tool("ip", "netns", "exec", serverNS, "nft", "list", "table", "ip6", "bystander").stdout
                    == bystander)
        }
    }

    @Test func tenThousandElementConcatSetLoadsAndReadsBack() throws {
        try withNamespaces(1) { ns in
            let nft = try NFTablesHandle(namespace: ns[0])
            let elements: [NFTSet.Element] = (1...10_000).map { i in
                .values([
                    .address(.v6(IPv6Address(high: 0xfd00_0000_0000_0000, low: UInt64(i)))),
                    .port(UInt16(1024 + i % 60000)),
                ])
            }
            let table = NFTable(
                name: "bench",
                chains: [
                    .base(
                        "input", hook: .input, policy: .accept,
                        rules: [NFTRule([.inSet([.ip6Saddr, .tcpDport], set: "peers")], .accept)])
                ],
                sets: [NFTSet(name: "peers", fields: [.ipv6Address, .inetService], elements: elements)])
            try nft.replace(table)
            try nft.replace(table)
            let installed = try #require(try nft.read("bench"))
            #expect(installed.set("peers")?.elements.count == 10_000)
            let json = try tool("ip", "netns", "exec", ns[0], "nft", "-j", "list", "set", "inet", "bench", "peers")
                .stdout
            let root = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            let set = (root?["nftables"] as? [[String: Any]] ?? []).compactMap { $0["set"] as? [String: Any] }.first
            #expect((set?["elem"] as? [Any])?.count == 10_000)
        }
    }
}

/// A tiny lock-protected box for the probe thread's counters.
final class Atomic<T: Sendable>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func set(_ v: T) { lock.withLock { stored = v } }
}

extension Atomic where T == Int {
    func add(_ n: Int) { lock.withLock { stored += n } }
}
