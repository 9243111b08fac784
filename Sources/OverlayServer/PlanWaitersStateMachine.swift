/// The decisions of `PlanWaiters`, without locks, clocks or continuations: which waits to resume,
/// and with what answer (true: woken by a change of the node's plan; false: timed out, cancelled
/// or closed), and when the one timer must fire next. `Waiter` is what the shell resumes (a
/// continuation) and `Instant` its clock's instant; tests use plain values for both.
///
/// A wait goes through `reserve` (an id), then `register` (parks it with its deadline or answers
/// at once), then `end` (its cancellation) and `forget` (when it returned). The cancellation races
/// the registration, so `end` may come first: the id is then remembered as ended and `register`
/// answers false at once instead of parking a wait nobody will resume.
///
/// Deadlines are kept here, in a queue ordered by time, and one timer serves every wait: the
/// machine says when it must fire (`TimerAction`), and the shell calls `expire` when it does. A
/// timer per wait would be a task per long-poll, about 1 KB each while the poll waits.
struct PlanWaitersStateMachine<Waiter, Instant: Comparable & Sendable> {
    private var waiting: [String: [UInt64: Parked]] = [:]
    private var generations: [String: UInt64] = [:]
    private var lastID: UInt64 = 0
    /// Waits whose cancellation came before they were registered.
    private var ended: Set<UInt64> = []
    /// The parked waits' deadlines, earliest first; an entry whose wait was resumed otherwise
    /// stays until it comes up (or the queue is rebuilt), and is then skipped.
    private var deadlines = DeadlineQueue<Instant>()
    /// The timer the shell runs: when it fires, and its number (a replaced timer that fires
    /// anyway is recognised by its old number and does not arm another).
    private var armed: (at: Instant, timer: UInt64)?
    private var lastTimer: UInt64 = 0
    private(set) var isClosed = false

    private struct Parked {
        var waiter: Waiter
        var deadline: Instant
    }

    /// Start the timer `timer` to fire at `at` (replacing any other).
    struct TimerAction: Equatable, Sendable {
        var at: Instant
        var timer: UInt64
    }

    /// What to do with a wait being registered.
    enum RegisterAction: Equatable {
        /// Resume it now with this answer.
        case resume(woken: Bool)
        /// It is parked; a later `wake`, `expire`, `end` or `close` returns it. Its deadline is
        /// the earliest: start this timer.
        case parked(TimerAction?)
    }

    /// Waits parked now (kept as they come and go: the deadline queue checks it on every change).
    private(set) var count = 0

    /// The nodes that have a waiter.
    var waitingNodes: [String] { Array(waiting.keys) }

    /// Deadlines queued, of parked waits and of resumed ones not yet skipped (for tests: the
    /// queue stays within twice the parked waits).
    var queuedDeadlines: Int { deadlines.count }

    /// How often `node` was woken; a waiter reads it before it checks the plan revision.
    func generation(_ node: String) -> UInt64 { generations[node, default: 0] }

    /// A fresh id for one wait.
    mutating func reserve() -> UInt64 {
        lastID += 1
        return lastID
    }

    /// Parks `waiter` for `node` until `deadline`, unless the wait already ended, the waiters are
    /// closed, or the node was woken since `generation` (a wake between the revision check and now).
    mutating func register(
        node: String, id: UInt64, since generation: UInt64, deadline: Instant, _ waiter: Waiter
    ) -> RegisterAction {
        if isClosed || ended.contains(id) { return .resume(woken: false) }
        if generations[node, default: 0] != generation { return .resume(woken: true) }
        waiting[node, default: [:]][id] = Parked(waiter: waiter, deadline: deadline)
        count += 1
        deadlines.insert(deadline, node: node, id: id)
        if let armed, armed.at <= deadline { return .parked(nil) }
        return .parked(arm(at: deadline))
    }

    /// The timer `timer` fired at `now`: the waits whose deadline has come, to resume with false,
    /// and the next timer to start, if any wait is left and this timer is the current one.
    mutating func expire(now: Instant, timer: UInt64) -> (expired: [Waiter], next: TimerAction?) {
        var expired: [Waiter] = []
        while let first = deadlines.first, first.at <= now {
            deadlines.removeFirst()
            if let parked = remove(node: first.node, id: first.id) { expired.append(parked.waiter) }
        }
        compact()
        guard armed?.timer == timer else { return (expired, nil) }
        armed = nil
        guard let first = nextLiveDeadline() else { return (expired, nil) }
        return (expired, arm(at: first))
    }

    /// The wait's task was cancelled: the parked waiter to resume with false, or nil when it is
    /// not parked (yet, or any more).
    mutating func end(node: String, id: UInt64) -> Waiter? {
        guard let parked = remove(node: node, id: id) else {
            ended.insert(id)
            return nil
        }
        compact()
        return parked.waiter
    }

    /// The wait returned: nothing more can happen to its id.
    mutating func forget(id: UInt64) { ended.remove(id) }

    /// A change touched `nodes`: the waiters to resume with true.
    mutating func wake(_ nodes: some Sequence<String>) -> [Waiter] {
        var woken: [Waiter] = []
        for node in nodes {
            generations[node, default: 0] &+= 1
            if let w = waiting.removeValue(forKey: node) {
                woken += w.values.map(\.waiter)
                count -= w.count
            }
        }
        compact()
        return woken
    }

    /// Graceful shutdown: every parked waiter, to resume with false; later waits answer at once.
    mutating func close() -> [Waiter] {
        isClosed = true
        let all = waiting.values.flatMap { $0.values.map(\.waiter) }
        waiting = [:]
        count = 0
        deadlines = DeadlineQueue()
        return all
    }

    private mutating func remove(node: String, id: UInt64) -> Parked? {
        guard let parked = waiting[node]?.removeValue(forKey: id) else { return nil }
        if waiting[node]?.isEmpty == true { waiting[node] = nil }
        count -= 1
        return parked
    }

    private mutating func arm(at instant: Instant) -> TimerAction {
        lastTimer += 1
        armed = (instant, lastTimer)
        return TimerAction(at: instant, timer: lastTimer)
    }

    /// The earliest deadline of a wait still parked, skipping the entries of resumed ones.
    private mutating func nextLiveDeadline() -> Instant? {
        while let first = deadlines.first {
            if waiting[first.node]?[first.id] != nil { return first.at }
            deadlines.removeFirst()
        }
        return nil
    }

    /// Rebuilds the queue from the parked waits once resumed ones make up more than half of it,
    /// so that waits woken long before their deadline do not pile up.
    private mutating func compact() {
        guard deadlines.count > 2 * count + 64 else { return }
        var queue = DeadlineQueue<Instant>()
        for (node, waits) in waiting {
            for (id, wait) in waits { queue.insert(wait.deadline, node: node, id: id) }
        }
        deadlines = queue
    }
}

/// A binary min-heap of deadlines, each naming the wait it belongs to.
struct DeadlineQueue<Instant: Comparable> {
    private var heap: [(at: Instant, node: String, id: UInt64)] = []

    var count: Int { heap.count }
    var first: (at: Instant, node: String, id: UInt64)? { heap.first }

    mutating func insert(_ at: Instant, node: String, id: UInt64) {
        heap.append((at, node, id))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].at < heap[parent].at else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeFirst() {
        guard !heap.isEmpty else { return }
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].at < heap[smallest].at { smallest = left }
            if right < heap.count, heap[right].at < heap[smallest].at { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
