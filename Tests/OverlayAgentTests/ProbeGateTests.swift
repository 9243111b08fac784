import Foundation
import NFTables
import OverlayModel
import OverlayPlanner
import Testing
import WireGuard

@testable import OverlayAgent

/// A relay hub whose tunnel was just made answers no probe until every member's handshake retry
/// has passed, so they all see it back on the same tick.
@Suite struct ProbeGateTests {
    /// 2026-12-02 07:30:00.250 UTC.
    static let now = Date(timeIntervalSince1970: 1_796_196_600.25)
    static let nowNanoseconds: UInt64 = 1_796_196_600_250_000_000

    static func relayHubPlan() -> NodePlan {
        var hub = Fixtures.network()
        hub.relayForwarder = RelayForwarderPlan(port: 51821, target: Endpoint("192.0.2.4:51820")!)
        return Fixtures.plan([hub, Fixtures.network("other", id: "0e0e0e0e", net: "fd00:9:9", port: 51822)])
    }

    @Test func aRelayHubWhoseTunnelIsAboutToBeMadeGetsAGateOnTheMembersGrid() throws {
        let plan = Self.relayHubPlan()
        let gates = Reconciler.probeGates(
            plan: plan, observed: ObservedState(), now: Self.now, current: [:], carried: ["shop", "other"])
        // Only the network this node relays for; 16 s later, at the middle of a probe interval:
        // 07:30:16.250 rounds up to 07:30:16.500.
        #expect(gates == ["shop": Self.nowNanoseconds + 16_250_000_000])
        #expect(RelayProber.wallClock(epochNanoseconds: gates["shop"]!) == "07:30:16.500 UTC")
        // A network the node did not carry before is new to it: its members wait for the hub.
        #expect(
            Reconciler.probeGates(plan: plan, observed: ObservedState(), now: Self.now, current: [:], carried: [])
                .isEmpty)
    }

    @Test func aTunnelThatExistsOrCannotBeReadGetsNone() throws {
        let plan = Self.relayHubPlan()
        var kernel = FakeKernel()
        try kernel.reconcile(plan: plan, keys: Fixtures.keys(plan))
        #expect(kernel.state.wireguard["wg-0a0b0c0d"] != nil)
        #expect(
            Reconciler.probeGates(
                plan: plan, observed: kernel.state, now: Self.now, current: [:], carried: ["shop", "other"]
            ).isEmpty)
        kernel = FakeKernel()
        kernel.state.unreadable[.wireguard("wg-0a0b0c0d")] = "read failed"
        #expect(
            Reconciler.probeGates(
                plan: plan, observed: kernel.state, now: Self.now, current: [:], carried: ["shop", "other"]
            ).isEmpty)
    }

    @Test func aGateStaysForAMinuteAfterItOpensThenGoes() {
        let plan = Self.relayHubPlan()
        let open = Self.nowNanoseconds + 16_250_000_000
        var observed = ObservedState()
        observed.wireguard["wg-0a0b0c0d"] = Device(name: "wg-0a0b0c0d")
        let later = Self.now.addingTimeInterval(70)
        #expect(
            Reconciler.probeGates(
                plan: plan, observed: observed, now: later, current: ["shop": open], carried: ["shop"]) == [
                    "shop": open
                ]
        )
        let gone = Self.now.addingTimeInterval(77)
        #expect(
            Reconciler.probeGates(plan: plan, observed: observed, now: gone, current: ["shop": open], carried: ["shop"])
                .isEmpty)
        // A network this node no longer relays for loses its gate at once.
        #expect(
            Reconciler.probeGates(
                plan: Fixtures.plan(), observed: observed, now: later, current: ["shop": open], carried: ["shop"]
            )
            .isEmpty)
    }

    @Test func theGateDropsEchoRequestsFromTheTunnelBeforeTheRouterAnswersThem() throws {
        let open: UInt64 = 0x0102_0304_0506_0708
        let table = Firewall.networkTable(Fixtures.network(), probesAnsweredFrom: open)
        let input = try #require(table.chains.first { $0.name == "input" })
        let gate = try #require(input.rules.firstIndex { $0.comment == "probe-gate" })
        let answer = try #require(
            input.rules.firstIndex { $0.matches.contains(.icmpv6Type(.echoRequest)) && $0.verdict == .accept })
        #expect(gate < answer)
        let rule = input.rules[gate]
        #expect(rule.verdict == .drop && rule.counter)
        #expect(rule.matches.contains(.iifname("wg-0a0b0c0d")))
        // meta time, to network order, compared as big-endian bytes.
        let expressions = try rule.expressions()
        let tail = Array(expressions.suffix(5))
        #expect(tail[0] == .meta(.timeNanoseconds, register: 1))
        #expect(tail[1] == .hostToNetwork(register: 1, length: 8, size: 8))
        #expect(tail[2] == .cmp(register: 1, .lt, [1, 2, 3, 4, 5, 6, 7, 8]))
        // Without a gate the table is the one it always was.
        let plain = Firewall.networkTable(Fixtures.network())
        #expect(plain.chains.first { $0.name == "input" }?.rules.contains { $0.comment == "probe-gate" } == false)
        #expect(Firewall.fingerprint(plain) != Firewall.fingerprint(table))
    }

    @Test func aPassCarriesTheGateIntoTheNetworkTable() throws {
        let plan = Self.relayHubPlan()
        let gates = Reconciler.probeGates(
            plan: plan, observed: ObservedState(), now: Self.now, current: [:], carried: ["shop", "other"])
        let actions = Reconciler.actions(
            plan: plan, keys: Fixtures.keys(plan), observed: ObservedState(), now: Self.now, probeGates: gates)
        let tables = actions.compactMap { action -> NFTable? in
            if case .replaceFirewall(let ns?, let t) = action, ns == "ovl-0a0b0c0d" { return t }
            return nil
        }
        #expect(tables.count == 1)
        #expect(
            tables.first?.chains.first { $0.name == "input" }?.rules.contains { $0.comment == "probe-gate" } == true)
    }
}
