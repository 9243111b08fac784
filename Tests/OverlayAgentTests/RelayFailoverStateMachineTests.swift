import OverlayPlanner
import Testing

@testable import OverlayAgent

/// The relay failover decision against a fake clock: probes answered or lost as a scripted network
/// says, and the reroutes that come out, with their times.
@Suite struct RelayFailoverStateMachineTests {
    typealias Machine = RelayFailoverStateMachine
    static let t0 = ContinuousClock.now
    static let thresholds = Machine.Thresholds(FailoverThresholds())

    /// Drives a machine in steps of `step`: every probe it asks for is answered at once (2 ms) when
    /// `reachable(hub, seconds since t0)` holds, else reported lost one probe interval later.
    struct Network {
        var machine = Machine(hubs: 2, thresholds: RelayFailoverStateMachineTests.thresholds, now: t0)
        var now = t0
        var step = Duration.milliseconds(50)
        var pendingLosses: [(at: ContinuousClock.Instant, hub: Int)] = []
        /// Each reroute applied: seconds since t0 (its instant) and the hubs out of service.
        var reroutes: [(at: Double, out: [Int])] = []
        /// A reroute announced for a later instant.
        var announced: RelayFailoverStateMachine.Switch?
        /// Returns announced and then called off.
        var cancelled = 0
        /// Each path flip: seconds since t0, the hub, and whether it is now through the detour.
        var paths: [(at: Double, hub: Int, detour: Bool)] = []
        var probesSent = [0, 0]

        var seconds: Double { Self.seconds(now - t0) }
        static func seconds(_ d: Duration) -> Double {
            Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }

        mutating func run(until end: Double, reachable: (Int, Double) -> Bool) {
            run(until: end) { h, t, _ in reachable(h, t) }
        }

        /// `reachable(hub, seconds, through the detour)`.
        mutating func run(until end: Double, reachable: (Int, Double, Bool) -> Bool) {
            while seconds < end {
                now += step
                let due = pendingLosses.filter { $0.at <= now }
                pendingLosses.removeAll { $0.at <= now }
                for l in due {
                    machine.observe(hub: l.hub, .lost(sent: l.at - machine.thresholds.probeInterval), at: now)
                }
                if let a = announced, a.at <= now {
                    reroutes.append((Self.seconds(a.at - t0), a.outOfService))
                    announced = nil
                }
                for a in machine.tick(at: now) {
                    switch a {
                    case .probe(let h):
                        probesSent[h] += 1
                        if reachable(h, seconds, machine.hubs[h].detoured) {
                            machine.observe(hub: h, .reply(rtt: .milliseconds(2)), at: now)
                        } else {
                            pendingLosses.append((now + machine.thresholds.probeInterval, h))
                        }
                    case .reroute(let out, let at):
                        if at <= now {
                            reroutes.append((seconds, out))
                            announced = nil
                        } else {
                            announced = .init(outOfService: out, at: at)
                        }
                    case .cancelReroute:
                        announced = nil
                        cancelled += 1
                    case .path(let h, let detour):
                        paths.append((seconds, h, detour))
                    }
                }
            }
        }
    }

    @Test func healthyHubsAreProbedOncePerSecondAndNothingMoves() {
        var n = Network()
        n.run(until: 60) { _, _ in true }
        #expect(n.reroutes.isEmpty)
        #expect(n.machine.status == .normal)
        #expect(n.probesSent.allSatisfy { (59...61).contains($0) }, "\(n.probesSent)")
        #expect(n.machine.hubs.allSatisfy { $0.rtt == .milliseconds(2) && $0.losses == 0 })
    }

    @Test func aDeadPrimaryGoesOutOfServiceWithinTheDownThreshold() throws {
        var n = Network()
        n.run(until: 30) { h, t in h == 1 || t < 10 }
        let first = try #require(n.reroutes.first)
        #expect(first.out == [0])
        // The last reply came at 10 s at the latest; down after 3.5 s of silence.
        #expect(first.at > 10 && first.at <= 10 + 3.5 + 0.1, "failed over at \(first.at)")
        #expect(n.reroutes.count == 1)
        #expect(n.machine.status == .without(0))
        #expect(n.machine.active(primary: 0) == 1)
        #expect(n.machine.active(primary: 1) == 1)
        #expect(n.machine.failovers == 1)
    }

