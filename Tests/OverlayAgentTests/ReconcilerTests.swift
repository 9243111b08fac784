import Foundation
import Netlink
import OverlayModel
import OverlayPlanner
import Testing
import WireGuard

@testable import OverlayAgent

@Suite struct ReconcilerTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    /// Runs passes until one changes nothing (at most 3); returns the actions of each pass.
    @discardableResult
    func converge(_ k: FakeKernel, _ plan: NodePlan?) throws -> [[String]] {
        var passes: [[String]] = []
        let keys = plan.map(Fixtures.keys) ?? [:]
        for _ in 0..<3 {
            let actions = try k.reconcile(plan: plan, keys: keys, now: now).map(\.description)
            passes.append(actions)
            if actions.isEmpty { return passes }
        }
        Issue.record("no convergence after 3 passes: \(passes)")
        return passes
    }

    func index(_ actions: [String], _ prefix: String) -> Int {
        actions.firstIndex { $0.hasPrefix(prefix) }
            ?? {
                Issue.record("no action '\(prefix)' in \(actions)")
                return -1
            }()
    }

    @Test func createsEverythingInDependencyOrder() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan()
        let actions = Reconciler.actions(plan: plan, keys: Fixtures.keys(plan), observed: k.state, now: now)
            .map(\.description)
        #expect(
            actions.first
                == "[host] replace table inet overlay (\(Firewall.fingerprint(Firewall.hostTable(plan.hostFirewall, networks: plan.networks))))"
        )
        let order = [
            "create netns ovl-0a0b0c0d", "[ovl-0a0b0c0d] sysctl net.ipv6.conf.all.forwarding=1",
            "[ovl-0a0b0c0d] sysctl net.ipv6.conf.default.accept_dad=0",
            "[ovl-0a0b0c0d] replace table", "[ovl-0a0b0c0d] add bridge br-0a0b0c0d",
            "[ovl-0a0b0c0d] add address fd00:1:2:1::1/64 dev br-0a0b0c0d", "[host] start wireguard wg-0a0b0c0d",
            "[host] move wg-0a0b0c0d to netns ovl-0a0b0c0d", "[ovl-0a0b0c0d] set wg-0a0b0c0d mtu 1420",
            "[ovl-0a0b0c0d] set wg-0a0b0c0d up", "configure wg-0a0b0c0d: private-key (redacted); listen-port 51820",
            "[ovl-0a0b0c0d] add route fd00:1:2::/48 dev wg-0a0b0c0d", "create netns wl-web (workload)",
            "[ovl-0a0b0c0d] add veth vw-2 master br-0a0b0c0d", "[wl-web] add address fd00:1:2:1::2/64 dev ovl0",
            "[wl-web] add route default via fd00:1:2:1::1 dev ovl0", "create netns wl-db (workload)",
        ]
        let positions = order.map { index(actions, $0) }
        #expect(positions == positions.sorted(), "out of order: \(zip(order, positions).map { "\($1) \($0)" })")
        // Both peers in one configure request, with the hidden one's keepalive.
        let configure = actions.first { $0.hasPrefix("configure") } ?? ""
        #expect(configure.contains("+peer AgICAgIC allowed-ips fd00:1:2:2::/64 endpoint 192.0.2.3:51820"))
        #expect(configure.contains("+peer AwMDAwMD allowed-ips fd00:1:2:3::/64"))
    }

    @Test func secondPassSendsNothing() throws {
        let k = FakeKernel()
        let crm = Fixtures.network(
            "crm", id: "11223344", net: "fd00:5:6", port: 51821,
            workloads: [Fixtures.workload("api", 2, net: "fd00:5:6")])
        let plan = Fixtures.plan([Fixtures.network(), crm])
        let passes = try converge(k, plan)
        #expect(passes.count == 2 && passes[1].isEmpty)
        let writes = k.writes
        #expect(writes == passes[0].count)
        let again = try k.reconcile(plan: plan, keys: Fixtures.keys(plan), now: now)
        #expect(again.isEmpty)
        #expect(k.writes == writes, "a pass over an unchanged kernel wrote \(k.writes - writes) times")
        // Resulting kernel state, briefly.
        #expect(k.state.namespaces == ["ovl-0a0b0c0d", "ovl-11223344", "wl-web", "wl-db", "wl-api"])
        #expect(k.state.networkNamespaces["ovl-0a0b0c0d"]?.links["vw-2"]?.master == "br-0a0b0c0d")
        #expect(k.state.workloadNamespaces["wl-web"]?.links["ovl0"]?.addresses == [Fixtures.prefix("fd00:1:2:1::2/64")])
        #expect(k.state.wireguard["wg-11223344"]?.listenPort == 51821)
        #expect(k.state.wireguard["wg-0a0b0c0d"]?.peers.count == 2)
    }

    @Test func dualStackAddsIPv4AddressesRoutesAndForwardingThenNothing() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan([Fixtures.dualStack()])
        let passes = try converge(k, plan)
        #expect(passes.count == 2 && passes[1].isEmpty, "a dual-stack plan converges in one pass: \(passes)")
        let first = passes[0]
        for action in [
            "[ovl-0a0b0c0d] sysctl net.ipv4.ip_forward=1",
            "[ovl-0a0b0c0d] add address 100.64.1.1/24 dev br-0a0b0c0d",
            "[ovl-0a0b0c0d] add route 100.64.0.0/16 dev wg-0a0b0c0d",
            "[wl-web] add address 100.64.1.2/24 dev ovl0", "[wl-web] add route default via 100.64.1.1 dev ovl0",
            "[wl-db] add address 100.64.1.3/24 dev ovl0",
        ] {
            #expect(first.contains(action), "missing '\(action)' in \(first)")
        }
        let configure = first.first { $0.hasPrefix("configure") } ?? ""
        #expect(configure.contains("allowed-ips fd00:1:2:2::/64,100.64.2.0/24"), "\(configure)")
        // No-op reconcile: zero writes.
        let writes = k.writes
        #expect(try k.reconcile(plan: plan, keys: Fixtures.keys(plan), now: now).isEmpty)
        #expect(k.writes == writes)
        #expect(
            k.state.workloadNamespaces["wl-web"]?.links["ovl0"]?.addresses == [
                Fixtures.prefix("fd00:1:2:1::2/64"), Fixtures.prefix("100.64.1.2/24"),
            ])
        // The same network without IPv4 again: exactly the IPv4 objects go.
        let back = try converge(k, Fixtures.plan([Fixtures.network()]))
        #expect(
            Set(back[0].filter { $0.contains("address") || $0.contains("route") }) == [
                "[ovl-0a0b0c0d] delete address 100.64.1.1/24 dev br-0a0b0c0d",
                "[ovl-0a0b0c0d] delete route 100.64.0.0/16 dev wg-0a0b0c0d",
                "[wl-web] delete address 100.64.1.2/24 dev ovl0",
                "[wl-web] delete route default via 100.64.1.1 dev ovl0",
                "[wl-db] delete address 100.64.1.3/24 dev ovl0", "[wl-db] delete route default via 100.64.1.1 dev ovl0",
            ], "\(back[0])")
    }

    @Test func egressBuildsTheTransferLinkOnceAndRestoresTheHostSysctlWhenItGoes() throws {
        let k = FakeKernel()
        k.hostSysctls[Reconciler.forwardingKey4] = "0"
        let plan = Fixtures.plan([Fixtures.egress()])
        let passes = try converge(k, plan)
        #expect(passes.count == 2 && passes[1].isEmpty, "\(passes)")
        let first = passes[0]
        // 51820 is 0xca6c: the namespace's end is 100.127.202.108.
        let order = [
            "[host] replace table inet overlay", "[host] sysctl net.ipv4.ip_forward=1",
            "[host] add veth ovx-0a0b0c0d up, peer vx-0a0b0c0d in netns ovl-0a0b0c0d up",
            "[ovl-0a0b0c0d] add address 100.127.202.108/32 dev vx-0a0b0c0d",
            "[host] add address 169.254.1.1/32 dev ovx-0a0b0c0d",
            "[ovl-0a0b0c0d] add route 169.254.1.1/32 dev vx-0a0b0c0d",
            "[ovl-0a0b0c0d] add route default via 169.254.1.1 dev vx-0a0b0c0d",
            "[host] add route 100.127.202.108/32 dev ovx-0a0b0c0d",
            // One masquerade, in the host: it routes the network's prefix back to the namespace.
            "[host] add route 100.64.0.0/16 via 100.127.202.108 dev ovx-0a0b0c0d",
        ]
        let positions = order.map { index(first, $0) }
        #expect(positions == positions.sorted(), "out of order: \(zip(order, positions).map { "\($1) \($0)" })")
        #expect(k.state.recordedSysctls == [Reconciler.forwardingKey4: "0"])
        // No-op: zero writes.
        let writes = k.writes
        #expect(try k.reconcile(plan: plan, keys: Fixtures.keys(plan), now: now).isEmpty)
        #expect(k.writes == writes)
        // Egress off: the pair goes (both ends), the host's ip_forward goes back.
        let off = try converge(k, Fixtures.plan([Fixtures.dualStack()]))
        #expect(off[0].contains("[ovl-0a0b0c0d] delete link vx-0a0b0c0d"), "\(off[0])")
        #expect(off[0].contains("[host] restore sysctl net.ipv4.ip_forward=0"), "\(off[0])")
        #expect(k.state.host.links["ovx-0a0b0c0d"] == nil && k.hostSysctls[Reconciler.forwardingKey4] == "0")
        #expect(k.state.recordedSysctls.isEmpty)
        // On again, then down: everything goes and the sysctl is restored.
        try converge(k, plan)
        let down = try converge(k, nil)
        #expect(down[0].contains("[host] restore sysctl net.ipv4.ip_forward=0"), "\(down[0])")
        #expect(k.state.host.links.isEmpty && k.state.recordedSysctls.isEmpty)
    }

    @Test func aSecondNetworkOnTheSameIPv4PrefixTurnsBothBackToTheNamespacesMasquerade() throws {
        let k = FakeKernel()
        let a = Fixtures.egress()
        try converge(k, Fixtures.plan([a]))
        var b = Fixtures.egress()
        b.name = "other"
        b.id = "0b0c0d0e"
        b.namespace = "ovl-0b0c0d0e"
        b.interface = "wg-0b0c0d0e"
        b.bridge = "br-0b0c0d0e"
        b.listenPort = 51821
        b.workloads = []
        b.egress = EgressPlan(
            nat44: true, nat66: false, interface: "vx-0b0c0d0e", hostInterface: "ovx-0b0c0d0e",
            address: AddressPlan.transferAddress(listenPort: 51821))
        let both = Fixtures.plan([a, b])
        let passes = try converge(k, both)
        #expect(passes.count == 2 && passes[1].isEmpty, "\(passes)")
        // 100.64.0.0/16 cannot be routed to two links: no prefix route, each namespace masquerades.
        #expect(passes[0].contains("[host] delete route 100.64.0.0/16 via 100.127.202.108 dev ovx-0a0b0c0d"))
        #expect(!passes[0].contains { $0.hasPrefix("[host] add route 100.64.0.0/16") }, "\(passes[0])")
        #expect(
            k.state.networkNamespaces["ovl-0a0b0c0d"]?.firewall
                == Firewall.expectedState(Firewall.networkTable(a, hostRoutesIPv4: false)))
        #expect(
            k.state.networkNamespaces["ovl-0b0c0d0e"]?.firewall
                == Firewall.expectedState(Firewall.networkTable(b, hostRoutesIPv4: false)))
        // The other network gone: back to one masquerade.
        let alone = try converge(k, Fixtures.plan([a]))
        #expect(alone[0].contains("[host] add route 100.64.0.0/16 via 100.127.202.108 dev ovx-0a0b0c0d"), "\(alone[0])")
        #expect(k.state.networkNamespaces["ovl-0a0b0c0d"]?.firewall == Firewall.expectedState(Firewall.networkTable(a)))
    }

    @Test func nat66RoutesTheNetworksPrefixToTheTransferLinkAndKeepsTheUplinksRouterAdvertisements() throws {
        let k = FakeKernel()
        let raKey = Reconciler.acceptRAKey("eth0")
        k.hostSysctls = [Reconciler.forwardingKey4: "0", Reconciler.forwardingKey: "0", raKey: "1"]
        k.state.uplink6 = Uplink(name: "eth0", acceptRA: "1")
        var n = Fixtures.egress()
        n.egress?.nat66 = true
        let plan = Fixtures.plan([n])
        let passes = try converge(k, plan)
        #expect(passes.count == 2 && passes[1].isEmpty, "\(passes)")
        let first = passes[0]
        // accept_ra=2 before forwarding, or the uplink would drop its router's advertisements.
        let order = [
            "[host] replace table inet overlay",
            "[host] sysctl /proc/sys/net/ipv6/conf/eth0/accept_ra=2",
            "[host] sysctl net.ipv6.conf.all.forwarding=1",
            "[ovl-0a0b0c0d] add address fd6f:7678:6665::ca6c/128 dev vx-0a0b0c0d",
            "[host] add address fd6f:7678:6665::1:0/128 dev ovx-0a0b0c0d",
            "[ovl-0a0b0c0d] add route fd6f:7678:6665::1:0/128 dev vx-0a0b0c0d",
            "[ovl-0a0b0c0d] add route default via fd6f:7678:6665::1:0 dev vx-0a0b0c0d",
            "[host] add route fd6f:7678:6665::ca6c/128 dev ovx-0a0b0c0d",
            "[host] add route \(n.firewall.prefix) via fd6f:7678:6665::ca6c dev ovx-0a0b0c0d",
        ]
        let positions = order.map { index(first, $0) }
        #expect(positions == positions.sorted(), "out of order: \(zip(order, positions).map { "\($1) \($0)" })")
        #expect(k.state.recordedSysctls == [Reconciler.forwardingKey4: "0", Reconciler.forwardingKey: "0", raKey: "1"])
        // NAT66 off (the node lost its public IPv6): IPv6 forwarding and accept_ra go back, IPv4 stays.
        let off = try converge(k, Fixtures.plan([Fixtures.egress()]))
        #expect(off[0].contains("[host] restore sysctl net.ipv6.conf.all.forwarding=0"), "\(off[0])")
        #expect(off[0].contains("[host] restore sysctl \(raKey)=1"), "\(off[0])")
        #expect(!off[0].contains { $0.contains("ip_forward") })
        #expect(off[0].contains("[host] delete route \(n.firewall.prefix) via fd6f:7678:6665::ca6c dev ovx-0a0b0c0d"))
        #expect(k.hostSysctls[raKey] == "1" && k.hostSysctls[Reconciler.forwardingKey] == "0")
        // Down restores everything.
        try converge(k, plan)
        try converge(k, nil)
        #expect(k.state.recordedSysctls.isEmpty && k.hostSysctls.values.sorted() == ["0", "0", "1"])
    }

    @Test func aHostThatAlreadyForwardsIPv6KeepsItsUplinkAsItIs() throws {
        let k = FakeKernel()
        k.hostSysctls = [Reconciler.forwardingKey: "1", Reconciler.forwardingKey4: "1"]
        k.state.host.forwarding = true
        k.state.host.forwarding4 = true
        k.state.uplink6 = Uplink(name: "eth0", acceptRA: "1")
        var n = Fixtures.egress()
        n.egress?.nat66 = true
        let first = try converge(k, Fixtures.plan([n]))[0]
        #expect(!first.contains { $0.hasPrefix("[host] sysctl") }, "\(first)")
    }

    @Test func aNewNetworkNamespaceGetsBridgeNetfilterOffWhenTheModuleIsLoaded() throws {
        let k = FakeKernel()
        k.state.bridgeNetfilterLoaded = true
        let passes = try converge(k, Fixtures.plan())
        #expect(passes.count == 2 && passes[1].isEmpty, "\(passes)")
        #expect(
            k.bridgeNetfilterWrites == [
                "ovl-0a0b0c0d net.bridge.bridge-nf-call-iptables=0",
                "ovl-0a0b0c0d net.bridge.bridge-nf-call-ip6tables=0",
            ])
        // Turned on again behind the agent's back (or the module loaded later): off again.
        k.state.networkNamespaces["ovl-0a0b0c0d"]!.bridgeNetfilter = true
        let repair = try k.reconcile(plan: Fixtures.plan(), keys: Fixtures.keys(Fixtures.plan()), now: now)
        #expect(repair.count == 2)
    }

    @Test func aTransferLinkWithoutItsPeerIsReplaced() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan([Fixtures.egress()])
        try converge(k, plan)
        // The host end deleted by hand (its peer goes with it in the kernel; here only the host end).
        k.state.host.links["ovx-0a0b0c0d"] = nil
        k.pairs["/ovx-0a0b0c0d"] = nil
        let repair = try k.reconcile(plan: plan, keys: Fixtures.keys(plan), now: now).map(\.description)
        #expect(repair.first == "[ovl-0a0b0c0d] delete link vx-0a0b0c0d", "\(repair)")
        #expect(repair.contains("[host] add veth ovx-0a0b0c0d up, peer vx-0a0b0c0d in netns ovl-0a0b0c0d up"))
        #expect(try k.reconcile(plan: plan, keys: Fixtures.keys(plan), now: now).isEmpty)
    }

    @Test func peerChangesTouchOnlyThatPeer() throws {
        let k = FakeKernel()
        try converge(k, Fixtures.plan())
        var n = Fixtures.network()
        n.peers[0].allowedIPs.append(Fixtures.prefix("fd00:1:2:4::/64"))  // b now relays for another hidden node
        n.peers.remove(at: 1)  // h left
        n.peers.append(Fixtures.peer("c", 4, allowed: "fd00:1:2:5::/64", endpoint: "[2001:db8::5]:51820"))
        let passes = try converge(k, Fixtures.plan([n], revision: 2))
        #expect(
            passes[0] == [
                "configure wg-0a0b0c0d: -peer AwMDAwMD; ~peer AgICAgIC allowed-ips fd00:1:2:2::/64,fd00:1:2:4::/64; "
                    + "+peer BAQEBAQE allowed-ips fd00:1:2:5::/64 endpoint [2001:db8::5]:51820"
            ])
        #expect(passes.count == 2)
    }

    @Test func mtuAndExposedPortChanges() throws {
        let k = FakeKernel()
        try converge(k, Fixtures.plan())
        var n = Fixtures.network(mtu: 1380)
        n.firewall.exposed.append(ExposedPort(address: Fixtures.v6("fd00:1:2:1::3"), proto: .udp, port: 53))
        let passes = try converge(k, Fixtures.plan([n], revision: 2))
        let table = Firewall.networkTable(n)
        #expect(
            passes[0] == [
                "[ovl-0a0b0c0d] replace table inet overlay (\(Firewall.fingerprint(table)))",
                "[ovl-0a0b0c0d] set br-0a0b0c0d mtu 1380", "[ovl-0a0b0c0d] set wg-0a0b0c0d mtu 1380",
                "[ovl-0a0b0c0d] set vw-2 mtu 1380", "[wl-web] set ovl0 mtu 1380",
                "[ovl-0a0b0c0d] set vw-3 mtu 1380", "[wl-db] set ovl0 mtu 1380",
            ])
    }

    @Test func removingAWorkloadRemovesExactlyItsObjects() throws {
        let k = FakeKernel()
        // wl-db exists before the agent (a container runtime made it): used, never deleted.
        k.state.namespaces.insert("wl-db")
        k.state.workloadNamespaces["wl-db"] = NamespaceState(links: [
            "lo": LinkState(name: "lo", kind: nil, up: true, mtu: 65536)
        ])
        try converge(k, Fixtures.plan())
        #expect(k.state.ownedWorkloadNamespaces == ["wl-web"])

        let passes = try converge(
            k, Fixtures.plan([Fixtures.network(workloads: [Fixtures.workload("web", 2)])], revision: 2))
        #expect(passes[0] == ["[ovl-0a0b0c0d] delete link vw-3"])
        #expect(k.state.namespaces.contains("wl-db"))
        #expect(k.state.workloadNamespaces["wl-db"]?.links["ovl0"] == nil)

        let gone = try converge(k, Fixtures.plan([Fixtures.network(workloads: [])], revision: 3))
        #expect(gone[0] == ["delete netns wl-web (workload)", "[ovl-0a0b0c0d] delete link vw-2"])
    }

    @Test func removingANetworkRemovesItsNamespaceTunnelAndWorkloads() throws {
        let k = FakeKernel()
        let crm = Fixtures.network(
            "crm", id: "11223344", net: "fd00:5:6", port: 51821,
            workloads: [Fixtures.workload("api", 2, net: "fd00:5:6")])
        try converge(k, Fixtures.plan([Fixtures.network(), crm]))
        let passes = try converge(k, Fixtures.plan([crm], revision: 2))
        let hostTable = Firewall.hostTable(HostFirewallPlan(wireguardPorts: [51821]), networks: [crm])
        #expect(
            passes[0] == [
                "[host] replace table inet overlay (\(Firewall.fingerprint(hostTable)))",
                "stop wireguard wg-0a0b0c0d", "delete netns ovl-0a0b0c0d",
                "delete netns wl-db (workload)", "delete netns wl-web (workload)",
            ])
        #expect(k.state.namespaces == ["ovl-11223344", "wl-api"])
    }

    @Test func driftIsRepairedWithExactlyTheMissingPieces() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan()
        try converge(k, plan)
        let ns = "ovl-0a0b0c0d"
        k.state.networkNamespaces[ns]!.routes.removeAll()
        k.state.wireguard["wg-0a0b0c0d"]!.peers.removeAll { $0.publicKey == Fixtures.key(2) }
        k.state.networkNamespaces[ns]!.firewall = nil
        try k.apply(.deleteLink(namespace: ns, name: "vw-2"))
        let table = Firewall.networkTable(plan.networks[0])
        let passes = try converge(k, plan)
        #expect(
            passes[0] == [
                "[ovl-0a0b0c0d] replace table inet overlay (\(Firewall.fingerprint(table)))",
                "configure wg-0a0b0c0d: +peer AgICAgIC allowed-ips fd00:1:2:2::/64 endpoint 192.0.2.3:51820",
                "[ovl-0a0b0c0d] add route fd00:1:2::/48 dev wg-0a0b0c0d",
                "[ovl-0a0b0c0d] add veth vw-2 master br-0a0b0c0d mtu 1420 up, peer ovl0 in netns wl-web",
                "[wl-web] set ovl0 up", "[wl-web] add address fd00:1:2:1::2/64 dev ovl0",
                "[wl-web] add route default via fd00:1:2:1::1 dev ovl0",
            ])
    }

    @Test func aDeadTunnelIsStartedAgainAndFullyConfigured() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan()
        try converge(k, plan)
        try k.apply(.stopWireGuard("wg-0a0b0c0d"))  // wireguard-go died: its link and routes went with it
        let passes = try converge(k, plan)
        #expect(passes[0].first == "[host] start wireguard wg-0a0b0c0d")
        #expect(
            passes[0].contains {
                $0.hasPrefix("configure wg-0a0b0c0d: private-key (redacted); listen-port 51820; +peer")
            })
        #expect(passes[0].last == "[ovl-0a0b0c0d] add route fd00:1:2::/48 dev wg-0a0b0c0d")
    }

    @Test(arguments: [1, 4, 9, 14, 20])
    func aFailureMidwayIsFinishedByTheNextPass(failAt: Int) throws {
        let k = FakeKernel()
        let plan = Fixtures.plan()
        let total = Reconciler.actions(plan: plan, keys: Fixtures.keys(plan), observed: k.state, now: now).count
        k.failOnWrite = failAt
        #expect(throws: ReconcileError.self) { try k.reconcile(plan: plan, keys: Fixtures.keys(plan), now: now) }
        #expect(k.writes == failAt)
        let passes = try converge(k, plan)
        #expect(passes.count == 2 && passes[1].isEmpty)
        // Nothing applied before the failure is done twice.
        #expect(passes[0].count == total - (failAt - 1))
    }

    @Test func teardownRemovesOnlyWhatTheAgentOwns() throws {
        let k = FakeKernel()
        k.state.namespaces.insert("wl-db")  // not ours
        k.state.workloadNamespaces["wl-db"] = NamespaceState(links: [
            "lo": LinkState(name: "lo", kind: nil, up: true, mtu: 65536)
        ])
        k.state.namespaces.insert("docker-1")  // someone else's
        try converge(k, Fixtures.plan())
        let passes = try converge(k, nil)
        #expect(
            passes[0] == [
                "stop wireguard wg-0a0b0c0d", "delete netns ovl-0a0b0c0d", "delete netns wl-web (workload)",
                "[host] delete table inet overlay",
            ])
        #expect(k.state.namespaces == ["wl-db", "docker-1"])
        #expect(k.state.wireguard.isEmpty && k.state.host.firewall == nil)
    }

    @Test func aForeignLinkWhereTheBridgeBelongsIsReplaced() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan()
        try converge(k, plan)
        k.state.networkNamespaces["ovl-0a0b0c0d"]!.links["br-0a0b0c0d"]!.kind = .veth
        let actions = Reconciler.actions(plan: plan, keys: Fixtures.keys(plan), observed: k.state, now: now).map(
            \.description)
        #expect(
            Array(actions.prefix(2)) == [
                "[ovl-0a0b0c0d] delete link br-0a0b0c0d", "[ovl-0a0b0c0d] add bridge br-0a0b0c0d mtu 1420 up",
            ])
    }

    /// Runs one pass that must report `objects` unreadable; returns the actions it applied.
    func passReportingUnreadable(_ k: FakeKernel, _ plan: NodePlan, _ objects: Set<ObservedObject>) -> [String] {
        do {
            let actions = try k.reconcile(plan: plan, keys: Fixtures.keys(plan), now: now)
            Issue.record("the pass did not report the unreadable objects; it applied \(actions)")
            return actions.map(\.description)
        } catch let e as UnreadableStateError {
            #expect(Set(e.unreadable.keys) == objects)
            return e.applied.map(\.description)
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    @Test func anUnreadableTunnelIsNeitherDeletedNorStartedAgain() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan()
        try converge(k, plan)
        let before = k.state.wireguard["wg-0a0b0c0d"]?.peers.map(\.publicKey)
        let writes = k.writes
        // wireguard-go stalls (or the genl `get` times out): the device is there but says nothing.
        k.unreadable = [.wireguard("wg-0a0b0c0d")]
        let applied = passReportingUnreadable(k, plan, [.wireguard("wg-0a0b0c0d")])
        #expect(applied == [])
        #expect(k.writes == writes)
        #expect(k.state.wireguard["wg-0a0b0c0d"]?.peers.map(\.publicKey) == before)
        #expect(before?.count == 2)
        // Also with other work to do in the same pass: that goes ahead, the tunnel stays.
        var changed = Fixtures.network()
        changed.peers.removeLast()
        changed.mtu = 1380
        let next = Fixtures.plan([changed], revision: 2)
        let more = passReportingUnreadable(k, next, [.wireguard("wg-0a0b0c0d")])
        #expect(more.contains("[ovl-0a0b0c0d] set br-0a0b0c0d mtu 1380"))
        #expect(!more.contains { $0.contains("wireguard") || $0.contains("configure") || $0.contains("wg-0a0b0c0d") })
        // It answers again: the next pass picks up where it left off, without a restart.
        k.unreadable = []
        let resumed = try k.reconcile(plan: next, keys: Fixtures.keys(next), now: now).map(\.description)
        #expect(!resumed.contains { $0.contains("start wireguard") || $0.contains("stop wireguard") })
        #expect(resumed.contains { $0.hasPrefix("configure wg-0a0b0c0d: -peer") })
        #expect(k.state.wireguard["wg-0a0b0c0d"]?.peers.count == 1)
    }

    @Test func anUnreadableWorkloadNamespaceKeepsItsVeth() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan()
        try converge(k, plan)
        let writes = k.writes
        k.unreadable = [.namespace("wl-web")]
        let applied = passReportingUnreadable(k, plan, [.namespace("wl-web")])
        #expect(applied == [])
        #expect(k.writes == writes)
        #expect(k.state.networkNamespaces["ovl-0a0b0c0d"]?.links["vw-2"] != nil)
        #expect(k.state.workloadNamespaces["wl-web"]?.links["ovl0"]?.addresses == [Fixtures.prefix("fd00:1:2:1::2/64")])
        k.unreadable = []
        #expect(try k.reconcile(plan: plan, keys: Fixtures.keys(plan), now: now).isEmpty)
    }

    @Test func anUnreadableNetworkNamespaceIsLeftAlone() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan()
        try converge(k, plan)
        let writes = k.writes
        k.unreadable = [.namespace("ovl-0a0b0c0d")]
        #expect(passReportingUnreadable(k, plan, [.namespace("ovl-0a0b0c0d")]) == [])
        #expect(k.writes == writes)
        // Not in the plan any more and unreadable: still not deleted on a guess.
        #expect(
            passReportingUnreadable(k, Fixtures.plan([], revision: 2), [.namespace("ovl-0a0b0c0d")])
                .allSatisfy { !$0.contains("ovl-0a0b0c0d") })
        #expect(k.state.namespaces.contains("ovl-0a0b0c0d"))
    }

    @Test func actionsCarryThePlansMACs() {
        let plan = Fixtures.plan()
        let n = plan.networks[0]
        let actions = Reconciler.actions(plan: plan, keys: Fixtures.keys(plan), observed: ObservedState(), now: now)
        var bridges: [[UInt8]] = []
        var veths: [String: [UInt8]] = [:]
        for a in actions {
            if case .createBridge(_, _, _, let mac) = a { bridges.append(mac) }
            if case .createVeth(_, let name, _, _, _, _, let mac) = a { veths[name] = mac }
        }
        #expect(bridges == [n.bridgeMAC])
        #expect(veths == ["vw-2": n.workloads[0].mac(in: n), "vw-3": n.workloads[1].mac(in: n)])
        #expect(veths["vw-2"] == [0x06, 0x0a, 0x0b, 0, 0, 2])
    }
}
