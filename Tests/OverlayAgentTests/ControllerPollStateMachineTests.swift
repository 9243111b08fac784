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
            for case .backOff(let d) in m.replicaDown("connection refused", unit: 1) { delays.append(d) }
        }
        #expect(delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 30].map { Duration.milliseconds(Int64($0 * 1000)) })
    }

    @Test func jitterTakesUpToHalfTheDelayOff() {
        var m = ControllerPollStateMachine(controller: url)
        _ = m.replicaDown("x", unit: 1)
        #expect(m.replicaDown("x", unit: 0) == [.backOff(.milliseconds(500))])
    }

    @Test func oneLogLinePerChangeOfCause() {
        var m = ControllerPollStateMachine(controller: url)
        #expect(
            m.replicaDown("refused", unit: 1) == [
                .log("refused; retrying with backoff (next in 0.50 s)"), .backOff(.milliseconds(500)),
            ])
        #expect(m.replicaDown("refused", unit: 1) == [.backOff(.seconds(1))])
        #expect(
            m.replicaDown("timed out", unit: 1) == [
                .log("timed out; retrying with backoff (next in 2.00 s)"), .backOff(.seconds(2)),
            ])
        #expect(m.failing == "timed out")
    }

    @Test func comingBackIsLoggedOnceAndResetsTheBackoff() {
        var m = ControllerPollStateMachine(controller: url)
        _ = m.replicaDown("refused", unit: 1)
        _ = m.replicaDown("refused", unit: 1)
        #expect(m.reachable() == [.log("controller \(url) reachable again")])
        #expect(m.reachable().isEmpty)
        #expect(m.backoff.failures == 0)
        // The same cause after a recovery is news again, and starts from the first delay.
        #expect(m.replicaDown("refused", unit: 1).count == 2)
        #expect(m.replicaDown("refused", unit: 1) == [.backOff(.seconds(1))])
    }
}

/// The long-poll over several controller replicas: which one is polled after a failure, when the
/// loop backs off, and what is logged.
@Suite struct ControllerReplicaFailoverTests {
    let a = "http://192.0.2.10:7800"
    let b = "http://192.0.2.11:7800"
    let c = "http://192.0.2.12:7800"

    @Test func aReplicaDownMovesToTheNextAtOnceAndTheAnswerNamesIt() {
        var m = ControllerPollStateMachine(replicas: [a, b])
        #expect(m.reachable().isEmpty)
        #expect(
            m.replicaDown("controller \(a) unreachable: reset", unit: 1) == [
                .log("controller \(a) unreachable: reset; moving to controller replica \(b)"), .moveTo(1),
            ])
        #expect(m.controller == b)
        #expect(m.reachable() == [.log("moved to controller replica \(b) (from \(a))")])
        #expect(m.failing == nil && m.failedInARow == 0 && m.answered == 1)
        // Settled there: nothing more to say.
        #expect(m.reachable().isEmpty)
    }

    @Test func onlyAFullRoundOfFailuresBacksOffAndTheRoundsWrapAround() {
        var m = ControllerPollStateMachine(replicas: [a, b, c])
        var moves: [Int] = []
        var delays: [Duration] = []
        for i in 0..<7 {
            for action in m.replicaDown("down \(i % 3)", unit: 1) {
                if case .moveTo(let index) = action { moves.append(index) }
                if case .backOff(let d) = action { delays.append(d) }
            }
        }
        #expect(moves == [1, 2, 0, 1, 2, 0, 1])
        // Once per round of three, growing as with one replica.
        #expect(delays == [.milliseconds(500), .seconds(1)])
    }

    @Test func everyReplicaFailingIsLoggedWithTheReplicaTriedNext() {
        var m = ControllerPollStateMachine(replicas: [a, b])
        _ = m.replicaDown("a refused", unit: 1)
        #expect(
            m.replicaDown("b refused", unit: 1) == [
                .log("b refused; every controller replica failed, trying \(a) in 0.50 s"), .moveTo(0),
                .backOff(.milliseconds(500)),
            ])
    }

    @Test func theFirstReplicaAnsweringAgainAfterARoundIsReachableAgainNotAMove() {
        var m = ControllerPollStateMachine(replicas: [a, b])
        _ = m.reachable()
        _ = m.replicaDown("a refused", unit: 1)
        _ = m.replicaDown("b refused", unit: 1)
        #expect(m.controller == a)
        #expect(m.reachable() == [.log("controller \(a) reachable again")])
        #expect(m.backoff.failures == 0)
    }

    @Test func anUnusableAnswerStaysOnTheReplicaAndBacksOff() {
        var m = ControllerPollStateMachine(replicas: [a, b])
        #expect(
            m.unusableAnswer("plan refused", unit: 1) == [
                .log("plan refused; retrying with backoff (next in 0.50 s)"), .backOff(.milliseconds(500)),
            ])
        #expect(m.controller == a)
        #expect(m.unusableAnswer("plan refused", unit: 1) == [.backOff(.seconds(1))])
    }

    @Test func theReplicaDownErrorsAreNoAnswerAndServiceUnavailable() {
        #expect(AgentClientError.unreachable(a, "connection refused").isReplicaDown)
        #expect(AgentClientError.refused("the plan request", 503, "database unavailable").isReplicaDown)
        #expect(!AgentClientError.refused("the plan request", 500, "bug").isReplicaDown)
        #expect(!AgentClientError.refused("the plan request", 401, "bad signature").isReplicaDown)
        #expect(!AgentClientError.badAnswer("the plan request", "not JSON").isReplicaDown)
    }
}