    @Test func oneLostProbeMovesNothing() {
        var n = Network()
        n.run(until: 30) { h, t in !(h == 0 && (10..<11).contains(t)) }
        #expect(n.reroutes.isEmpty)
        #expect(n.machine.hubs[0].losses == 1)
    }

    @Test func thePrimaryReturnsOnlyAfterItWasHealthyForTheHoldTime() throws {
        var n = Network()
        n.run(until: 60) { h, t in h == 1 || t < 10 || t >= 20 }
        #expect(n.reroutes.map(\.out) == [[0], []])
        let back = n.reroutes[1].at
        // Up again at 20 s (the reply to the probe sent then); back in service 10 s later, at the
        // middle of that probe interval (on the return grid: 0.5 s plus a multiple of 5 s).
        #expect(back == 30.5, "returned at \(back)")
        #expect(n.machine.status == .normal)
        #expect(n.machine.returns == 1)
    }

    @Test func aFlappingPrimaryDoesNotFlapTheRoutes() {
        var n = Network()
        // Dead from 10 s; from 20 s to 80 s it answers for 6 s, then drops 2 s, over and over (last drop 74-76 s).
        let flapping: (Int, Double) -> Bool = { h, t in
            if h == 1 || t < 10 { return true }
            if t < 20 { return false }
            if t < 80 { return (t - 20).truncatingRemainder(dividingBy: 8) < 6 }
            return true
        }
        n.run(until: 120, reachable: flapping)
        #expect(n.reroutes.map(\.out) == [[0], []], "\(n.reroutes)")
        // The last drop ends at 76 s: the hold ends 10 s later, and the return waits for the
        // grid (90.5 s).
        #expect(n.reroutes.last.map { $0.at == 90.5 } == true, "\(n.reroutes)")
    }

    @Test func bothHubsDownIsNoRelayAndTheFirstOneBackServesAtOnce() throws {
        var n = Network()
        n.run(until: 40) { h, t in h == 0 ? t < 10 : t < 15 }
        #expect(n.reroutes.map(\.out) == [[0], [0, 1]])
        #expect(n.machine.status == .noRelay)
        #expect(n.machine.active(primary: 0) == nil)
        // The standby comes back first: in service after 2 s up, with no hold (nothing else works).
        n.run(until: 70) { h, t in h == 1 && t >= 50 }
        #expect(n.reroutes.map(\.out) == [[0], [0, 1], [0]])
        let recovered = n.reroutes[2].at
        #expect(recovered >= 52 && recovered <= 53, "recovered at \(recovered)")
        #expect(n.machine.active(primary: 0) == 1)
        // Then the primary: the hold applies again.
        n.run(until: 100) { h, t in h == 1 || t >= 75 }
        #expect(n.reroutes.map(\.out) == [[0], [0, 1], [0], []])
        #expect(n.reroutes[3].at == 85.5, "\(n.reroutes)")
    }

    @Test func aFreshHandshakeIsASignOfLifeAndAnOldOneIsNot() {
        var m = Machine(hubs: 2, thresholds: Self.thresholds, now: Self.t0)
        let t = Self.t0 + .seconds(5)
        m.observe(hub: 0, .lost(sent: t - .seconds(1)), at: t)
        // A handshake from before the loss says nothing about now.
        m.observe(hub: 0, .handshake(age: .seconds(2)), at: t)
        #expect(m.hubs[0].aliveSince == nil)
        #expect(m.hubs[0].handshakeAge == .seconds(2))
        // One after it does.
        m.observe(hub: 0, .handshake(age: .milliseconds(100)), at: t + .seconds(1))
        #expect(m.hubs[0].aliveSince == t + .milliseconds(900))
        #expect(m.hubs[0].lastAlive == t + .milliseconds(900))
    }

