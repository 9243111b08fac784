import NFTables
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayAgent

@Suite struct FirewallTests {
    @Test func hostTableDropsByDefaultAndOpensOnlyWireGuardPorts() {
        let t = Firewall.hostTable(HostFirewallPlan(wireguardPorts: [51821, 51820, 51821]))
        #expect(t.name == "overlay")
        #expect(t.chains.map(\.name) == ["input", "forward", "prerouting", "output"])
        #expect(t.chains[0].base?.policy == .drop)
        // Forwarding is the host's business except for the overlay's own links and prefixes.
        #expect(t.chains[1].base?.policy == .accept)
        #expect(
            t.sets.first { $0.name == "wireguard_ports" }?.elements == [
                .values([.port(51820)]), .values([.port(51821)]),
            ])
        // No echo request: nothing outside may probe the node.
        let icmp = t.sets.first { $0.name == "icmpv6_needed" }?.elements ?? []
        #expect(!icmp.contains(.values([.icmpv6(.echoRequest)])))
        #expect(icmp.contains(.values([.icmpv6(.neighborSolicit)])) && icmp.contains(.values([.icmpv6(.packetTooBig)])))
    }

    @Test func networkTableUsesSetsWhateverTheSize() {
        var small = Fixtures.network()
        var large = Fixtures.network()
        large.firewall.exposed = (1...500).map {
            ExposedPort(
                address: Fixtures.v6("fd00:1:2:1::\(String($0, radix: 16))"), proto: $0 % 2 == 0 ? .tcp : .udp,
                port: UInt16($0))
        }
        large.firewall.gatewaySources = (1...50).map { Fixtures.v6("fd00:1:2:9::\($0)") }
        small.firewall.exposed = []
        let a = Firewall.networkTable(small)
        let b = Firewall.networkTable(large)
        #expect(a.chains.map(\.rules.count) == b.chains.map(\.rules.count))
        #expect(b.sets.first { $0.name == "exposed_tcp" }?.elements.count == 250)
        #expect(b.sets.first { $0.name == "exposed_udp" }?.elements.count == 250)
        #expect(b.sets.first { $0.name == "gateways" }?.elements.count == 50)
        #expect(
            b.sets.first { $0.name == "links" }?.elements == [
                .values([.interface("br-0a0b0c0d")]), .values([.interface("wg-0a0b0c0d")]),
            ])
        #expect(b.chains.first { $0.name == "forward" }?.base?.policy == .drop)
    }

    @Test func ipv4IsForwardedOnlyFromTheNetworksOwnIPv4Prefix() throws {
        let v6only = Firewall.networkTable(Fixtures.network())
        let dual = Firewall.networkTable(Fixtures.dualStack())
        let p4 = IPPrefix("100.64.0.0/16")!
        func forward(_ t: NFTable) -> [NFTRule] { t.chains.first { $0.name == "forward" }?.rules ?? [] }
        // IPv6-only: no IPv4 rule, so the final drop takes every IPv4 packet.
        #expect(!forward(v6only).contains { $0.matches.contains(.prefix(.ipSaddr, p4, negated: true)) })
        #expect(forward(v6only).last?.comment == "forward-dropped")
        let rules = forward(dual)
        let spoofed = try #require(rules.firstIndex { $0.matches == [.ipSaddr(notIn: p4)] })
        let accepted = try #require(rules.firstIndex { $0.matches == [.ipSaddr(in: p4)] })
        let established = try #require(rules.firstIndex { $0.matches == [.ctState([.established, .related])] })
        #expect(rules[spoofed].verdict == .drop && rules[spoofed].comment == "spoofed")
        #expect(rules[accepted].verdict == .accept)
        #expect(spoofed < established && established < accepted && accepted < rules.count - 1)
        // The IPv4 source match is guarded by `meta nfproto ipv4`, so IPv6 packets never meet it.
        let expressions = try rules[spoofed].expressions()
        #expect(Array(expressions.prefix(2)) == [.meta(.nfproto, register: 1), .cmp(register: 1, .eq, [2])])
        #expect(Firewall.fingerprint(v6only) != Firewall.fingerprint(dual))
    }

    @Test func egressLetsLocalWorkloadsOutAndOnlyRepliesIn() throws {
        let n = Fixtures.egress()
        let t = Firewall.networkTable(n)
        let links = t.sets.first { $0.name == "links" }?.elements ?? []
        #expect(links.contains(.values([.interface("vx-0a0b0c0d")])))
        let forward = try #require(t.chains.first { $0.name == "forward" }?.rules)
        let p4 = IPPrefix("100.64.0.0/16")!
        let replies = try #require(
            forward.firstIndex { $0.matches == [.iifname("vx-0a0b0c0d"), .ctState([.established, .related])] })
        let inbound = try #require(forward.firstIndex { $0.comment == "inbound" })
        let spoofed = try #require(forward.firstIndex { $0.comment == "spoofed" })
        let out = try #require(
            forward.firstIndex { $0.matches == [.iifname("br-0a0b0c0d"), .oifname("vx-0a0b0c0d"), .ipSaddr(in: p4)] })
        let notLocal = try #require(forward.firstIndex { $0.comment == "egress-dropped" })
        let accept4 = try #require(forward.firstIndex { $0.matches == [.ipSaddr(in: p4)] })
        // Replies before the spoof check (their source is on the internet), then everything else
        // from outside dropped; out only from the bridge, before the overlay's own accepts.
        #expect(replies < inbound && inbound < spoofed && spoofed < out && out < notLocal && notLocal < accept4)
        // The host routes the prefix and masquerades it: the namespace only forwards.
        #expect(!t.chains.contains { $0.name == "postrouting" })
        // A prefix shared with another network on the node: the namespace masquerades first.
        let shared = Firewall.networkTable(n, hostRoutesIPv4: false)
        let nat = try #require(shared.chains.first { $0.name == "postrouting" })
        #expect(nat.base?.type == "nat" && nat.base?.hook == .postrouting && nat.base?.priority == 100)
        #expect(nat.rules == [NFTRule([.oifname("vx-0a0b0c0d"), .ipSaddr(in: p4)], .masquerade)])
        #expect(try nat.rules[0].expressions().last == .masquerade)
        #expect(shared.chains.first { $0.name == "forward" }?.rules.map(\.matches) == forward.map(\.matches))
        // Without egress: no transfer link in the set, no nat chain.
        let sealed = Firewall.networkTable(Fixtures.dualStack())
        #expect(!sealed.chains.contains { $0.name == "postrouting" })
        #expect(sealed.sets.first { $0.name == "links" }?.elements.count == 2)
    }

    @Test func hostTableForwardsOnlyTheTransferLinksEgressAndItsReplies() throws {
        let n = Fixtures.egress()
        let closed = Firewall.hostTable(HostFirewallPlan(wireguardPorts: [51820]), networks: [Fixtures.dualStack()])
        let closedForward = try #require(closed.chains.first { $0.name == "forward" })
        // Without egress: only drops, for the transfer links and the overlay's /48s; the rest is
        // accepted by the policy (a container bridge on the host keeps forwarding).
        #expect(closedForward.base?.policy == .accept && closedForward.rules.allSatisfy { $0.verdict == .drop })
        #expect(closedForward.rules.count == 4 && !closed.chains.contains { $0.name == "postrouting" })
        #expect(
            closed.sets.first { $0.name == "overlay6" }?.elements == [
                .prefix(Fixtures.dualStack().firewall.prefix.asIPPrefix)
            ])
        let open = Firewall.hostTable(HostFirewallPlan(wireguardPorts: [51820], egress: true), networks: [n])
        let forward = try #require(open.chains.first { $0.name == "forward" })
        // The network's own prefix, masqueraded once here, and the namespaces' transfer addresses.
        #expect(
            open.sets.first { $0.name == "egress4" }?.elements == [
                .prefix(IPPrefix("100.64.0.0/16")!), .prefix(IPPrefix("100.127.0.0/16")!),
            ])
        #expect(
            forward.rules.prefix(2) == [
                NFTRule(
                    [.iifname("ovx-*"), .oifname("ovx-*", negated: true), .inSet([.ipSaddr], set: "egress4")], .accept),
                NFTRule([.oifname("ovx-*"), .ctState([.established, .related])], .accept),
            ])
        #expect(
            forward.rules.dropFirst(2).map(\.matches) == [
                [.iifname("ovx-*")], [.oifname("ovx-*")], [.ip6Daddr(inSet: "overlay6")],
                [.ip6Saddr(inSet: "overlay6")],
            ])
        #expect(forward.base?.policy == .accept && forward.rules.dropFirst(2).allSatisfy { $0.verdict == .drop })
        let nat = try #require(open.chains.first { $0.name == "postrouting" })
        #expect(nat.rules.map(\.verdict) == [.masquerade] && nat.base?.type == "nat")
        // Every rule compiles; `ovx-*` compares as a prefix.
        for chain in open.chains { for rule in chain.rules { _ = try rule.expressions() } }
        let e = try forward.rules[0].expressions()
        #expect(e.contains(.cmp(register: 1, .eq, Array("ovx-".utf8))))
        #expect(e.contains(.cmp(register: 1, .neq, Array("ovx-".utf8))))
    }

    @Test func hostTableMasqueradesTheNetworksPrefixForNAT66() throws {
        var n = Fixtures.egress()
        n.egress?.nat66 = true
        let t = Firewall.hostTable(HostFirewallPlan(wireguardPorts: [51820], egress: true), networks: [n])
        #expect(t.sets.first { $0.name == "egress6" }?.elements == [.prefix(n.firewall.prefix.asIPPrefix)])
        let forward = try #require(t.chains.first { $0.name == "forward" })
        #expect(
            forward.rules[1]
                == NFTRule([.iifname("ovx-*"), .oifname("ovx-*", negated: true), .ip6Saddr(inSet: "egress6")], .accept))
        let nat = try #require(t.chains.first { $0.name == "postrouting" })
        #expect(nat.rules.map(\.verdict) == [.masquerade, .masquerade])
        #expect(nat.rules[1].matches.last == .ip6Saddr(inSet: "egress6"))
        // The network namespace lets IPv6 out from its /48 and masquerades nothing.
        let ns = Firewall.networkTable(n)
        let nsForward = try #require(ns.chains.first { $0.name == "forward" }?.rules)
        #expect(
            nsForward.contains(
                NFTRule(
                    [.iifname("br-0a0b0c0d"), .oifname("vx-0a0b0c0d"), .ip6Saddr(in: n.firewall.prefix.asIPPrefix)],
                    .accept)))
        #expect(!ns.chains.contains { $0.name == "postrouting" })
        // IPv6 only (no IPv4 prefix): the transfer link still carries IPv6, and nothing masquerades there.
        var v6only = n
        v6only.firewall.ipv4Prefix = nil
        v6only.ipv4 = nil
        v6only.egress?.nat44 = false
        let t6 = Firewall.networkTable(v6only)
        #expect(t6.sets.first { $0.name == "links" }?.elements.contains(.values([.interface("vx-0a0b0c0d")])) == true)
        #expect(!t6.chains.contains { $0.name == "postrouting" })
    }

    @Test func overlappingIPv4PrefixesOnOneNodeKeepTheNamespacesMasquerade() throws {
        var a = Fixtures.egress()
        var b = Fixtures.egress()
        b.id = "0b0c0d0e"
        b.egress?.hostInterface = "ovx-0b0c0d0e"
        var c = Fixtures.egress()
        c.id = "0c0d0e0f"
        let p65 = IPv4Prefix("100.65.0.0/16")!
        c.ipv4?.prefix = p65
        c.firewall.ipv4Prefix = p65
        var sealed = Fixtures.dualStack()
        sealed.id = "0d0e0f10"
        // a and b share 100.64/16: neither is routed by the host; c is, and a network without
        // egress on the same prefix as c changes nothing.
        sealed.ipv4?.prefix = p65
        #expect(NetworkResourcePlan.hostRoutedIPv4([a, b, c, sealed]) == ["0c0d0e0f": p65])
        #expect(NetworkResourcePlan.hostRoutedIPv4([a, c]).count == 2)
        let t = Firewall.hostTable(HostFirewallPlan(wireguardPorts: [51820], egress: true), networks: [a, b, c])
        // The host forwards c's own prefix and what the namespaces masqueraded (100.127/16).
        #expect(
            t.sets.first { $0.name == "egress4" }?.elements == [
                .prefix(p65.asIPPrefix), .prefix(AddressPlan.transferIPv4.asIPPrefix),
            ])
        // Neighbouring prefixes: an end marker and a start on the same key, as nft sends them.
        let both = Firewall.hostTable(HostFirewallPlan(wireguardPorts: [51820], egress: true), networks: [a, c])
        let encoded = try #require(both.sets.first { $0.name == "egress4" }).encodedElements()
        #expect(encoded.map(\.flags) == [1, 0, 1, 0, 1, 0, 1])
        #expect(encoded[2].key == encoded[3].key)
        a.egress?.nat44 = false
        #expect(NetworkResourcePlan.hostRoutedIPv4([a, b]) == ["0b0c0d0e": IPv4Prefix("100.64.0.0/16")!])
    }

    @Test func trafficInsideTheNetworkSkipsConntrackButEgressAndTheNamespacesOwnDoNot() throws {
        let n = Fixtures.egress()
        let t = Firewall.networkTable(n)
        let pre = try #require(t.chains.first { $0.name == "prerouting" })
        #expect(pre.base?.priority == -300 && pre.base?.policy == .accept)
        // Both families, from the bridge and from the tunnel; never from the transfer link.
        #expect(pre.rules.count == 4 && pre.rules.allSatisfy { $0.verdict == .notrack })
        #expect(pre.rules.allSatisfy { $0.matches.contains(.fibDaddrNotLocal) })
        #expect(!pre.rules.contains { $0.matches.contains(.iifname("vx-0a0b0c0d")) })
        let six = n.firewall.prefix.asIPPrefix
        #expect(
            pre.rules[0].matches == [
                .iifname("br-0a0b0c0d"), .ip6Saddr(in: six), .prefix(.ip6Daddr, six), .fibDaddrNotLocal,
            ])
        let e = try pre.rules[0].expressions()
        #expect(e.contains(.cmp(register: 1, .neq, [2, 0, 0, 0])) && e.last == .notrack)
        // IPv6 only: the IPv6 pair alone.
        #expect(Firewall.networkTable(Fixtures.network()).chains.first { $0.name == "prerouting" }?.rules.count == 2)
    }

    @Test func hostTableSkipsConntrackOnlyForWireGuardDatagramsToTheHost() throws {
        let t = Firewall.hostTable(HostFirewallPlan(wireguardPorts: [51820]))
        let pre = try #require(t.chains.first { $0.name == "prerouting" })
        #expect(pre.base?.priority == -300 && pre.base?.hook == .prerouting && pre.base?.policy == .accept)
        #expect(pre.rules.count == 1 && pre.rules[0].verdict == .notrack)
        #expect(pre.rules[0].matches.contains(.fibDaddrLocal))
        let e = try pre.rules[0].expressions()
        // udp dport @wireguard_ports, fib daddr type local, a WireGuard header, then notrack.
        #expect(e.contains(.fibDaddrType(register: 1)) && e.last == .notrack)
        #expect(e.contains(.payload(.transport, offset: 8, length: 4, register: 1)))
        #expect(e.contains(.cmp(register: 1, .eq, [0, 0, 0, 0])))
        let output = try #require(t.chains.first { $0.name == "output" })
        #expect(output.base?.priority == -300 && output.rules[0].verdict == .notrack)
        #expect(output.rules[0].matches.first == .inSet([.udpSport], set: "wireguard_ports"))
    }

    @Test func fingerprintFollowsContentAndIsReadBack() {
        let t = Firewall.networkTable(Fixtures.network())
        var other = Fixtures.network()
        other.firewall.gatewaySources = []
        #expect(Firewall.fingerprint(t) == Firewall.fingerprint(Firewall.networkTable(Fixtures.network())))
        #expect(Firewall.fingerprint(t) != Firewall.fingerprint(Firewall.networkTable(other)))
        let comments = t.chains.flatMap { $0.rules.map(\.comment) }
        #expect(Firewall.fingerprint(fromComments: comments) == Firewall.fingerprint(t))
        // Every rule compiles to kernel expressions against the table's sets.
        let sets = Dictionary(uniqueKeysWithValues: t.sets.map { ($0.name, $0.fields) })
        for chain in t.chains {
            for rule in chain.rules { #expect(throws: Never.self) { _ = try rule.expressions(sets: sets) } }
        }
    }
}
