import Testing

@testable import OverlayServer

/// Every transition of the long-poll waiters' decisions, with plain strings standing in for
/// continuations.
@Suite struct PlanWaitersStateMachineTests {
    typealias Machine = PlanWaitersStateMachine<String, Int>

    @Test func registerParksUntilTheNodeIsWoken() {
        var m = Machine()
        let id = m.reserve()
        #expect(m.register(node: "a", id: id, since: m.generation("a"), deadline: 100, "w1").isParked)
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
        _ = m.register(node: "a", id: m.reserve(), since: g, deadline: 100, "w1")
        _ = m.register(node: "a", id: m.reserve(), since: g, deadline: 100, "w2")
        _ = m.register(node: "b", id: m.reserve(), since: m.generation("b"), deadline: 100, "w3")
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
        #expect(m.register(node: "a", id: id, since: g, deadline: 100, "w1") == .resume(woken: true))
        #expect(m.count == 0)
        // Another node's wake does not count for this one.
        let h = m.generation("b")
        _ = m.wake(["c"])
        #expect(m.register(node: "b", id: m.reserve(), since: h, deadline: 100, "w2").isParked)
    }

    @Test func endResumesAParkedWaiterWithFalse() {
        var m = Machine()
        let id = m.reserve()
        _ = m.register(node: "a", id: id, since: 0, deadline: 100, "w1")
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
        #expect(m.register(node: "a", id: id, since: 0, deadline: 100, "w1") == .resume(woken: false))
        #expect(m.count == 0)
        m.forget(id: id)
        // Forgotten: the id's record is gone (ids are never reused, so a fresh one parks).
        #expect(m.register(node: "a", id: m.reserve(), since: 0, deadline: 100, "w2").isParked)
    }

    @Test func endOnlyResumesItsOwnWait() {
        var m = Machine()
        let one = m.reserve()
        let two = m.reserve()
        #expect(one != two)
        _ = m.register(node: "a", id: one, since: 0, deadline: 100, "w1")
        _ = m.register(node: "a", id: two, since: 0, deadline: 100, "w2")
        #expect(m.end(node: "a", id: two) == "w2")
        #expect(m.wake(["a"]) == ["w1"])
    }

    @Test func closeResumesEveryoneAndRefusesNewWaits() {
        var m = Machine()
        _ = m.register(node: "a", id: m.reserve(), since: 0, deadline: 100, "w1")
        _ = m.register(node: "b", id: m.reserve(), since: 0, deadline: 100, "w2")
        #expect(!m.isClosed)
        #expect(Set(m.close()) == ["w1", "w2"])
        #expect(m.isClosed)
        #expect(m.count == 0)
        #expect(m.register(node: "a", id: m.reserve(), since: 0, deadline: 100, "w3") == .resume(woken: false))
        #expect(m.close().isEmpty)
    }

    @Test func closedWinsOverAMissedWake() {
        var m = Machine()
        let g = m.generation("a")
        _ = m.wake(["a"])
        _ = m.close()
        #expect(m.register(node: "a", id: m.reserve(), since: g, deadline: 100, "w1") == .resume(woken: false))
    }

    /// One timer serves every wait: the first parked wait arms it, later deadlines do not, an
    /// earlier one replaces it.
    @Test func theTimerIsArmedForTheEarliestDeadlineOnly() {
        var m = Machine()
        #expect(
            m.register(node: "a", id: m.reserve(), since: 0, deadline: 100, "w1") == .parked(.init(at: 100, timer: 1)))
        #expect(m.register(node: "b", id: m.reserve(), since: 0, deadline: 150, "w2") == .parked(nil))
        #expect(m.register(node: "c", id: m.reserve(), since: 0, deadline: 100, "w3") == .parked(nil))
        #expect(
            m.register(node: "d", id: m.reserve(), since: 0, deadline: 40, "w4") == .parked(.init(at: 40, timer: 2)))
        // The replaced timer fires anyway: nothing is due, and it arms nothing.
        #expect(m.expire(now: 30, timer: 1).expired.isEmpty)
        #expect(m.expire(now: 30, timer: 1).next == nil)
        // The current one fires: w4 times out, and the next timer is for 100.
        let first = m.expire(now: 40, timer: 2)
        #expect(first.expired == ["w4"])
        #expect(first.next == .init(at: 100, timer: 3))
        #expect(m.count == 3)
        let second = m.expire(now: 120, timer: 3)
        #expect(Set(second.expired) == ["w1", "w3"])
        #expect(second.next == .init(at: 150, timer: 4))
        #expect(m.expire(now: 150, timer: 4) == (["w2"], nil))
        #expect(m.count == 0)
        // Nothing is armed any more: the next wait arms a timer again.
        #expect(
            m.register(node: "a", id: m.reserve(), since: 0, deadline: 500, "w5") == .parked(.init(at: 500, timer: 5)))
    }

    /// A wait woken before its deadline is not timed out later, and the timer skips its deadline.
    @Test func aWokenWaitIsNotExpiredAndItsDeadlineIsSkipped() {
        var m = Machine()
        _ = m.register(node: "a", id: m.reserve(), since: 0, deadline: 100, "w1")
        _ = m.register(node: "b", id: m.reserve(), since: 0, deadline: 200, "w2")
        #expect(m.wake(["a"]) == ["w1"])
        let fired = m.expire(now: 100, timer: 1)
        #expect(fired.expired.isEmpty)
        #expect(fired.next == .init(at: 200, timer: 2))
        let id = m.reserve()
        _ = m.register(node: "c", id: id, since: 0, deadline: 300, "w3")
        #expect(m.end(node: "c", id: id) == "w3")
        #expect(m.expire(now: 200, timer: 2) == (["w2"], nil))
        #expect(m.queuedDeadlines == 0)
    }

    /// Waits woken long before their deadline (every change wakes some) do not pile up in the
    /// deadline queue.
    @Test func theDeadlineQueueStaysWithinTwiceTheParkedWaits() {
        var m = Machine()
        _ = m.register(node: "idle", id: m.reserve(), since: 0, deadline: 10_000, "w0")
        for round in 0..<1_000 {
            _ = m.register(node: "busy", id: m.reserve(), since: m.generation("busy"), deadline: 20_000 + round, "w")
            #expect(m.wake(["busy"]) == ["w"])
        }
        #expect(m.count == 1)
        #expect(m.queuedDeadlines <= 2 * m.count + 65)
        // The idle wait still times out at its own deadline.
        #expect(m.expire(now: 9_999, timer: 1).expired.isEmpty)
        #expect(m.expire(now: 10_000, timer: 1).expired == ["w0"])
    }

    @Test func deadlinesComeOutInOrderWhateverTheInsertionOrder() {
        var queue = DeadlineQueue<Int>()
        let order = [50, 10, 40, 10, 90, 0, 70, 30, 20, 60, 80]
        for (i, at) in order.enumerated() { queue.insert(at, node: "n", id: UInt64(i)) }
        var out: [Int] = []
        while let first = queue.first {
            out.append(first.at)
            queue.removeFirst()
        }
        #expect(out == order.sorted())
    }
}

extension PlanWaitersStateMachine.RegisterAction {
    var isParked: Bool {
        if case .parked = self { return true }
        return false
    }
}
