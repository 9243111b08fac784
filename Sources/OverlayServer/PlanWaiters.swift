import Synchronization

/// The agents waiting for a newer plan, by node. A committed command wakes exactly the nodes
/// whose plans it changed; every other waiter sleeps on.
///
/// No lost wake-ups: a waiter reads `generation(node)` before it checks the plan revision and
/// passes it to `wait`; a wake that came in between has moved the generation on, and `wait`
/// returns at once. The decisions are `PlanWaitersStateMachine`'s; this shell holds it under a
/// lock and resumes the continuations it hands back, outside the lock.
final class PlanWaiters: Sendable {
    private let machine = Mutex(PlanWaitersStateMachine<CheckedContinuation<Bool, Never>>())

    /// Long-polls in flight.
    var count: Int { machine.withLock { $0.count } }

    var isClosed: Bool { machine.withLock { $0.isClosed } }

    func generation(_ node: String) -> UInt64 {
        machine.withLock { $0.generation(node) }
    }

    /// Waits until `node` is woken (true), `timeout` passes or the server shuts down (false).
    func wait(node: String, since generation: UInt64, timeout: Duration) async -> Bool {
        let id = machine.withLock { $0.reserve() }
        let timer = Task {
            do {
                try await Task.sleep(for: timeout)
                self.end(node: node, id: id)
            } catch {}
        }
        defer {
            timer.cancel()
            machine.withLock { $0.forget(id: id) }
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let action = machine.withLock { $0.register(node: node, id: id, since: generation, c) }
                if case .resume(let woken) = action { c.resume(returning: woken) }
            }
        } onCancel: {
            self.end(node: node, id: id)
        }
    }

    private func end(node: String, id: UInt64) {
        machine.withLock { $0.end(node: node, id: id) }?.resume(returning: false)
    }

    /// Wakes every waiter of these nodes; returns how many were woken.
    @discardableResult
    func wake(_ nodes: some Sequence<String>) -> Int {
        let nodes = Array(nodes)
        let woken = machine.withLock { $0.wake(nodes) }
        for c in woken { c.resume(returning: true) }
        return woken.count
    }

    /// Wakes every waiter, so each checks its node's plan revision again (changes may have been
    /// missed while the database was out of reach).
    @discardableResult
    func wakeAll() -> Int {
        wake(machine.withLock { $0.waitingNodes })
    }

    /// Ends every wait (answered 204) and refuses new ones: graceful shutdown.
    func close() {
        for c in machine.withLock({ $0.close() }) { c.resume(returning: false) }
    }
}
