/// The decisions of the running agent's loop (`Agent.run`), without I/O or clocks: when to
/// reconcile, when to report status, how long to wait, when to stop. The loop feeds it what
/// happened (a pass ended, something woke the loop, a stop was asked for, with the time it read)
/// and carries out the actions it returns, in order.
///
/// - A pass runs at start, after every wake-up: a plan from the controller (at once), rtnetlink
///   events (after a short settling pause, so a burst is handled in one pass), or the resync
///   timer (the backstop for what sends no event).
/// - Status goes to the controller after every pass that changed something, failed differently
///   or applied a new revision, and otherwise at least every `statusInterval`.
/// - A failed pass is logged once per distinct error, and retried on the next wake-up.
/// - A relay switch the prober scheduled (docs/failover.md) is applied at its instant by itself,
///   before anything else: no pass starts within `switchLead` of it, the wait ends at it, and a
///   switch that could not be applied falls back to a whole pass.
/// - `once`: one pass, then exit (a failure ends the run).
struct AgentLoopStateMachine {
    struct Configuration: Equatable {
        var once = false
        /// Whether there is a controller to report to.
        var reportsStatus = false
        var statusInterval: Duration = .seconds(15)
        var resyncInterval: Duration = .milliseconds(500)
        /// The pause after kernel events before the pass.
        var settle: Duration = .milliseconds(20)
        /// No pass starts this close before a relay switch: one would still run at its instant.
        var switchLead: Duration = .milliseconds(300)
    }

    enum Wakeup: Equatable {
        case kernelEvents
        case plan
        case timer
    }

    enum Action: Equatable {
        /// Take any new plan, then run a pass and report how it ended.
        case reconcile
        /// A pass failed with an error not seen just before.
        case logFailure(String)
        case sendStatus(applied: Int64?, error: String)
        /// Wait for kernel events, a plan or `timeout`, whichever comes first.
        case waitForWakeup(timeout: Duration)
        /// Pause, then drain the events that came meanwhile.
        case settle(Duration)
        /// `once`: print what the single pass did.
        case reportOnce(revision: Int64, actions: Int)
        /// End the loop; the data plane stays up.
        case exit
        /// Wait until `at`, then apply the relay switches due and report how it went
        /// (`relaySwitchApplied`).
        case applyRelaySwitch(at: ContinuousClock.Instant)
    }

    let configuration: Configuration
    /// The error of the last pass (empty after a good one).
    private(set) var lastError = ""
    /// The revision the last good pass applied.
    private(set) var applied: Int64?
    private(set) var lastReport: ContinuousClock.Instant?
    private(set) var stopped = false
    /// The next relay switch the prober scheduled, as the loop last read it.
    private(set) var relaySwitchAt: ContinuousClock.Instant?
    /// What woke the loop when a relay switch went first: it is handled after the switch.
    private var deferredWakeup: Wakeup?
    /// A relay switch was applied since the last status report.
    private var switched = false

    init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    mutating func start() -> [Action] {
        stopped ? [.exit] : [.reconcile]
    }

    mutating func passSucceeded(revision: Int64, actions: Int, now: ContinuousClock.Instant) -> [Action] {
        if configuration.once { return end([.reportOnce(revision: revision, actions: actions), .exit]) }
        let changed = actions > 0 || !lastError.isEmpty || applied != revision
        lastError = ""
        applied = revision
        return afterPass(changed: changed, now: now)
    }

    /// In `once` mode the caller ends the run with the error itself.
    mutating func passFailed(error: String, now: ContinuousClock.Instant) -> [Action] {
        if configuration.once { return end([.exit]) }
        let changed = error != lastError
        lastError = error
        return (changed ? [.logFailure(error)] : []) + afterPass(changed: changed, now: now)
    }

    /// The next relay switch scheduled (nil: none); read before each decision.
    mutating func relaySwitch(at: ContinuousClock.Instant?) {
        relaySwitchAt = at
    }

    mutating func woke(_ wakeup: Wakeup, now: ContinuousClock.Instant) -> [Action] {
        if stopped { return [] }
        if let at = relaySwitchAt, at - now <= configuration.switchLead {
            deferredWakeup = wakeup
            return [.applyRelaySwitch(at: at)]
        }
        return Self.actions(for: wakeup, configuration)
    }

    /// After `applyRelaySwitch`: what woke the loop is handled now; a switch that could not be
    /// applied is left to a whole pass.
    mutating func relaySwitchApplied(_ succeeded: Bool) -> [Action] {
        if stopped { return [] }
        relaySwitchAt = nil
        let wakeup = deferredWakeup ?? .timer
        deferredWakeup = nil
        guard succeeded else { return [.reconcile] }
        switched = true
        return Self.actions(for: wakeup, configuration)
    }

    private static func actions(for wakeup: Wakeup, _ configuration: Configuration) -> [Action] {
        switch wakeup {
        case .kernelEvents: [.settle(configuration.settle), .reconcile]
        case .plan, .timer: [.reconcile]
        }
    }

    mutating func stopRequested() -> [Action] {
        stopped ? [] : end([.exit])
    }

    private mutating func end(_ actions: [Action]) -> [Action] {
        stopped = true
        return actions
    }

    private mutating func afterPass(changed: Bool, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        if configuration.reportsStatus {
            let due = lastReport.map { now - $0 >= configuration.statusInterval } ?? true
            if changed || switched || due {
                lastReport = now
                actions.append(.sendStatus(applied: applied, error: lastError))
            }
        }
        switched = false
        var timeout = configuration.resyncInterval
        if let at = relaySwitchAt { timeout = max(.zero, min(timeout, at - now)) }
        actions.append(.waitForWakeup(timeout: timeout))
        return actions
    }
}