    @Test func aDownHubReturnsOnTheSameProbeTickForEveryMemberWhateverTheirHandshakes() {
        // Two members, the primary down for both; it comes back at 40.05 s. Member a's WireGuard
        // retry completes a handshake at 40.1 s, b's at 44.2 s; both probe on whole seconds, and
        // the first replies come at 41 s.
        var members = [
            Machine(hubs: 2, thresholds: Self.thresholds, now: Self.t0),
            Machine(hubs: 2, thresholds: Self.thresholds, now: Self.t0),
        ]
        for s in 1...40 {
            let t = Self.t0 + .seconds(s)
            for i in members.indices {
                members[i].observe(hub: 0, .lost(sent: t - .seconds(1)), at: t)
                members[i].observe(hub: 1, .reply(rtt: .milliseconds(1)), at: t)
                _ = members[i].tick(at: t)
            }
        }
        #expect(members.allSatisfy { $0.outOfService == [0] })
        members[0].observe(hub: 0, .handshake(age: .zero), at: Self.t0 + .milliseconds(40_100))
        // Down: a handshake alone does not start the return.
        #expect(members[0].hubs[0].aliveSince == nil && members[0].hubs[0].handshakeAge == .zero)
        // Ticks every 100 ms, as deadlines may fall between probes.
        var returned: [ContinuousClock.Instant?] = [nil, nil]
        for step in 401...700 {
            let t = Self.t0 + .milliseconds(step * 100)
            if step == 442 { members[1].observe(hub: 0, .handshake(age: .zero), at: t) }
            for i in members.indices {
                if step % 10 == 0 {
                    members[i].observe(hub: 0, .reply(rtt: .milliseconds(2 + i)), at: t)
                    members[i].observe(hub: 1, .reply(rtt: .milliseconds(1)), at: t)
                }
                for case .reroute([], let at) in members[i].tick(at: t) { returned[i] = at }
            }
        }
        #expect(returned[0] == Self.t0 + .milliseconds(55_500), "\(returned)")
        #expect(returned[0] == returned[1], "\(returned)")
        #expect(members.allSatisfy { $0.outOfService.isEmpty && $0.returns == 1 })
    }

    /// Members with the primary out of service, probing on whole seconds; it answers again from
    /// the probe sent at `back` s. Member i sees each reply `rtts[i]` after its probe.
    static func returning(rtts: [Duration], back: Int = 20) -> [Machine] {
        var members = rtts.map { _ in Machine(hubs: 2, thresholds: thresholds, now: t0) }
        for i in members.indices {
            for s in 1...back {
                let t = t0 + .seconds(s)
                _ = members[i].tick(at: t)
                if s < back { members[i].observe(hub: 0, .lost(sent: t - .seconds(1)), at: t) }
                members[i].observe(hub: 1, .reply(rtt: rtts[i]), at: t + rtts[i])
            }
            #expect(members[i].outOfService == [0])
        }
        return members
    }

    @Test func membersThatSeeTheReplyOnTheSameTickReturnAtTheSameInstant() {
        // One member 2 ms from the hub, one 300 ms away whose loop also runs 40 ms late.
        let rtts: [Duration] = [.milliseconds(2), .milliseconds(300)]
        let lags: [Duration] = [.zero, .milliseconds(40)]
        var members = Self.returning(rtts: rtts)
        var announced: [[RelayFailoverStateMachine.Action]] = [[], []]
        var applied: [ContinuousClock.Instant?] = [nil, nil]
        for i in members.indices {
            var delivered = 19
            var t = Self.t0 + .seconds(20) + lags[i]
            while t < Self.t0 + .seconds(40) {
                t += .milliseconds(10)
                // Replies to the probes of whole seconds, as they arrive.
                while Self.t0 + .seconds(delivered + 1) + rtts[i] <= t {
                    delivered += 1
                    for h in 0..<2 {
                        members[i].observe(hub: h, .reply(rtt: rtts[i]), at: Self.t0 + .seconds(delivered) + rtts[i])
                    }
                }
                announced[i] += members[i].tick(at: t).filter { if case .probe = $0 { false } else { true } }
                if applied[i] == nil && members[i].outOfService.isEmpty { applied[i] = t }
            }
        }
        // Both announce the same instant: the middle of the probe interval after the hold.
        let expected = Self.t0 + .milliseconds(30_500)
        #expect(announced[0] == [.reroute(outOfService: [], at: expected)], "\(announced[0])")
        #expect(announced[1] == announced[0], "\(announced[1])")
        // Each machine counts the hub in service from its first tick at or after it.
        #expect(applied[0] == expected)
        #expect(applied[1].map { $0 >= expected && $0 - expected < .milliseconds(10) } == true)
        #expect(members.allSatisfy { $0.returns == 1 && $0.scheduled == nil })
    }

