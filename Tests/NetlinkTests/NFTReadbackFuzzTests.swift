import Foundation
import Netlink
import OverlayModel
import OverlayTestSupport
import Testing

@testable import NFTables

/// The nftables read-back on replies shaped other than the kernel's. Its parsers hand replies to
/// libnftnl, which ends the process on some malformed input (`exit` from `abi_breakage()`, or a
/// NULL dereference), so a fuzzing batch runs in a child: this test binary started again with
/// `OVERLAY_NFT_FUZZ` set, which runs `childBatch` only. A child that ends by a signal, exits
/// non-zero or overruns its time is a failure, reported with the input it was parsing; a
/// parser that returns nil is a clean refusal.
@Suite struct NFTReadbackFuzzTests {
    static let childVariable = "OVERLAY_NFT_FUZZ"
    /// `seed:milliseconds:trace file`, set only in a child.
    static let childMode = ProcessInfo.processInfo.environment[childVariable]

    struct Attribute: AttributeType {
        var rawValue: UInt16
    }

    static func message(_ type: UInt16, _ body: (inout MessageBuilder) -> Void) -> NetlinkMessage {
        // nf_tables messages: subsystem NFNL_SUBSYS_NFTABLES (10) in the high byte.
        var b = MessageBuilder(type: MessageType(rawValue: 10 << 8 | type), flags: [.multi])
        b.append(contentsOf: [AddressFamily.nftInet.rawValue, 0, 0, 0])  // nfgenmsg
        body(&b)
        return try! NetlinkMessage.parse(b.message)[0]
    }

    /// Replies shaped as the kernel sends them: what a replace sends (the same attributes the
    /// dumps answer with), and the reply-only attributes (handles, counter values) added by hand.
    static func validReplies() throws -> [NetlinkMessage] {
        let table = NFTable(
            name: "ovl_fuzz",
            chains: [
                NFTChain(
                    name: "input", base: .init(hook: .input, priority: 0, policy: .drop),
                    rules: [
                        NFTRule([.tcpDport(22)], counter: true, .accept, comment: "ssh"),
                        NFTRule([.inSet([.ip6Saddr, .tcpDport], set: "svc")], .accept),
                    ]),
                NFTChain(name: "side", rules: [NFTRule([.iifname("wg*")], .drop)]),
            ],
            sets: [
                NFTSet(
                    name: "svc", fields: [.ipv6Address, .inetService],
                    elements: [.values([.address(IPAddress("fd00::1")!), .port(443)])]),
                NFTSet(
                    name: "ports", fields: [.inetService], elements: [.values([.port(80)]), .values([.port(8080)])]),
                NFTSet(
                    name: "nets", fields: [.ipv6Address], interval: true, elements: [.prefix(IPPrefix("fd00::/8")!)]),
            ])
        var out = try table.replaceMessages().flatMap { try NetlinkMessage.parse($0.bytes) }
        let a = { (raw: UInt16) in Attribute(rawValue: raw) }
        out.append(
            message(6) { b in  // NEWRULE, as a dump answers it
                b.attribute(a(1), string: "ovl_fuzz")
                b.attribute(a(2), string: "input")
                b.attribute(a(3), UInt64(7).bigEndian)
                b.nested(a(4)) { list in
                    list.nested(a(1)) { e in
                        e.attribute(a(1), string: "counter")
                        e.nested(a(2)) { d in
                            d.attribute(a(1), UInt64(1500).bigEndian)
                            d.attribute(a(2), UInt64(3).bigEndian)
                        }
                    }
                    list.nested(a(1)) { e in
                        e.attribute(a(1), string: "immediate")
                        e.nested(a(2)) { d in
                            d.attribute(a(1), UInt32(0).bigEndian)
                            d.nested(a(2)) { v in v.nested(a(2)) { verdict in verdict.attribute(a(1), UInt32(1)) } }
                        }
                    }
                }
                b.attribute(a(7), bytes: [0, 4, 0x73, 0x73, 0x68, 0])  // comment "ssh"
            })
        out.append(
            message(3) { b in  // NEWCHAIN with its handle
                b.attribute(a(1), string: "ovl_fuzz")
                b.attribute(a(2), UInt64(2).bigEndian)
                b.attribute(a(3), string: "input")
                b.nested(a(4)) { h in
                    h.attribute(a(1), UInt32(1).bigEndian)
                    h.attribute(a(2), UInt32(0).bigEndian)
                }
                b.attribute(a(5), UInt32(0).bigEndian)
                b.attribute(a(7), string: "filter")
            })
        return out
    }

