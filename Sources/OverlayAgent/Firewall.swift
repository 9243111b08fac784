import NFTables
import OverlayModel
import OverlayPlanner
import Synchronization

/// The agent's nftables tables (docs/architecture.md, "The agent"), built as values from the plan: pure, no I/O.
/// Per-item matches live in sets, so a table has the same handful of rules whatever its size.
public enum Firewall {
    public static let tableName = "overlay"
    /// Written as the comment of the table's first rule: tells the agent's table of this exact
    /// content from anything else (an older plan, a hand edit).
    static let fingerprintPrefix = "overlay:"

    /// ICMPv6 that IPv6 cannot work without: errors (packet too big above all) and neighbour
    /// discovery. Echo is not here: nothing outside may probe a node.
    static let neededICMPv6: [ICMPv6Type] = [
        .destinationUnreachable, .packetTooBig, .timeExceeded, .parameterProblem,
        .routerSolicit, .routerAdvert, .neighborSolicit, .neighborAdvert,
    ]

    /// The agent's own namespace: nothing comes in but replies, loopback, WireGuard and the ICMPv6
    /// IPv6 needs. Forwarding is decided only for the overlay: its egress over the transfer links
    /// and the replies go through, anything else to or from a transfer link or an overlay /48 is
    /// dropped; other forwarded traffic (a container bridge, a router the host is) is left to the
    /// host's own rules. `networks` are the plan's networks on this node.
    public static func hostTable(_ plan: HostFirewallPlan, networks: [NetworkResourcePlan] = []) -> NFTable {
        let ports = Array(Set(plan.wireguardPorts)).sorted()
        let transfer = "ovx-*"
        let overlay6 = Array(Set(networks.map(\.firewall.prefix))).sorted()
        let nat66 = Array(Set(networks.filter { $0.egress?.nat66 == true }.map(\.firewall.prefix))).sorted()
        let fromTransfer: [NFTMatch] = [.iifname(transfer), .oifname(transfer, negated: true)]
        // Egress: IPv4 arrives from the network's prefix, or from the namespace's 100.127/16
        // address (the namespace's own connections, and a network whose prefix overlaps another's
        // on the node, masqueraded there first); IPv6 from the network's /48. Both leave
        // masqueraded to the uplink's address.
        let routed4 = Array(Set(NetworkResourcePlan.hostRoutedIPv4(networks).values))
        let egress4 = plan.egress ? routed4.sorted { $0.description < $1.description } + [AddressPlan.transferIPv4] : []
        var egressSources: [[NFTMatch]] = []
        if plan.egress { egressSources.append([.inSet([.ipSaddr], set: "egress4")]) }
        if !nat66.isEmpty { egressSources.append([.ip6Saddr(inSet: "egress6")]) }
        let forward: [NFTRule] =
            egressSources.map { NFTRule(fromTransfer + $0, .accept) }
            + (egressSources.isEmpty
                ? [] : [NFTRule([.oifname(transfer), .ctState([.established, .related])], .accept)])
            + [
                NFTRule([.iifname(transfer)], counter: true, .drop, comment: "overlay-forward-dropped"),
                NFTRule([.oifname(transfer)], counter: true, .drop, comment: "overlay-forward-dropped"),
                NFTRule([.ip6Daddr(inSet: "overlay6")], counter: true, .drop, comment: "overlay-forward-dropped"),
                NFTRule([.ip6Saddr(inSet: "overlay6")], counter: true, .drop, comment: "overlay-forward-dropped"),
            ]
        let nat: [NFTChain] =
            egressSources.isEmpty
            ? []
            : [
                .base(
                    "postrouting", hook: .postrouting, priority: 100, policy: .accept, type: "nat",
                    rules: egressSources.map { NFTRule(fromTransfer + $0, .masquerade) })
            ]
        // WireGuard's datagrams skip conntrack: the input chain accepts them by port, and tracking
        // every one costs the tunnel's throughput. Only datagrams for this host's own addresses
        // that carry a WireGuard header (message type 1-4, three zero bytes): a forwarded flow,
        // or a reply to a NATed one, that happens to use the same port stays tracked.
        let wireguardHeader = NFTMatch.transportBytes(offset: 8, mask: [0xF8, 0xFF, 0xFF, 0xFF], equals: [0, 0, 0, 0])
        let raw: [NFTChain] = [
            .base(
                "prerouting", hook: .prerouting, priority: -300, policy: .accept,
                rules: [
                    NFTRule([.inSet([.udpDport], set: "wireguard_ports"), .fibDaddrLocal, wireguardHeader], .notrack)
                ]),
            .base(
                "output", hook: .output, priority: -300, policy: .accept,
                rules: [NFTRule([.inSet([.udpSport], set: "wireguard_ports"), wireguardHeader], .notrack)]),
        ]
        return sealed(
            NFTable(
                name: tableName,
                chains: [
                    .base(
                        "input", hook: .input, policy: .drop,
                        rules: [
                            NFTRule([.ctState([.established, .related])], .accept),
                            NFTRule([.iifname("lo")], .accept),
                        ]
                            + plan.ignoredEndpoints.map { e in
                                let source: NFTMatch =
                                    switch e.address {
                                    case .v4: .ipSaddr(in: .host(e.address))
                                    case .v6: .ip6Saddr(in: .host(e.address))
                                    }
                                return NFTRule([source, .equal(.udpSport, .port(e.port))], .drop)
                            } + [
                                NFTRule([.inSet([.udpDport], set: "wireguard_ports")], .accept),
                                // A gateway's public ports (HTTP, TLS, mapped TCP and UDP); empty elsewhere.
                                NFTRule([.inSet([.tcpDport], set: "gateway_tcp")], .accept),
                                NFTRule([.inSet([.udpDport], set: "gateway_udp")], .accept),
                                NFTRule([.inSet([.icmpv6Type], set: "icmpv6_needed")], .accept),
                                NFTRule(counter: true, .drop, comment: "input-dropped"),
                            ]),
                    .base("forward", hook: .forward, policy: .accept, rules: forward),
                ] + raw + nat,
                sets: [
                    .single("wireguard_ports", .inetService, ports.map { .port($0) }),
                    .single("gateway_tcp", .inetService, Array(Set(plan.gatewayTCPPorts)).sorted().map { .port($0) }),
                    .single("gateway_udp", .inetService, Array(Set(plan.gatewayUDPPorts)).sorted().map { .port($0) }),
                    .single("icmpv6_needed", .icmpv6Type, neededICMPv6.map { .icmpv6($0) }),
                    NFTSet(
                        name: "overlay6", fields: [.ipv6Address], interval: true,
                        elements: overlay6.map { .prefix($0.asIPPrefix) }),
                    NFTSet(
                        name: "egress4", fields: [.ipv4Address], interval: true,
                        elements: egress4.map { .prefix($0.asIPPrefix) }),
                    NFTSet(
                        name: "egress6", fields: [.ipv6Address], interval: true,
                        elements: nat66.map { .prefix($0.asIPPrefix) }),
                ]))
    }

