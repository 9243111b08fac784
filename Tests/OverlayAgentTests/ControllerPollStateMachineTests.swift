import Testing

@testable import OverlayAgent

/// The plan long-poll's decisions: back-off delays and what is logged.
@Suite struct ControllerPollStateMachineTests {
    let url = "http://192.0.2.10:7800"

    @Test func answeredPollsLogNothingAndPollAgainAtOnce() {
        var m = ControllerPollStateMachine(controller: url)
        #expect(m.reachable().isEmpty)
        #expect(m.failing == nil)
    }

    @Test func failuresBackOffFromHalfASecondDoublingUpToThirtySeconds() {
        var m = ControllerPollStateMachine(controller: url)
        var delays: [Duration] = []
        for _ in 0..<9 {
            for case .backOff(let d) in m.unreachable("connection refused", unit: 1) { delays.append(d) }
        }
        #expect(delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30].map { Duration.milliseconds(Int64($0 * 1000)) })
    }

    @Test func jitterTakesUpToHalfTheDelayOff() {
        var m = ControllerPollStateMachine(controller: url)
        _ = m.unreachable("x", unit: 1)
        #expect(m.unreachable("x", unit: 0) == [.backOff(.milliseconds(500))])
    }

    @Test func oneLogLinePerChangeOfCause() {
        var m = ControllerPollStateMachine(controller: url)
        #expect(
            m.unreachable("refused", unit: 1) == [
                .log("refused; retrying with backoff (next in 0.50 s)"), .backOff(.milliseconds(500)),
            ])
        #expect(m.unreachable("refused", unit: 1) == [.backOff(.seconds(1))])
        #expect(
            m.unreachable("timed out", unit: 1) == [
                .log("timed out; retrying with backoff (next in 2.00 s)"), .backOff(.seconds(2)),
            ])
        #expect(m.failing == "timed out")
    }

    @Test func comingBackIsLoggedOnceAndResetsTheBackoff() {
        var m = ControllerPollStateMachine(controller: url)
        _ = m.unreachable("refused", unit: 1)
        _ = m.unreachable("refused", unit: 1)
        #expect(m.reachable() == [.log("controller \(url) reachable again")])
        #expect(m.reachable().isEmpty)
        #expect(m.backoff.failures == 0)
        // The same cause after a recovery is news again, and starts from the first delay.
        #expect(m.unreachable("refused", unit: 1).count == 2)
        #expect(m.unreachable("refused", unit: 1) == [.backOff(.seconds(1))])
    }
}