    /// Every parser of the read-back on one message: each returns a value or nil.
    static func parseAll(_ m: NetlinkMessage) -> Int {
        var n = 0
        if parseTable(m) != nil { n += 1 }
        if parseChain(m) != nil { n += 1 }
        if let r = parseRule(m) {
            n += 1
            _ = r.rule.comment
        }
        if parseSet(m) != nil { n += 1 }
        if let keys = parseSetElements(m) {
            n += 1
            // Keys decoded as the read-back does, for the set types the valid replies carry.
            var set = NFTInstalledSet(
                name: "svc", fields: [.ipv6Address, .inetService], keyLength: 20, interval: false, keys: keys,
                elements: [])
            set.decodeElements()
        }
        return n
    }

    /// The input of case `index` of a batch: a valid reply, mutated in its bytes or its
    /// attribute tree.
    static func input(seed: UInt64, index: Int, valid: [NetlinkMessage]) -> NetlinkMessage {
        var rng = SeededRNG(seed: seed &+ UInt64(index) &* 0x9E37_79B9)
        var m = valid[Int.random(in: 0..<valid.count, using: &rng)]
        let header = Array(m.payload.prefix(4))
        let body = Array(m.payload.dropFirst(4))
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: m.payload = header + mutate(body, &rng)
        case 1:
            var tree = AttributeTree.parse(body[...], depth: 0)
            for _ in 0..<Int.random(in: 1...3, using: &rng) { tree.mutate(&rng) }
            m.payload = header + tree.bytes
        default:
            var tree = AttributeTree.parse(body[...], depth: 0)
            tree.mutate(&rng)
            m.payload = header + mutate(tree.bytes, &rng)
        }
        return m
    }

    /// The child's side: cases from its seed until its time is up. Before each case its index
    /// goes to the trace file, so a parent can name the input that ended the child.
    @Test(.enabled(if: childMode != nil)) func childBatch() throws {
        let parts = try #require(Self.childMode?.split(separator: ":", maxSplits: 2).map(String.init))
        let seed = try #require(UInt64(parts[0]))
        let budget = Duration.milliseconds(try #require(Int(parts[1])))
        let trace = open(parts[2], O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(trace >= 0)
        defer { close(trace) }
        let valid = try Self.validReplies()
        func note(_ line: String) {
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { pwrite(trace, $0.baseAddress, $0.count, 0) }
        }
        let end = ContinuousClock.now + budget
        var index = 0
        var parsed = 0
        while ContinuousClock.now < end {
            note("case \(index)        ")
            parsed += Self.parseAll(Self.input(seed: seed, index: index, valid: valid))
            index += 1
        }
        note("done \(index) \(parsed)        ")
    }

    /// The parent's side: batches of about three seconds, each in a child, for twelve seconds.
    @Test(.enabled(if: childMode == nil)) func malformedRepliesAreRefusedNotFatal() throws {
        let valid = try Self.validReplies()
        // The unmutated replies parse: the fuzzing starts from inputs the parsers accept.
        #expect(valid.map(Self.parseAll).reduce(0, +) >= 8)
        let trace = FileManager.default.temporaryDirectory
            .appendingPathComponent("nft-fuzz-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let start = ContinuousClock.now
        var batches = 0
        var cases = 0
        var seed: UInt64 = 0x4E46_5400
        while ContinuousClock.now - start < .seconds(12) {
            seed += 1
            try? FileManager.default.removeItem(atPath: trace)
            let outcome = try Self.runChild(seed: seed, milliseconds: 3000, trace: trace)
            batches += 1
            let words = ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: " ")
            if outcome == "exit 0", words.count > 1, words[0] == "done", let n = Int(words[1]) {
                cases += n
                continue
            }
            let index = words.count > 1 ? Int(words[1].trimmingCharacters(in: .whitespacesAndNewlines)) : nil
            let input = index.map { Self.input(seed: seed, index: $0, valid: valid) }
            Issue.record(
                """
                fuzz child \(outcome) (seed \(seed), case \(index.map { "\($0)" } ?? "?")); \
                message type \(input.map { String($0.type.rawValue) } ?? "?"), \
                payload \(input.map { $0.payload.map { String(format: "%02x", $0) }.joined() } ?? "?")
                """)
            break
        }
        #expect(batches >= 2 && cases > 2000, "only \(cases) cases in \(batches) batches")
    }

    /// Runs one batch in a child: "exit N", "signal N" or "timeout".
    static func runChild(seed: UInt64, milliseconds: Int, trace: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = testingArguments(filter: "NFTReadbackFuzzTests/childBatch")
        var env = ProcessInfo.processInfo.environment
        env[childVariable] = "\(seed):\(milliseconds):\(trace)"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // The budget, and time to start and to write the results.
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000 + 30)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return "timeout"
        }
        return p.terminationReason == .uncaughtSignal
            ? "signal \(p.terminationStatus)" : "exit \(p.terminationStatus)"
    }

    /// How this test binary runs one Swift Testing test.
    static func testingArguments(filter: String) -> [String] {
        ["--testing-library", "swift-testing", "--filter", filter]
    }

    /// Found by this fuzzer, kept as cases: each is refused (nil) without ending the process.
    @Test func foundInputsAreRefused() {
        let a = { (raw: UInt16) in Attribute(rawValue: raw) }
        // A chain's policy (u32) of 3 bytes: libnftnl's abi_breakage() exits.
        #expect(
            parseChain(
                Self.message(3) { b in
                    b.attribute(a(1), string: "t")
                    b.attribute(a(3), string: "c")
                    b.attribute(a(5), bytes: [0, 0, 1])
                }) == nil)
        // A rule expression without its name: a NULL string handed to libnftnl.
        #expect(
            parseRule(
                Self.message(6) { b in
                    b.attribute(a(1), string: "t")
                    b.attribute(a(2), string: "c")
                    b.nested(a(4)) { list in list.nested(a(1)) { e in e.nested(a(2)) { _ in } } }
                }) == nil)
        // A table name without its NUL: copied with strdup, past the end of the reply.
        #expect(Self.parseAllRefusing(Self.message(0) { b in b.attribute(a(1), bytes: Array("abcd".utf8)) }))
        // A counter whose packets are 4 bytes: libnftnl's counter parser exits.
        #expect(
            parseRule(
                Self.message(6) { b in
                    b.attribute(a(1), string: "t")
                    b.attribute(a(2), string: "c")
                    b.nested(a(4)) { list in
                        list.nested(a(1)) { e in
                            e.attribute(a(1), string: "counter")
                            e.nested(a(2)) { d in d.attribute(a(2), UInt32(1)) }
                        }
                    }
                }) == nil)
        // A concatenated key shorter than its first field: decoded as nothing, not sliced past
        // its end.
        var set = NFTInstalledSet(
            name: "svc", fields: [.ipv6Address, .inetService], keyLength: 20, interval: false,
            keys: [(key: [0xFD, 0], flags: 0)], elements: [])
        set.decodeElements()
        #expect(set.elements.isEmpty)
    }

    static func parseAllRefusing(_ m: NetlinkMessage) -> Bool {
        parseTable(m) == nil && parseChain(m) == nil && parseRule(m) == nil && parseSet(m) == nil
            && parseSetElements(m) == nil
    }
}

