import NFTables
import OverlayModel
import Testing

@Suite struct NFTablesExpressionTests {
    @Test func ctStateEstablishedRelatedIsLoadMaskCompare() throws {
        let e = try NFTRule([.ctState([.established, .related])], .accept).expressions()
        #expect(
            e == [
                .ctState(register: 1), .bitwise(register: 1, length: 4, mask: [6, 0, 0, 0], xor: [0, 0, 0, 0]),
                .cmp(register: 1, .neq, [0, 0, 0, 0]), .verdict(.accept),
            ])
    }

    @Test func tcpPortMatchDependsOnL4Proto() throws {
        let e = try NFTRule([.tcpDport(22)], counter: true, .accept).expressions()
        #expect(
            e == [
                .meta(.l4proto, register: 1), .cmp(register: 1, .eq, [6]),
                .payload(.transport, offset: 2, length: 2, register: 1), .cmp(register: 1, .eq, [0, 22]),
                .counter, .verdict(.accept),
            ])
    }

    @Test func icmpv6TypeChecksFamilyAndProtocolOnce() throws {
        let e = try NFTRule([.l4proto(.icmpv6), .icmpv6Type(.neighborSolicit)], .accept).expressions()
        // The explicit l4proto match and the dependency produce the same pair: emitted once.
        #expect(e.filter { $0 == .meta(.l4proto, register: 1) }.count == 1)
        #expect(
            e.suffix(3) == [
                .payload(.transport, offset: 0, length: 1, register: 1), .cmp(register: 1, .eq, [135]),
                .verdict(.accept),
            ])
        #expect(e.prefix(2) == [.meta(.l4proto, register: 1), .cmp(register: 1, .eq, [58])])
        #expect(e.contains(.meta(.nfproto, register: 1)))
    }

    @Test func ip6PrefixMatchMasksThenCompares() throws {
        let e = try NFTRule([.ip6Saddr(notIn: IPPrefix("fd12:3456:789a::/48")!)], .drop).expressions()
        let mask: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 10)
        #expect(
            e == [
                .meta(.nfproto, register: 1), .cmp(register: 1, .eq, [10]),
                .payload(.network, offset: 8, length: 16, register: 1),
                .bitwise(register: 1, length: 16, mask: mask, xor: [UInt8](repeating: 0, count: 16)),
                .cmp(register: 1, .neq, IPAddress("fd12:3456:789a::")!.bytes), .verdict(.drop),
            ])
    }

    @Test func concatenationLoadsFieldsIntoConsecutiveRegisters() throws {
        let sets: [String: [NFTDataType]] = ["svc": [.ipv6Address, .inetService]]
        let e = try NFTRule([.inSet([.ip6Daddr, .tcpDport], set: "svc")], .accept).expressions(sets: sets)
        #expect(e.contains(.payload(.network, offset: 24, length: 16, register: 1)))
        #expect(e.contains(.payload(.transport, offset: 2, length: 2, register: 2)))  // the 16-byte register after
        #expect(e.contains(.lookup(register: 1, set: "svc", inverted: false)))
        // Wrong field types for the set are refused before anything is sent.
        #expect(throws: NFTError.self) { try NFTRule([.inSet([.ip6Daddr], set: "svc")]).expressions(sets: sets) }
    }

    @Test func interfaceNamesAreNulPaddedAndWildcardsArePrefixes() throws {
        let exact = try NFTRule([.iifname("lo")], .accept).expressions()
        #expect(exact[1] == .cmp(register: 1, .eq, Array("lo".utf8) + [UInt8](repeating: 0, count: 14)))
        let wildcard = try NFTRule([.oifname("wg-*")], .accept).expressions()
        #expect(wildcard[0] == .meta(.oifname, register: 1))
        #expect(wildcard[1] == .cmp(register: 1, .eq, Array("wg-".utf8)))
    }

    @Test func concatSetElementsArePaddedToRegisterWidth() throws {
        let set = NFTSet(
            name: "s", fields: [.ipv6Address, .inetService],
            elements: [.values([.address(IPAddress("fd00::1")!), .port(443)])])
        let encoded = try set.encodedElements()
        #expect(encoded.count == 1)
        #expect(encoded[0].key == IPAddress("fd00::1")!.bytes + [0x01, 0xBB, 0, 0])
        let bad = NFTSet(name: "s", fields: [.ipv6Address, .inetService], elements: [.values([.port(1)])])
        #expect(throws: NFTError.self) { try bad.encodedElements() }
    }

    @Test func intervalSetsBecomeStartAndEndMarkers() throws {
        let set = NFTSet(name: "n", fields: [.ipv6Address], interval: true, elements: [.prefix(IPPrefix("fd00::/16")!)])
        let encoded = try set.encodedElements()
        // As nft sends it: the gap below closed at 0, the range start, then the first address after it.
        #expect(encoded.map(\.flags) == [1, 0, 1])
        #expect(encoded[0].key == [UInt8](repeating: 0, count: 16))
        #expect(encoded[1].key == [0xfd, 0x00] + [UInt8](repeating: 0, count: 14))
        #expect(encoded[2].key == [0xfd, 0x01] + [UInt8](repeating: 0, count: 14))
    }

    @Test func replaceTransactionIsBeginAddDeleteAddContentEnd() throws {
        let table = NFTable(
            name: "overlay",
            chains: [
                .base(
                    "input", hook: .input, policy: .drop,
                    rules: [NFTRule([.ip6Saddr(inSet: "peers")], .accept, comment: "peers")])
            ],
            sets: [.single("peers", .ipv6Address, [.address(IPAddress("fd00::1")!)])])
        let messages = try table.replaceMessages()
        // nfnetlink type = subsystem (10) << 8 | message; batch begin/end are 0x10/0x11.
        let types = messages.map { UInt16($0.bytes[4]) | UInt16($0.bytes[5]) << 8 }
        #expect(types == [0x10, 0xA00, 0xA02, 0xA00, 0xA03, 0xA09, 0xA0C, 0xA06, 0x11])
        #expect(
            messages.map(\.operation) == [
                "begin batch", "ensure table", "flush table", "add table", "add chain", "add set", "add elements",
                "add rule", "end batch",
            ])
        #expect(!messages[0].expectsReply && !messages.last!.expectsReply)
        #expect(messages.dropFirst().dropLast().allSatisfy { $0.expectsReply })
        // Unknown references are caught before anything is sent.
        var broken = table
        broken.chains[0].rules.append(NFTRule([], .jump("nowhere")))
        #expect(throws: NFTError.self) { try broken.replaceMessages() }
    }

    @Test func tenThousandElementsSplitIntoMessagesUnder64KiBOfElements() throws {
        let elements: [NFTSet.Element] = (1...10_000).map {
            .values([.address(.v6(IPv6Address(high: 0xfd00 << 48, low: UInt64($0)))), .port(UInt16(1024 + $0 % 60000))])
        }
        let table = NFTable(
            name: "t", sets: [NFTSet(name: "peers", fields: [.ipv6Address, .inetService], elements: elements)])
        let elementMessages = try table.replaceMessages().filter { $0.operation == "add elements" }
        #expect(elementMessages.count > 1)
        #expect(elementMessages.allSatisfy { $0.bytes.count < 70_000 })
    }
}
