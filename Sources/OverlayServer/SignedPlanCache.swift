import Foundation
import OverlayController
import OverlayCrypto
import OverlayModel
import OverlayProtocol
import Synchronization

/// The answer body of a plan long-poll, per node, at the revision it was made for: woken waiters
/// of one node share one planning, encoding and signature.
final class SignedPlanCache: Sendable {
    private let entries = Mutex<[String: (revision: Int64, body: [UInt8])]>([:])

    /// The `SignedPlan` JSON of `node` at revision `revision` or newer.
    func body(
        node: String, atLeast revision: Int64, controller: Controller, key: Ed25519Identity,
        tls: [CertificateFingerprint] = []
    ) throws -> [UInt8] {
        if let e = entries.withLock({ $0[node] }), e.revision >= revision { return e.body }
        let plan = try controller.plan(node: node)
        let planJSON = try JSONResponse.encoder.encode(plan)
        let signed = SignedPlan.sign(
            planJSON: Array(planJSON), node: node, revision: plan.revision, with: key, tls: tls)
        let body = Array(try JSONResponse.encoder.encode(signed))
        entries.withLock { entries in
            if (entries[node]?.revision ?? -1) < plan.revision { entries[node] = (plan.revision, body) }
        }
        return body
    }
}
