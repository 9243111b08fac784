import Foundation

/// The agents waiting for a newer plan, by node. A committed command wakes exactly the nodes
/// whose plans it changed; every other waiter sleeps on.
///
/// No lost wake-ups: a waiter reads `generation(node)` before it checks the plan revision and
/// passes it to `wait`; a wake that came in between has moved the generation on, and `wait`
/// returns at once.
final class PlanWaiters: @unchecked Sendable {
    private let lock = NSLock()
    private var waiting: [String: [UInt64: CheckedContinuation<Bool, Never>]] = [:]
    private var generations: [String: UInt64] = [:]
    private var nextID: UInt64 = 0
    /// Waits whose timeout or cancellation came before they were registered.
    private var ended: Set<UInt64> = []
    private var closed = false

    /// Long-polls in flight.
    var count: Int { lock.withLock { waiting.values.reduce(0) { $0 + $1.count } } }

    func generation(_ node: String) -> UInt64 {
        lock.withLock { generations[node, default: 0] }
    }

    /// Waits until `node` is woken (true), `timeout` passes or the server shuts down (false).
    func wait(node: String, since generation: UInt64, timeout: Duration) async -> Bool {
        let id: UInt64 = lock.withLock {
            nextID += 1
            return nextID
        }
        let timer = Task {
            do {
                try await Task.sleep(for: timeout)
                self.finish(node: node, id: id, woken: false)
            } catch {}
        }
        defer {
            timer.cancel()
            lock.withLock { _ = ended.remove(id) }
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now: Bool? = lock.withLock {
                    if closed || ended.contains(id) { return false }
                    if generations[node, default: 0] != generation { return true }
                    waiting[node, default: [:]][id] = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            self.finish(node: node, id: id, woken: false)
        }
    }

    private func finish(node: String, id: UInt64, woken: Bool) {
        let c: CheckedContinuation<Bool, Never>? = lock.withLock {
            guard let c = waiting[node]?.removeValue(forKey: id) else {
                ended.insert(id)
                return nil
            }
            if waiting[node]?.isEmpty == true { waiting[node] = nil }
            return c
        }
        c?.resume(returning: woken)
    }

    /// Wakes every waiter of these nodes; returns how many were woken.
    @discardableResult
    func wake(_ nodes: some Sequence<String>) -> Int {
        var resumed: [CheckedContinuation<Bool, Never>] = []
        lock.withLock {
            for node in nodes {
                generations[node, default: 0] &+= 1
                if let w = waiting.removeValue(forKey: node) { resumed += w.values }
            }
        }
        for c in resumed { c.resume(returning: true) }
        return resumed.count
    }

    /// Ends every wait (answered 204) and refuses new ones: graceful shutdown.
    func close() {
        var resumed: [CheckedContinuation<Bool, Never>] = []
        lock.withLock {
            closed = true
            for w in waiting.values { resumed += w.values }
            waiting = [:]
        }
        for c in resumed { c.resume(returning: false) }
    }

    var isClosed: Bool { lock.withLock { closed } }
}