    /// A network namespace: forwards only between the bridge and the WireGuard interface (and
    /// WireGuard to WireGuard, which is a hub relaying for hidden members); sources must lie in the
    /// network's /48 or its IPv4 prefix; gateways reach only exposed ports; everything else is dropped and counted.
    /// `hostRoutesIPv4`: the host routes the network's IPv4 prefix to the transfer link and
    /// masquerades it (`NetworkResourcePlan.hostRoutedIPv4`); otherwise the namespace masquerades
    /// its IPv4 egress to the transfer address first.
    /// `probesAnsweredFrom`: on a relay hub whose tunnel was just made, the wall-clock instant
    /// (nanoseconds since the epoch) before which pings from the tunnel go unanswered
    /// (`Reconciler.probeGates`).
    public static func networkTable(
        _ network: NetworkResourcePlan, hostRoutesIPv4: Bool = true, probesAnsweredFrom: UInt64? = nil
    ) -> NFTable {
        let fw = network.firewall
        let prefix = fw.prefix.asIPPrefix
        let exposed = Array(Set(fw.exposed)).sorted()
        func exposedSet(_ name: String, _ proto: PortSpec.Proto) -> NFTSet {
            NFTSet(
                name: name, fields: [.ipv6Address, .inetService],
                elements: exposed.filter { $0.proto == proto }.map {
                    .values([.address(.v6($0.address)), .port($0.port)])
                })
        }
        let gateways = Array(Set(fw.gatewaySources)).sorted { $0.description < $1.description }
        // IPv4 is forwarded only in a network that has it, from its own prefix; gateways reach
        // workloads over IPv6 only, so their rules need no IPv4 twin.
        let ipv4Spoofed =
            fw.ipv4Prefix.map { [NFTRule([.ipSaddr(notIn: $0.asIPPrefix)], counter: true, .drop, comment: "spoofed")] }
            ?? []
        let ipv4Accepted = fw.ipv4Prefix.map { [NFTRule([.ipSaddr(in: $0.asIPPrefix)], .accept)] } ?? []
        // Egress: the transfer link lets out what local workloads open (IPv4 from the network's
        // prefix, IPv6 from its /48) and lets in only its replies; nothing from there opens anything, and nothing
        // from other nodes leaves through it (each workload goes out through its own node).
        var links: [NFTValue] = [.interface(network.bridge), .interface(network.interface)]
        var inbound: [NFTRule] = []
        var outbound: [NFTRule] = []
        var nat: [NFTChain] = []
        let p4 = fw.ipv4Prefix?.asIPPrefix
        if let e = network.egress, e.needsTransfer {
            links.append(.interface(e.interface))
            inbound = [
                NFTRule([.iifname(e.interface), .ctState([.established, .related])], .accept),
                NFTRule([.iifname(e.interface)], counter: true, .drop, comment: "inbound"),
            ]
            if e.nat44, let p4 {
                outbound.append(NFTRule([.iifname(network.bridge), .oifname(e.interface), .ipSaddr(in: p4)], .accept))
            }
            if e.nat44, let p4, !hostRoutesIPv4 {
                nat = [
                    .base(
                        "postrouting", hook: .postrouting, priority: 100, policy: .accept, type: "nat",
                        rules: [NFTRule([.oifname(e.interface), .ipSaddr(in: p4)], .masquerade)])
                ]
            }
            // IPv6 leaves with its own source; the host masquerades it (NAT66).
            if e.nat66 {
                outbound.append(
                    NFTRule([.iifname(network.bridge), .oifname(e.interface), .ip6Saddr(in: prefix)], .accept))
            }
            outbound.append(NFTRule([.oifname(e.interface)], counter: true, .drop, comment: "egress-dropped"))
        }
        // Traffic inside the network (between the bridge and the tunnel, both ends in its
        // prefixes) skips conntrack: the forward chain accepts it by address, so tracking it
        // only costs throughput. What the namespace itself sends or receives (a gateway's proxy)
        // and egress (to the internet) stay tracked: their replies are accepted by state.
        var inside: [NFTRule] = [network.bridge, network.interface].map {
            NFTRule(
                [.iifname($0), .ip6Saddr(in: prefix), .prefix(.ip6Daddr, prefix), .fibDaddrNotLocal], .notrack)
        }
        if let p4 {
            inside += [network.bridge, network.interface].map {
                NFTRule([.iifname($0), .ipSaddr(in: p4), .prefix(.ipDaddr, p4), .fibDaddrNotLocal], .notrack)
            }
        }
        // Members' probes of a relay hub that has just come back get no answer until every
        // member's WireGuard has had its retry to reach it: they all see it back on one tick.
        let probeGate =
            probesAnsweredFrom.map {
                [
                    NFTRule(
                        [.iifname(network.interface), .icmpv6Type(.echoRequest), .before(epochNanoseconds: $0)],
                        counter: true, .drop, comment: "probe-gate")
                ]
            } ?? []
        return sealed(
            NFTable(
                name: tableName,
                chains: [
                    .base(
                        "forward", hook: .forward, policy: .drop,
                        rules: [
                            NFTRule([.inSet([.iifname], set: "links", negated: true)], counter: true, .drop),
                            NFTRule([.inSet([.oifname], set: "links", negated: true)], counter: true, .drop),
                        ] + inbound + [
                            NFTRule([.ip6Saddr(notIn: prefix)], counter: true, .drop, comment: "spoofed")
                        ] + ipv4Spoofed + [
                            NFTRule([.ctState([.established, .related])], .accept),
                            NFTRule(
                                [
                                    .oifname(network.bridge), .ip6Saddr(inSet: "gateways"),
                                    .inSet([.ip6Daddr, .tcpDport], set: "exposed_tcp"),
                                ],
                                .accept),
                            NFTRule(
                                [
                                    .oifname(network.bridge), .ip6Saddr(inSet: "gateways"),
                                    .inSet([.ip6Daddr, .udpDport], set: "exposed_udp"),
                                ],
                                .accept),
                            NFTRule(
                                [.oifname(network.bridge), .ip6Saddr(inSet: "gateways")], counter: true, .drop,
                                comment: "gateway-not-exposed"),
                        ] + outbound + [
                            NFTRule([.ip6Saddr(in: prefix)], .accept)
                        ] + ipv4Accepted + [
                            NFTRule(counter: true, .drop, comment: "forward-dropped")
                        ]),
                    // What the namespace itself opens towards local workloads: only a gateway's
                    // proxy runs here, and it reaches exposed ports only (the forward chain does
                    // the same for gateways on other nodes).
                    .base(
                        "output", hook: .output, policy: .accept,
                        rules: [
                            NFTRule([.ctState([.established, .related])], .accept),
                            NFTRule(
                                [.oifname(network.bridge), .inSet([.ip6Daddr, .tcpDport], set: "exposed_tcp")], .accept),
                            NFTRule(
                                [.oifname(network.bridge), .inSet([.ip6Daddr, .udpDport], set: "exposed_udp")], .accept),
                            NFTRule(
                                [.oifname(network.bridge), .l4proto(.tcp)], counter: true, .drop,
                                comment: "local-not-exposed"),
                            NFTRule(
                                [.oifname(network.bridge), .l4proto(.udp)], counter: true, .drop,
                                comment: "local-not-exposed"),
                        ]),
                    .base(
                        "input", hook: .input, policy: .drop,
                        rules: [
                            NFTRule([.ctState([.established, .related])], .accept),
                            NFTRule([.iifname("lo")], .accept),
                            NFTRule([.inSet([.icmpv6Type], set: "icmpv6_needed")], .accept),
                        ] + probeGate + [
                            // The router address answers pings from the network (a health check).
                            NFTRule([.ip6Saddr(in: prefix), .icmpv6Type(.echoRequest)], .accept),
                            NFTRule(counter: true, .drop, comment: "input-dropped"),
                        ]),
                    .base("prerouting", hook: .prerouting, priority: -300, policy: .accept, rules: inside),
                ] + nat,
                sets: [
                    .single("links", .interfaceName, links),
                    .single("gateways", .ipv6Address, gateways.map { .address(.v6($0)) }),
                    exposedSet("exposed_tcp", .tcp),
                    exposedSet("exposed_udp", .udp),
                    .single("icmpv6_needed", .icmpv6Type, neededICMPv6.map { .icmpv6($0) }),
                ]))
    }

