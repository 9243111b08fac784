import Synchronization

/// The agents waiting for a newer plan, by node. A committed command wakes exactly the nodes
/// whose plans it changed; every other waiter sleeps on.
///
/// No lost wake-ups: a waiter reads `generation(node)` before it checks the plan revision and
/// passes it to `wait`; a wake that came in between has moved the generation on, and `wait`
/// returns at once. The decisions are `PlanWaitersStateMachine`'s; this shell holds it under a
/// lock and resumes the continuations it hands back, outside the lock.
final class PlanWaiters: Sendable {
    private typealias Machine = PlanWaitersStateMachine<CheckedContinuation<Bool, Never>, ContinuousClock.Instant>
    private let machine = Mutex(Machine())
    /// The one timer task, sleeping until the earliest deadline of a parked wait.
    private let timer = Mutex<(number: UInt64, task: Task<Void, Never>)?>(nil)

    /// Long-polls in flight.
    var count: Int { machine.withLock { $0.count } }

    var isClosed: Bool { machine.withLock { $0.isClosed } }

    func generation(_ node: String) -> UInt64 {
        machine.withLock { $0.generation(node) }
    }

    /// Waits until `node` is woken (true), `timeout` passes or the server shuts down (false).
    func wait(node: String, since generation: UInt64, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        let id = machine.withLock { $0.reserve() }
        defer { machine.withLock { $0.forget(id: id) } }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                switch machine.withLock({ $0.register(node: node, id: id, since: generation, deadline: deadline, c) }) {
                case .resume(let woken): c.resume(returning: woken)
                case .parked(let timer): if let timer { start(timer) }
                }
            }
        } onCancel: {
            machine.withLock { $0.end(node: node, id: id) }?.resume(returning: false)
        }
    }

    /// Starts `action`'s timer in place of the one running (which, if it fires anyway, arms
    /// nothing: the machine knows it by its number).
    private func start(_ action: Machine.TimerAction) {
        let task = Task.detached { [self] in
            do { try await Task.sleep(until: action.at, clock: .continuous) } catch { return }
            let (expired, next) = machine.withLock { $0.expire(now: .now, timer: action.timer) }
            for c in expired { c.resume(returning: false) }
            if let next { start(next) }
        }
        // Two starts may race here; the later timer (the higher number) is the machine's.
        timer.withLock { running in
            if let running, running.number > action.timer {
                task.cancel()
                return
            }
            running?.task.cancel()
            running = (action.timer, task)
        }
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
        timer.withLock { $0?.task.cancel() }
        for c in machine.withLock({ $0.close() }) { c.resume(returning: false) }
    }
}