/// A netlink attribute tree as far as it parses: nested where the value reads as attributes.
struct AttributeTree {
    var type: UInt16
    var value: [UInt8]
    var children: [AttributeTree]?

    static func parse(_ bytes: ArraySlice<UInt8>, depth: Int) -> AttributeTree {
        AttributeTree(type: 0, value: Array(bytes), children: children(bytes, depth: depth))
    }

    static func children(_ bytes: ArraySlice<UInt8>, depth: Int) -> [AttributeTree]? {
        guard depth < 6, bytes.count >= 4, let attributes = try? Attributes(validating: bytes) else { return nil }
        return attributes.all.map {
            AttributeTree(type: $0.type, value: Array($0.value), children: children($0.value, depth: depth + 1))
        }
    }

    var bytes: [UInt8] {
        guard let children else { return value }
        var out: [UInt8] = []
        for c in children {
            let v = c.bytes
            let length = min(4 + v.count, Int(UInt16.max))
            withUnsafeBytes(of: UInt16(length)) { out += $0 }
            withUnsafeBytes(of: c.type) { out += $0 }
            out += v.prefix(length - 4)
            out += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
        }
        return out
    }

    /// One change at a random node: dropped, duplicated, retyped, resized, its NUL removed, or
    /// its value replaced with noise.
    mutating func mutate(_ rng: inout SeededRNG) {
        guard var kids = children, !kids.isEmpty else {
            mutateLeaf(&rng)
            return
        }
        let i = Int.random(in: 0..<kids.count, using: &rng)
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: kids.remove(at: i)
        case 1: kids.insert(kids[i], at: i)
        case 2: kids[i].type = UInt16.random(in: 0...12, using: &rng)
        default: kids[i].mutate(&rng)
        }
        children = kids
    }

    private mutating func mutateLeaf(_ rng: inout SeededRNG) {
        children = nil
        value = bytes
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: value = Array(value.prefix(Int.random(in: 0...max(0, value.count), using: &rng)))
        case 1: value += (0..<Int.random(in: 1...9, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 2: value = value.map { $0 == 0 ? 0x41 : $0 }
        case 3:
            value = [UInt8](repeating: 0, count: [0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 65, 300].randomElement(using: &rng)!)
        default:
            value = (0..<Int.random(in: 0...24, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
    }
}
