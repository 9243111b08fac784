import NFTables
import OverlayPlanner
import Testing

@testable import OverlayAgent

/// The host's table goes in before the agent's first connection to the controller (so every
/// controller connection is tracked from its first packet), and only when the host has none.
@Suite struct HostTableBeforeConnectingTests {
    @Test func aHostWithoutTableGetsTheCachedPlansTable() throws {
        let plan = Fixtures.plan()
        let action = Reconciler.hostTableBeforeConnecting(plan: plan, host: NamespaceState())
        guard case .replaceFirewall(nil, let table) = action else {
            Issue.record("expected the host table, got \(String(describing: action))")
            return
        }
        #expect(table == Firewall.hostTable(plan.hostFirewall, networks: plan.networks))
    }

    @Test func withoutAPlanNothingComesInButReplies() throws {
        let action = Reconciler.hostTableBeforeConnecting(plan: nil, host: NamespaceState())
        guard case .replaceFirewall(nil, let table) = action else {
            Issue.record("expected the host table, got \(String(describing: action))")
            return
        }
        #expect(table == Firewall.hostTable(HostFirewallPlan(wireguardPorts: [])))
        let ports = table.sets.first { $0.name == "wireguard_ports" }
        #expect(ports != nil)
        #expect(ports?.elements.isEmpty == true)
    }

    @Test func aTableInPlaceIsLeftToTheFirstPass() throws {
        let k = FakeKernel()
        let plan = Fixtures.plan()
        try k.reconcile(plan: plan, keys: Fixtures.keys(plan))
        #expect(k.state.host.firewall != nil)
        #expect(Reconciler.hostTableBeforeConnecting(plan: plan, host: k.state.host) == nil)
        // Even a table of another plan: replacing it is the pass's decision, with the whole plan.
        #expect(Reconciler.hostTableBeforeConnecting(plan: nil, host: k.state.host) == nil)
    }
}
