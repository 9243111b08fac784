import Foundation
import OverlayModel
import OverlayPlanner
import OverlayProtocol

/// Decides whether a plan that came from the controller may be applied: the signature must
/// verify with the key pinned at join, the plan must be for this node, readable by this agent,
/// and newer than the revision already applied. Anything else is refused and the caller keeps
/// its last good plan.
public struct PlanGate: Sendable {
    public let pinnedKey: [UInt8]
    public let node: String

    public init(pinnedKey: [UInt8], node: String) {
        self.pinnedKey = pinnedKey
        self.node = node
    }

    public init(link: ControllerLink) throws {
        guard let key = link.pinnedKey else {
            throw Refusal.envelope(.malformed("the pinned controller key is not 32 bytes"))
        }
        self.init(pinnedKey: key, node: link.node)
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case envelope(SignedPlanError)
        case stale(Int64, applied: Int64)
        case unsupportedVersion(Int)

        public var description: String {
            switch self {
            case .envelope(let f): f.description
            case .stale(let r, let a): "plan revision \(r) is not newer than the applied revision \(a); plan refused"
            case .unsupportedVersion(let v):
                "plan version \(v); this agent reads version \(NodePlan.currentVersion); plan refused"
            }
        }
    }

    /// The certificate fingerprints `signed` announces, once their signature checks out.
    public func announcedCertificates(_ signed: SignedPlan) throws -> [CertificateFingerprint] {
        do { return try signed.announcedCertificates(controllerKey: pinnedKey, expectedNode: node) } catch let f
            as SignedPlanError
        {
            throw Refusal.envelope(f)
        }
    }

    /// The plan inside `signed`, or why it is refused. `applied` is the revision the agent has
    /// (nil before its first plan); only a strictly newer revision is accepted.
    public func open(_ signed: SignedPlan, applied: Int64?) throws -> NodePlan {
        let plan: NodePlan
        do { plan = try signed.open(controllerKey: pinnedKey, expectedNode: node) } catch let f as SignedPlanError {
            throw Refusal.envelope(f)
        }
        guard plan.version == NodePlan.currentVersion else { throw Refusal.unsupportedVersion(plan.version) }
        if let applied, plan.revision <= applied { throw Refusal.stale(plan.revision, applied: applied) }
        return plan
    }
}