    /// The instant each of `members` applies the return at, replies coming back from the probe
    /// of `backs[i]` s on (2 ms round trips), ticks every 10 ms.
    static func returnInstants(backs: [Int]) -> [ContinuousClock.Instant?] {
        let start = backs.min()! - 1
        var members = Self.returning(rtts: backs.map { _ in .milliseconds(2) }, back: start)
        var applied: [ContinuousClock.Instant?] = members.map { _ in nil }
        for i in members.indices {
            var t = Self.t0 + .seconds(start)
            while t < Self.t0 + .seconds(50) {
                t += .milliseconds(10)
                for a in members[i].tick(at: t) {
                    if case .probe(let h) = a {
                        let sent = Self.t0 + .seconds(Int((Network.seconds(t - Self.t0)).rounded(.down)))
                        if h == 1 || sent >= Self.t0 + .seconds(backs[i]) {
                            members[i].observe(hub: h, .reply(rtt: .milliseconds(2)), at: t + .milliseconds(2))
                        } else {
                            members[i].observe(hub: h, .lost(sent: sent), at: t + .milliseconds(2))
                        }
                    }
                }
                if applied[i] == nil && members[i].outOfService.isEmpty { applied[i] = t }
            }
        }
        return applied
    }

    @Test func membersThatSeeTheHubBackATickApartStillReturnAtTheSameInstant() {
        // One member's first reply answers the probe of 21 s, the other's that of 22 s: the holds
        // end at 31 and 32 s, and both return at the next instant of the grid, 35.5 s.
        let apart = Self.returnInstants(backs: [21, 22])
        #expect(apart[0].map { $0 - Self.t0 } == .milliseconds(35_500), "\(apart)")
        #expect(apart[1] == apart[0], "\(apart)")
        // One time in five a grid instant falls between the two: 20 and 21 s return 5 s apart.
        let straddling = Self.returnInstants(backs: [20, 21])
        #expect(straddling.map { $0.map { $0 - Self.t0 } } == [.milliseconds(30_500), .milliseconds(35_500)])
    }

    @Test func theReturnGridFollowsItsOriginNotTheFirstProbe() {
        let t0 = Self.t0
        let m = Machine(
            hubs: 2, thresholds: Self.thresholds, now: t0, firstProbe: t0 + .milliseconds(300),
            returnOrigin: t0 + .milliseconds(2300))
        #expect(m.thresholds.returnGrid == .seconds(5))
        #expect(m.returnInstant(atOrAfter: t0 + .seconds(10)) == t0 + .milliseconds(12_800))
        #expect(m.returnInstant(atOrAfter: t0 + .milliseconds(12_800)) == t0 + .milliseconds(12_800))
        #expect(m.returnInstant(atOrAfter: t0 + .milliseconds(12_801)) == t0 + .milliseconds(17_800))
        #expect(m.returnInstant(atOrAfter: t0 + .seconds(1)) == t0 + .milliseconds(2800))
        #expect(m.returnInstant(atOrAfter: t0 - .seconds(3)) == t0 - .milliseconds(2200))
    }

