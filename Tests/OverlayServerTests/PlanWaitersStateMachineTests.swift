import Testing

@testable import OverlayServer

/// Every transition of the long-poll waiters' decisions, with plain strings standing in for
/// continuations.
@Suite struct PlanWaitersStateMachineTests {
    typealias Machine = PlanWaitersStateMachine<String>

    @Test func registerParksUntilTheNodeIsWoken() {
        var m = Machine()
        let id = m.reserve()
        #expect(m.register(node: "a", id: id, since: m.generation("a"), "w1") == .parked)
        #expect(m.count == 1)
        #expect(m.wake(["b"]).isEmpty)
        #expect(m.count == 1)
        #expect(m.wake(["a"]) == ["w1"])
        #expect(m.count == 0)
        #expect(m.generation("a") == 1)
        #expect(m.generation("b") == 1)
    }

    @Test func wakeResumesEveryWaiterOfTheNodeOnce() {
        var m = Machine()
        let g = m.generation("a")
        _ = m.register(node: "a", id: m.reserve(), since: g, "w1")
        _ = m.register(node: "a", id: m.reserve(), since: g, "w2")
        _ = m.register(node: "b", id: m.reserve(), since: m.generation("b"), "w3")
        #expect(Set(m.wake(["a"])) == ["w1", "w2"])
        #expect(m.wake(["a"]).isEmpty)
        #expect(m.count == 1)
    }

    /// The lost wake-up: the waiter read the generation, then a commit woke the node before the
    /// waiter registered. It must answer at once instead of sleeping through the change.
    @Test func aWakeBetweenReadingTheGenerationAndRegisteringIsNotLost() {
        var m = Machine()
        let g = m.generation("a")
        #expect(m.wake(["a"]).isEmpty)
        let id = m.reserve()
        #expect(m.register(node: "a", id: id, since: g, "w1") == .resume(woken: true))
        #expect(m.count == 0)
        // Another node's wake does not count for this one.
        let h = m.generation("b")
        _ = m.wake(["c"])
        #expect(m.register(node: "b", id: m.reserve(), since: h, "w2") == .parked)
    }

    @Test func endResumesAParkedWaiterWithFalse() {
        var m = Machine()
        let id = m.reserve()
        _ = m.register(node: "a", id: id, since: 0, "w1")
        #expect(m.end(node: "a", id: id) == "w1")
        #expect(m.count == 0)
        // A second end (timeout after cancellation) finds nothing to resume.
        #expect(m.end(node: "a", id: id) == nil)
        // A later wake does not resume it again.
        #expect(m.wake(["a"]).isEmpty)
    }

    /// The timeout or cancellation raced ahead of the registration: the wait answers false at
    /// once instead of parking a continuation nobody would resume.
    @Test func anEndBeforeRegisteringAnswersAtOnce() {
        var m = Machine()
        let id = m.reserve()
        #expect(m.end(node: "a", id: id) == nil)
        #expect(m.register(node: "a", id: id, since: 0, "w1") == .resume(woken: false))
        #expect(m.count == 0)
        m.forget(id: id)
        // Forgotten: the id's record is gone (ids are never reused, so a fresh one parks).
        #expect(m.register(node: "a", id: m.reserve(), since: 0, "w2") == .parked)
    }

    @Test func endOnlyResumesItsOwnWait() {
        var m = Machine()
        let one = m.reserve()
        let two = m.reserve()
        #expect(one != two)
        _ = m.register(node: "a", id: one, since: 0, "w1")
        _ = m.register(node: "a", id: two, since: 0, "w2")
        #expect(m.end(node: "a", id: two) == "w2")
        #expect(m.wake(["a"]) == ["w1"])
    }

    @Test func closeResumesEveryoneAndRefusesNewWaits() {
        var m = Machine()
        _ = m.register(node: "a", id: m.reserve(), since: 0, "w1")
        _ = m.register(node: "b", id: m.reserve(), since: 0, "w2")
        #expect(!m.isClosed)
        #expect(Set(m.close()) == ["w1", "w2"])
        #expect(m.isClosed)
        #expect(m.count == 0)
        #expect(m.register(node: "a", id: m.reserve(), since: 0, "w3") == .resume(woken: false))
        #expect(m.close().isEmpty)
    }

    @Test func closedWinsOverAMissedWake() {
        var m = Machine()
        let g = m.generation("a")
        _ = m.wake(["a"])
        _ = m.close()
        #expect(m.register(node: "a", id: m.reserve(), since: g, "w1") == .resume(woken: false))
    }
}
