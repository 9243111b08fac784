import Testing

@testable import OverlayAgent

/// Every decision of the running agent's loop: passes, status reports, waits, stops, `--once`.
@Suite struct AgentLoopStateMachineTests {
    typealias Machine = AgentLoopStateMachine
    let t0 = ContinuousClock.now

    func running(reportsStatus: Bool = true) -> Machine {
        var c = Machine.Configuration()
        c.reportsStatus = reportsStatus
        c.statusInterval = .seconds(15)
        c.resyncInterval = .milliseconds(500)
        c.settle = .milliseconds(20)
        return Machine(c)
    }

    @Test func startsWithAPass() {
        var m = running()
        #expect(m.start() == [.reconcile])
    }

    @Test func theFirstGoodPassReportsAndWaitsForTheResyncInterval() {
        var m = running()
        _ = m.start()
        #expect(
            m.passSucceeded(revision: 3, actions: 5, now: t0)
                == [.sendStatus(applied: 3, error: ""), .waitForWakeup(timeout: .milliseconds(500))])
        #expect(m.applied == 3)
    }

    @Test func aQuietPassReportsOnlyWhenTheStatusIntervalPassed() {
        var m = running()
        _ = m.passSucceeded(revision: 3, actions: 5, now: t0)
        #expect(
            m.passSucceeded(revision: 3, actions: 0, now: t0 + .seconds(14)) == [
                .waitForWakeup(timeout: .milliseconds(500))
            ])
        #expect(
            m.passSucceeded(revision: 3, actions: 0, now: t0 + .seconds(15))
                == [.sendStatus(applied: 3, error: ""), .waitForWakeup(timeout: .milliseconds(500))])
        // The interval counts from the last report.
        #expect(
            m.passSucceeded(revision: 3, actions: 0, now: t0 + .seconds(20)) == [
                .waitForWakeup(timeout: .milliseconds(500))
            ])
    }

    @Test func everyChangeIsReportedAtOnce() {
        var m = running()
        _ = m.passSucceeded(revision: 3, actions: 0, now: t0)
        // Actions applied.
        #expect(
            m.passSucceeded(revision: 3, actions: 1, now: t0 + .seconds(1)).first == .sendStatus(applied: 3, error: ""))
        // A new revision, even with nothing to do in the kernel.
        #expect(
            m.passSucceeded(revision: 4, actions: 0, now: t0 + .seconds(2)).first == .sendStatus(applied: 4, error: ""))
    }

    @Test func aFailureIsLoggedAndReportedOncePerDistinctError() {
        var m = running()
        _ = m.passSucceeded(revision: 3, actions: 0, now: t0)
        #expect(
            m.passFailed(error: "EBUSY", now: t0 + .seconds(1))
                == [
                    .logFailure("EBUSY"), .sendStatus(applied: 3, error: "EBUSY"),
                    .waitForWakeup(timeout: .milliseconds(500)),
                ])
        // The same error again: neither logged nor reported before the interval.
        #expect(m.passFailed(error: "EBUSY", now: t0 + .seconds(2)) == [.waitForWakeup(timeout: .milliseconds(500))])
        // ...but still reported periodically.
        #expect(m.passFailed(error: "EBUSY", now: t0 + .seconds(17)).first == .sendStatus(applied: 3, error: "EBUSY"))
        // A different error is news.
        #expect(
            Array(m.passFailed(error: "ENODEV", now: t0 + .seconds(18)).prefix(2)) == [
                .logFailure("ENODEV"), .sendStatus(applied: 3, error: "ENODEV"),
            ])
        #expect(m.lastError == "ENODEV")
    }

    @Test func recoveringFromAFailureIsAChange() {
        var m = running()
        _ = m.passSucceeded(revision: 3, actions: 0, now: t0)
        _ = m.passFailed(error: "EBUSY", now: t0 + .seconds(1))
        #expect(
            m.passSucceeded(revision: 3, actions: 0, now: t0 + .seconds(2))
                == [.sendStatus(applied: 3, error: ""), .waitForWakeup(timeout: .milliseconds(500))])
        #expect(m.lastError.isEmpty)
    }

    @Test func aFailureBeforeAnyGoodPassReportsNoAppliedRevision() {
        var m = running()
        #expect(m.passFailed(error: "EPERM", now: t0).dropFirst().first == .sendStatus(applied: nil, error: "EPERM"))
    }

    @Test func withoutAControllerNothingIsReported() {
        var m = running(reportsStatus: false)
        #expect(m.passSucceeded(revision: 1, actions: 2, now: t0) == [.waitForWakeup(timeout: .milliseconds(500))])
        #expect(m.passFailed(error: "x", now: t0) == [.logFailure("x"), .waitForWakeup(timeout: .milliseconds(500))])
    }

    @Test func kernelEventsSettleBeforeThePassPlansAndTimerDoNot() {
        var m = running()
        #expect(m.woke(.kernelEvents, now: t0) == [.settle(.milliseconds(20)), .reconcile])
        #expect(m.woke(.plan, now: t0) == [.reconcile])
        #expect(m.woke(.timer, now: t0) == [.reconcile])
    }

    @Test func aRelaySwitchComesAtItsInstantWithNoPassJustBefore() {
        var m = running()
        _ = m.passSucceeded(revision: 3, actions: 0, now: t0)
        let at = t0 + .milliseconds(450)
        m.relaySwitch(at: at)
        // A pass now ends well before the instant; the wait after it ends at the instant.
        #expect(m.woke(.plan, now: t0) == [.reconcile])
        #expect(
            m.passSucceeded(revision: 3, actions: 0, now: t0 + .milliseconds(100)) == [
                .waitForWakeup(timeout: .milliseconds(350))
            ])
        // Closer than the lead, kernel events wait for the switch and come after it.
        #expect(m.woke(.kernelEvents, now: t0 + .milliseconds(200)) == [.applyRelaySwitch(at: at)])
        #expect(m.relaySwitchApplied(true) == [.settle(.milliseconds(20)), .reconcile])
        #expect(m.relaySwitchAt == nil)
        // The switch is reported after the pass that follows it.
        #expect(
            m.passSucceeded(revision: 3, actions: 0, now: t0 + .milliseconds(500)) == [
                .sendStatus(applied: 3, error: ""), .waitForWakeup(timeout: .milliseconds(500)),
            ])
    }

    @Test func aRelaySwitchDueNowGoesFirstAndOneThatFailsFallsBackToAPass() {
        var m = running()
        _ = m.passSucceeded(revision: 3, actions: 0, now: t0)
        // A failover is due at once: the wait after a pass does not wait.
        m.relaySwitch(at: t0)
        #expect(
            m.passSucceeded(revision: 3, actions: 0, now: t0 + .milliseconds(80)) == [.waitForWakeup(timeout: .zero)])
        #expect(m.woke(.timer, now: t0 + .milliseconds(80)) == [.applyRelaySwitch(at: t0)])
        #expect(m.relaySwitchApplied(false) == [.reconcile])
        // Far from the instant, nothing changes.
        m.relaySwitch(at: t0 + .seconds(2))
        #expect(m.woke(.timer, now: t0) == [.reconcile])
        #expect(
            m.passSucceeded(revision: 3, actions: 0, now: t0) == [.waitForWakeup(timeout: .milliseconds(500))])
    }

    @Test func aStopEndsTheLoopOnceAndNothingFollows() {
        var m = running()
        _ = m.start()
        #expect(m.stopRequested() == [.exit])
        #expect(m.stopped)
        #expect(m.stopRequested().isEmpty)
        #expect(m.woke(.plan, now: t0).isEmpty)
        #expect(m.start() == [.exit])
    }

    @Test func onceRunsOnePassReportsItAndExits() {
        var c = Machine.Configuration()
        c.once = true
        c.reportsStatus = true
        var m = Machine(c)
        #expect(m.start() == [.reconcile])
        #expect(m.passSucceeded(revision: 7, actions: 4, now: t0) == [.reportOnce(revision: 7, actions: 4), .exit])
        #expect(m.stopped)

        var failing = Machine(c)
        _ = failing.start()
        #expect(failing.passFailed(error: "EPERM", now: t0) == [.exit])
    }
}