    @Test func aLossBeforeTheInstantCancelsTheReturnAndTheHoldStartsAgain() {
        var m = Self.returning(rtts: [.milliseconds(2)])[0]
        var actions: [RelayFailoverStateMachine.Action] = []
        for s in 20...30 {
            let t = Self.t0 + .seconds(s)
            actions += m.tick(at: t)
            if s < 30 { m.observe(hub: 0, .reply(rtt: .milliseconds(2)), at: t + .milliseconds(2)) }
            m.observe(hub: 1, .reply(rtt: .milliseconds(2)), at: t + .milliseconds(2))
        }
        // The hold ends at 30.002 s: the return is announced for 30.5 s.
        actions += m.tick(at: Self.t0 + .milliseconds(30_002))
        #expect(actions.contains(.reroute(outOfService: [], at: Self.t0 + .milliseconds(30_500))))
        #expect(m.scheduled == .init(outOfService: [], at: Self.t0 + .milliseconds(30_500)))
        #expect(m.nextDeadline == Self.t0 + .milliseconds(30_500))
        // A probe sent at 29.4 s (off the grid: the loop fell behind) is lost before the instant:
        // the return is off.
        m.observe(hub: 0, .lost(sent: Self.t0 + .milliseconds(29_400)), at: Self.t0 + .milliseconds(30_400))
        #expect(m.tick(at: Self.t0 + .milliseconds(30_400)) == [.cancelReroute])
        #expect(m.tick(at: Self.t0 + .milliseconds(30_500)).isEmpty)
        #expect(m.outOfService == [0] && m.scheduled == nil && m.returns == 0)
        // Replies again from the probe of 31 s: the hold ends at 41 s, back at 45.5 s.
        var back: ContinuousClock.Instant?
        for step in 305...470 {
            let t = Self.t0 + .milliseconds(step * 100)
            for a in m.tick(at: t) {
                if case .probe(let h) = a, h == 1 || step >= 310 {
                    m.observe(hub: h, .reply(rtt: .milliseconds(2)), at: t)
                }
                if case .reroute([], let at) = a { back = at }
            }
        }
        #expect(back == Self.t0 + .milliseconds(45_500))
        #expect(m.outOfService.isEmpty && m.returns == 1)
    }

