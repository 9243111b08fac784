/// The decisions of `PlanWaiters`, without locks or continuations: which waits to resume, and
/// with what answer (true: woken by a change of the node's plan; false: timed out, cancelled or
/// closed). `Waiter` is what the shell resumes (a continuation); tests use plain values.
///
/// A wait goes through `reserve` (an id), then `register` (parks it or answers at once), then
/// `end` (its timeout or cancellation) and `forget` (when it returned). The timeout and the
/// cancellation race the registration, so `end` may come first: the id is then remembered as
/// ended and `register` answers false at once instead of parking a wait nobody will resume.
struct PlanWaitersStateMachine<Waiter> {
    private var waiting: [String: [UInt64: Waiter]] = [:]
    private var generations: [String: UInt64] = [:]
    private var lastID: UInt64 = 0
    /// Waits whose timeout or cancellation came before they were registered.
    private var ended: Set<UInt64> = []
    private(set) var isClosed = false

    /// What to do with a wait being registered.
    enum RegisterAction: Equatable {
        /// Resume it now with this answer.
        case resume(woken: Bool)
        /// It is parked; a later `wake`, `end` or `close` returns it.
        case parked
    }

    /// Waits parked now.
    var count: Int { waiting.values.reduce(0) { $0 + $1.count } }

    /// The nodes that have a waiter.
    var waitingNodes: [String] { Array(waiting.keys) }

    /// How often `node` was woken; a waiter reads it before it checks the plan revision.
    func generation(_ node: String) -> UInt64 { generations[node, default: 0] }

    /// A fresh id for one wait.
    mutating func reserve() -> UInt64 {
        lastID += 1
        return lastID
    }

    /// Parks `waiter` for `node`, unless the wait already ended, the waiters are closed, or the
    /// node was woken since `generation` (a wake between the revision check and now).
    mutating func register(node: String, id: UInt64, since generation: UInt64, _ waiter: Waiter) -> RegisterAction {
        if isClosed || ended.contains(id) { return .resume(woken: false) }
        if generations[node, default: 0] != generation { return .resume(woken: true) }
        waiting[node, default: [:]][id] = waiter
        return .parked
    }

    /// The wait's timeout fired or its task was cancelled: the parked waiter to resume with
    /// false, or nil when it is not parked (yet, or any more).
    mutating func end(node: String, id: UInt64) -> Waiter? {
        guard let waiter = waiting[node]?.removeValue(forKey: id) else {
            ended.insert(id)
            return nil
        }
        if waiting[node]?.isEmpty == true { waiting[node] = nil }
        return waiter
    }

    /// The wait returned: nothing more can happen to its id.
    mutating func forget(id: UInt64) { ended.remove(id) }

    /// A change touched `nodes`: the waiters to resume with true.
    mutating func wake(_ nodes: some Sequence<String>) -> [Waiter] {
        var woken: [Waiter] = []
        for node in nodes {
            generations[node, default: 0] &+= 1
            if let w = waiting.removeValue(forKey: node) { woken += w.values }
        }
        return woken
    }

    /// Graceful shutdown: every parked waiter, to resume with false; later waits answer at once.
    mutating func close() -> [Waiter] {
        isClosed = true
        let all = waiting.values.flatMap(\.values)
        waiting = [:]
        return all
    }
}