    /// A stable digest of the table's content (FNV-1a over its encoded messages, the fingerprint comment excluded).
    public static func fingerprint(_ table: NFTable) -> String {
        var unsealed = table
        for c in unsealed.chains.indices {
            for r in unsealed.chains[c].rules.indices
            where unsealed.chains[c].rules[r].comment?.hasPrefix(fingerprintPrefix) == true {
                unsealed.chains[c].rules[r].comment = nil
            }
        }
        // The messages that install it: deterministic and cheap, where describing the value
        // walks it by reflection. A table that cannot be encoded is never installed; its
        // description still tells it apart.
        let content = (try? unsealed.contentBytes()) ?? Array(String(describing: unsealed).utf8)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in content {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// What reading `table` back must show once it is installed.
    public static func expectedState(_ table: NFTable) -> FirewallState {
        FirewallState(
            // A sealed table carries its fingerprint; only an unsealed one is hashed here.
            fingerprint: fingerprint(fromComments: table.chains.flatMap { $0.rules.map(\.comment) })
                ?? fingerprint(table),
            rulesPerChain: Dictionary(uniqueKeysWithValues: table.chains.map { ($0.name, $0.rules.count) }),
            elementsPerSet: Dictionary(
                uniqueKeysWithValues: table.sets.map {
                    // The kernel holds an interval set as its start and end markers.
                    (
                        $0.name,
                        $0.interval ? ((try? $0.encodedElements().count) ?? $0.elements.count) : $0.elements.count
                    )
                }))
    }

    /// The fingerprints of the tables sealed lately: every pass builds each network's table
    /// again, almost always the same one, and comparing it with the last ones costs far less
    /// than encoding it. Bounded: a node's tables change only with its plan.
    private static let recentFingerprints = Mutex<[NFTable: String]>([:])

    static func memoizedFingerprint(_ table: NFTable) -> String {
        if let known = recentFingerprints.withLock({ $0[table] }) { return known }
        let fp = fingerprint(table)
        recentFingerprints.withLock { recent in
            if recent.count >= 256 { recent.removeAll() }
            recent[table] = fp
        }
        return fp
    }

    /// Reads a fingerprint back from the first rule comment that carries one.
    public static func fingerprint(fromComments comments: [String?]) -> String? {
        for case let c? in comments where c.hasPrefix(fingerprintPrefix) {
            return String(c.dropFirst(fingerprintPrefix.count))
        }
        return nil
    }

    /// Puts the fingerprint on the first rule of the first chain (keeping any comment it had out:
    /// one comment per rule).
    static func sealed(_ table: NFTable) -> NFTable {
        var t = table
        let fp = memoizedFingerprint(table)
        if !t.chains.isEmpty && !t.chains[0].rules.isEmpty {
            t.chains[0].rules[0].comment = fingerprintPrefix + fp
        }
        return t
    }
}