    @Test func aFailoverIsAppliedAtOnceAndSupersedesAReturn() {
        var m = Self.returning(rtts: [.milliseconds(2)])[0]
        // The primary answers again from 20 s; the standby's last reply comes at 26.702 s.
        for s in 20...26 {
            let t = Self.t0 + .seconds(s)
            _ = m.tick(at: t)
            m.observe(hub: 0, .reply(rtt: .milliseconds(2)), at: t + .milliseconds(2))
            m.observe(hub: 1, .reply(rtt: .milliseconds(2)), at: t + .milliseconds(s < 26 ? 2 : 702))
        }
        for s in 27...30 {
            let t = Self.t0 + .seconds(s)
            _ = m.tick(at: t)
            m.observe(hub: 0, .reply(rtt: .milliseconds(2)), at: t + .milliseconds(2))
        }
        #expect(
            m.tick(at: Self.t0 + .milliseconds(30_002)) == [
                .reroute(outOfService: [], at: Self.t0 + .milliseconds(30_500))
            ])
        // The standby is down at 30.202 s, before that instant: it leaves at once, and the primary,
        // the only hub left, comes back with it. Nothing waits for the instant any more.
        #expect(
            m.tick(at: Self.t0 + .milliseconds(30_202)) == [
                .reroute(outOfService: [1], at: Self.t0 + .milliseconds(30_202))
            ])
        #expect(m.outOfService == [1] && m.scheduled == nil)
        #expect(m.tick(at: Self.t0 + .milliseconds(30_500)).isEmpty)
    }

    @Test func aLossOfAnEarlierProbeTakenAfterALaterReplyDoesNotRestartTheHold() {
        var m = Machine(hubs: 2, thresholds: Self.thresholds, now: Self.t0)
        let t = Self.t0 + .seconds(30)
        // The hub was silent; the probe sent at t - 1 s gets no answer, the one sent at t does.
        m.observe(hub: 0, .lost(sent: t - .seconds(2)), at: t - .seconds(1))
        m.observe(hub: 0, .reply(rtt: .milliseconds(2)), at: t + .milliseconds(2))
        // The earlier probe's expiry is taken after that reply, within the same wake-up.
        m.observe(hub: 0, .lost(sent: t - .seconds(1) + .milliseconds(1)), at: t + .milliseconds(3))
        #expect(m.hubs[0].aliveSince == t + .milliseconds(2))
        #expect(m.hubs[0].lastLoss == t - .seconds(1))
        #expect(m.hubs[0].losses == 2 && m.hubs[0].probes == 3)
        // A probe sent after the reply's that is lost does count.
        m.observe(hub: 0, .lost(sent: t + .seconds(1)), at: t + .seconds(2))
        #expect(m.hubs[0].aliveSince == nil)
    }

    @Test func aJoiningMemberTrustsThePlanUntilAHubFails() {
        let m = Machine(hubs: 2, thresholds: Self.thresholds, now: Self.t0)
        #expect(m.status == .normal)
        #expect(m.outOfService.isEmpty)
        #expect(m.active(primary: 1) == 1)
    }

    @Test func thresholdsComeFromThePlan() {
        let t = Machine.Thresholds(
            FailoverThresholds(probeInterval: 500, downAfter: 2000, upAfter: 1000, returnAfter: 5000))
        #expect(t.probeInterval == .milliseconds(500))
        #expect(t.downAfter == .seconds(2))
        #expect(t.upAfter == .seconds(1))
        #expect(t.returnAfter == .seconds(5))
    }

    @Test func theNextDeadlineIsTheNextProbeOrThresholdWhicheverComesFirst() {
        let t0 = Self.t0
        var m = Machine(hubs: 2, thresholds: Self.thresholds, now: t0, firstProbe: t0 + .milliseconds(300))
        #expect(m.nextDeadline == t0 + .milliseconds(300))
        _ = m.tick(at: t0 + .milliseconds(300))
        for h in 0..<2 { m.observe(hub: h, .reply(rtt: .milliseconds(1)), at: t0 + .milliseconds(300)) }
        // Probes next at 1.3 s; the hubs would be down at 3.8 s without another reply.
        #expect(m.nextDeadline == t0 + .milliseconds(1300))
        for t in [1300, 2300, 3300] { _ = m.tick(at: t0 + .milliseconds(t)) }
        m.observe(hub: 1, .reply(rtt: .milliseconds(1)), at: t0 + .milliseconds(3300))
        #expect(m.nextDeadline == t0 + .milliseconds(3800))
        #expect(m.tick(at: t0 + .milliseconds(3800)) == [.reroute(outOfService: [0], at: t0 + .milliseconds(3800))])
        m.observe(hub: 0, .reply(rtt: .milliseconds(1)), at: t0 + .milliseconds(3900))
        _ = m.tick(at: t0 + .milliseconds(4300))
        for h in 0..<2 { m.observe(hub: h, .reply(rtt: .milliseconds(1)), at: t0 + .milliseconds(4300)) }
        #expect(m.nextDeadline == t0 + .milliseconds(5300), "the next probe comes before the 5.9 s up threshold")
    }

    @Test func aHubNeverHeardFromSinceTheStartGetsTheLongerGrace() throws {
        var n = Network()
        // Hub 0 never answers: out of service after returnAfter (10 s), not downAfter.
        n.run(until: 20) { h, _ in h == 1 }
        let first = try #require(n.reroutes.first)
        #expect(first.out == [0])
        #expect(first.at >= 10 && first.at < 10.1, "\(first.at)")
    }

    // A broken path to one hub: the member detours through the other hub's forwarder.

    static func detouring() -> Network {
        var n = Network()
        n.machine = Machine(hubs: 2, thresholds: thresholds, now: t0, detours: [true, true])
        return n
    }

    @Test func aBrokenPathToThePrimaryIsDetouredAndNothingMoves() throws {
        var n = Self.detouring()
        // The member's router drops UDP to the primary from 10 s; the forwarder path works.
        n.run(until: 60) { h, t, detour in h == 1 || detour || t < 10 }
        #expect(n.reroutes.isEmpty, "\(n.reroutes)")
        #expect(n.machine.status == .normal)
        let first = try #require(n.paths.first)
        #expect(first.hub == 0 && first.detour)
        // The last reply came at 10 s at the latest: suspected 1.5 s later, before `downAfter`.
        #expect(first.at > 10 && first.at <= 10 + 1.5 + 0.1, "detoured at \(first.at)")
        // The direct path is tried again after 10 s, then 20 s, 40 s: each try fails and comes back.
        #expect(n.paths.map(\.detour) == [true, false, true, false, true], "\(n.paths)")
        #expect(n.paths[1].at - n.paths[0].at >= 10 && n.paths[1].at - n.paths[0].at < 10.1, "\(n.paths)")
        #expect(n.paths[3].at - n.paths[2].at >= 20 && n.paths[3].at - n.paths[2].at < 20.1, "\(n.paths)")
        #expect(n.machine.hubs[0].detoured)
        #expect(n.machine.hubs[1].detoured == false)
    }

    @Test func aPathThatHealsIsTakenBackAtTheNextTryAndKept() {
        var n = Self.detouring()
        // Broken from 10 s to 25 s: detour at ~10.5 s, a failed try at ~20.5 s, back to the detour at
        // ~22 s, the next try at ~42 s finds it healed and stays.
        n.run(until: 120) { h, t, detour in h == 1 || detour || t < 10 || t >= 25 }
        #expect(n.reroutes.isEmpty, "\(n.reroutes)")
        #expect(n.paths.map(\.detour) == [true, false, true, false], "\(n.paths)")
        #expect(n.paths.last.map { $0.at > 41 && $0.at < 45 } == true, "\(n.paths)")
        #expect(!n.machine.hubs[0].detoured)
        // A later break starts again with the short wait.
        n.run(until: 200) { h, t, detour in h == 1 || detour || t < 150 || t >= 155 }
        let later = n.paths.filter { $0.at > 150 }
        #expect(later.map(\.detour) == [true, false], "\(n.paths)")
        #expect(later.count == 2 && later[1].at - later[0].at < 10.1, "\(later)")
    }

    @Test func aDeadPrimaryWithADetourStillFailsOverInTime() throws {
        var n = Self.detouring()
        n.run(until: 30) { h, t, _ in h == 1 || t < 10 }
        let first = try #require(n.reroutes.first)
        #expect(first.out == [0])
        #expect(first.at > 10 && first.at <= 10 + 3.5 + 0.1, "failed over at \(first.at)")
        #expect(n.paths.first.map { $0.hub == 0 && $0.detour } == true)
        // The primary returns on either path: found within one flip, back in service after the hold.
        n.run(until: 60) { h, t, detour in h == 1 || (t >= 40 && !detour) }
        #expect(n.reroutes.map(\.out) == [[0], []], "\(n.reroutes)")
        #expect(n.reroutes[1].at >= 50 && n.reroutes[1].at <= 54, "\(n.reroutes)")
    }

    @Test func aForwarderThatStopsSendsTheMemberBackToTheDirectPath() {
        var n = Self.detouring()
        // Direct broken 10-30 s; the forwarder (the standby) dies at 30 s when the direct path heals.
        n.run(until: 60) { h, t, detour in
            if h == 1 { return t < 30 }
            return detour ? t < 30 : (t < 10 || t >= 30)
        }
        // The primary is never taken out of service; the standby is.
        #expect(n.reroutes.map(\.out) == [[1]], "\(n.reroutes)")
        #expect(!n.machine.hubs[0].detoured)
        #expect(n.machine.hubs[0].inService)
        #expect(
            n.paths.filter { $0.hub == 0 }.last.map { !$0.detour && $0.at > 30 && $0.at < 32 } == true, "\(n.paths)")
    }

    @Test func aMemberThatJustStartedWaitsForTheHubBeforeDetouring() {
        var n = Self.detouring()
        // Hub 0 silent from the start, as if its tunnel needed a WireGuard retry: no flip in the grace.
        n.run(until: 9) { h, t, _ in h == 1 || t > 8 }
        #expect(n.paths.isEmpty, "\(n.paths)")
        #expect(n.reroutes.isEmpty)
    }

    @Test func withoutADetourNothingFlips() {
        var n = Network()
        n.run(until: 30) { h, t in h == 1 || t < 10 }
        #expect(n.paths.isEmpty)
        #expect(n.reroutes.map(\.out) == [[0]])
    }

    @Test func aMachineStartedAgainOnTheDetourStaysThereWhileItAnswers() {
        var n = Network()
        n.machine = Machine(
            hubs: 2, thresholds: Self.thresholds, now: Self.t0, detours: [true, true], detoured: [true, false])
        #expect(n.machine.hubs[0].detoured && n.machine.hubs[0].seen)
        #expect(!n.machine.hubs[1].detoured)
        // The direct path still broken: the try after `returnAfter` fails, and back it goes.
        n.run(until: 30) { h, _, detour in h == 1 || detour }
        #expect(n.reroutes.isEmpty)
        #expect(n.paths.map(\.detour) == [false, true], "\(n.paths)")
        #expect(n.paths.first.map { $0.at >= 10 && $0.at < 10.1 } == true, "\(n.paths)")
    }
}
