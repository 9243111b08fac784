import OverlayModel
import OverlayPlanner
import Testing
import WireGuard

@testable import OverlayAgent

/// The plan the agent hands the reconciler while a relay hub is out of service, and the peers it
/// probes after configuring them.
@Suite struct NodePlanFailoverTests {
    static func key(_ b: UInt8) -> WireGuardKey { WireGuardKey(bytes: [UInt8](repeating: b, count: 32))! }
    static let prefix = IPv6Prefix("fd00:1:2::/48")!
    static func subnet(_ n: Int) -> IPv6Prefix { IPv6Prefix("fd00:1:2:\(n)::/64")! }

    /// A hidden member (subnet 4) whose primary is hub a (subnet 1), standby hub b (subnet 2).
    static func hiddenPlan() -> NodePlan {
        let a = RelayHubPlan(
            name: "a", publicKey: key(1), subnet: subnet(1), access: [], relayed: [prefix.asIPPrefix], isPrimary: true)
        let b = RelayHubPlan(name: "b", publicKey: key(2), subnet: subnet(2), access: [], relayed: [], isPrimary: false)
        var n = Fixtures.network("net")
        n.peers = [
            PeerPlan(
                name: "a", kind: .node, publicKey: key(1), endpoint: Endpoint("192.0.2.1:51820"),
                allowedIPs: [prefix.asIPPrefix], persistentKeepalive: 25),
            PeerPlan(
                name: "b", kind: .node, publicKey: key(2), endpoint: Endpoint("192.0.2.2:51820"),
                allowedIPs: [subnet(2).asIPPrefix], persistentKeepalive: 25),
        ]
        n.failover = FailoverPlan(hubs: [a, b])
        return NodePlan(
            node: "h", revision: 1, hostFirewall: HostFirewallPlan(wireguardPorts: [n.listenPort]), networks: [n],
            gateway: nil)
    }

    @Test func nothingOutOfServiceIsThePlanItself() {
        let plan = Self.hiddenPlan()
        #expect(plan.withRelaysOutOfService { _ in [] } == plan)
    }

    @Test func thePrimaryOutOfServiceMovesTheNetworkToTheStandby() {
        let plan = Self.hiddenPlan().withRelaysOutOfService { $0 == "net" ? [Self.key(1)] : [] }
        let peers = Dictionary(uniqueKeysWithValues: plan.networks[0].peers.map { ($0.name, $0.allowedIPs) })
        #expect(peers["a"] == [Self.subnet(1).asIPPrefix])
        #expect(peers["b"] == [Self.subnet(2).asIPPrefix, Self.prefix.asIPPrefix])
        // Everything else is the plan's.
        var back = plan
        back.networks[0].peers = Self.hiddenPlan().networks[0].peers
        #expect(back == Self.hiddenPlan())
    }

    @Test func aNewlyAddedNodePeerIsProbedAtItsRouterAddress() {
        let plan = Self.hiddenPlan()
        let n = plan.networks[0]
        let change = DeviceChange(
            peers: n.peers.map {
                .add(PeerConfig(publicKey: $0.publicKey, endpoint: $0.endpoint, allowedIPs: $0.allowedIPs))
            })
        let targets = plan.probeTargets(newPeersIn: [.configureWireGuard(n.interface, change)])
        // The primary's /48 says nothing about where it is: its /64 comes from the failover entry.
        #expect(targets.map(\.address) == [IPv6Address("fd00:1:2:1::1")!, IPv6Address("fd00:1:2:2::1")!])
        #expect(targets.allSatisfy { $0.namespace == n.namespace })
        // Changes and removals start nothing.
        let update = DeviceChange(peers: [.update(PeerUpdate(publicKey: Self.key(2), allowedIPs: []))])
        #expect(plan.probeTargets(newPeersIn: [.configureWireGuard(n.interface, update)]).isEmpty)
    }

    @Test func aDetouredHubGetsItsDetourAsEndpointAndItsOwnEndpointIsIgnored() throws {
        var plan = Self.hiddenPlan()
        plan.networks[0].failover!.hubs[0].detour = Endpoint("192.0.2.2:51821")
        plan.networks[0].failover!.hubs[1].detour = Endpoint("192.0.2.1:51821")
        // On the direct paths: the detours are ignored, nothing else changes.
        let direct = plan.withRelaysOutOfService({ _ in [] })
        #expect(direct.networks == plan.networks)
        #expect(direct.hostFirewall.ignoredEndpoints == [Endpoint("192.0.2.2:51821")!, Endpoint("192.0.2.1:51821")!])
        // Hub a through b's forwarder: its peer's endpoint is the detour, its own endpoint ignored.
        let detoured = plan.withRelaysOutOfService({ _ in [] }, detoured: { _ in [Self.key(1)] })
        let a = try #require(detoured.networks[0].peers.first { $0.name == "a" })
        #expect(a.endpoint == Endpoint("192.0.2.2:51821"))
        #expect(a.allowedIPs == [Self.prefix.asIPPrefix])
        #expect(detoured.networks[0].peers.first { $0.name == "b" }?.endpoint == Endpoint("192.0.2.2:51820"))
        #expect(detoured.hostFirewall.ignoredEndpoints == [Endpoint("192.0.2.1:51820")!, Endpoint("192.0.2.1:51821")!])
        // The ignored endpoints reach the host table as drops before WireGuard's ports are accepted.
        let table = Firewall.hostTable(detoured.hostFirewall)
        let input = try #require(table.chains.first { $0.name == "input" })
        #expect(
            input.rules.count == Firewall.hostTable(plan.hostFirewall).chains.first { $0.name == "input" }!.rules.count
                + 2)
    }
}
