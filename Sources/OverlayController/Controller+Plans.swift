import OverlayModel
import OverlayPlanner
import OverlayStore

extension Controller {
    /// Everything `node` must build, at its current plan revision.
    public func plan(node name: String) throws -> NodePlan {
        try store.read { tx in
            // Members of one network share its planned form: plan it once per revision, not per member.
            let revision = try tx.revision()
            guard let node = try tx.node(named: name) else { throw NotFoundError("node", name) }
            var networks: [PlannedNetwork] = []
            for m in try tx.memberships(node: name) {
                let network = m.membership.network
                if let p = planned.get(network, revision: revision) {
                    networks.append(p)
                } else if let s = try tx.snapshot(network: network) {
                    let p = try PlannedNetwork(s)
                    planned.put(network, p, revision: revision)
                    networks.append(p)
                }
            }
            return Planner.nodePlan(node: node, revision: try tx.planRevision(node: name), networks: networks,
                                    gatewayRoutes: try tx.gatewayRoutes(node: name))
        }
    }

    static func planIn(_ tx: Transaction, node name: String) throws -> NodePlan {
        guard let node = try tx.node(named: name) else { throw NotFoundError("node", name) }
        let networks = try tx.memberships(node: name).compactMap { try tx.snapshot(network: $0.membership.network) }
        return Planner.nodePlan(node: node, revision: try tx.planRevision(node: name),
                                networks: try networks.map(PlannedNetwork.init),
                                gatewayRoutes: try tx.gatewayRoutes(node: name))
    }

    public func revision() throws -> Int64 {
        try store.read { try $0.revision() }
    }
}
