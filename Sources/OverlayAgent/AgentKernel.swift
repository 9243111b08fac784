import Foundation
import OverlayModel
import OverlayPlanner

/// The seam between the reconciler and the kernel: observe everything the agent owns, carry out
/// one action. `LinuxKernel` is the real one; unit tests use an in-memory fake.
public protocol AgentKernel: AnyObject {
    /// The kernel state the reconciler decides on. `plan` names the workload namespaces to look
    /// at (besides those the agent created).
    func observe(plan: NodePlan?) throws -> ObservedState
    func apply(_ action: AgentAction) throws
}

/// A failed step: which action, after how many succeeded, and the kernel's error.
public struct ReconcileError: Error, CustomStringConvertible {
    public var action: AgentAction
    public var applied: Int
    public var underlying: any Error

    public var description: String { "\(action): \(underlying) (after \(applied) actions applied)" }
}

extension AgentKernel {
    /// One pass: observe, decide, apply in order. Stops at the first failure, which leaves every
    /// earlier action in place; the next pass observes that and finishes the job. Objects that
    /// could not be read get no actions; the pass applies the rest and then throws
    /// `UnreadableStateError` naming them, so the caller reports it and tries again.
    @discardableResult
    /// `probeGates` turns what was observed into the pass's probe gates (the caller keeps them
    /// from one pass to the next: `Reconciler.probeGates`).
    public func reconcile(
        plan: NodePlan?, keys: [String: SecretKey], now: Date = Date(),
        probeGates: ((ObservedState) -> [String: UInt64])? = nil, log: ((AgentAction) -> Void)? = nil
    ) throws -> [AgentAction] {
        let observed = try observe(plan: plan)
        let actions = Reconciler.actions(
            plan: plan, keys: keys, observed: observed, now: now, probeGates: probeGates?(observed) ?? [:])
        for (i, action) in actions.enumerated() {
            log?(action)
            do {
                try apply(action)
            } catch {
                throw ReconcileError(action: action, applied: i, underlying: error)
            }
        }
        if !observed.unreadable.isEmpty {
            throw UnreadableStateError(unreadable: observed.unreadable, applied: actions)
        }
        return actions
    }
}
