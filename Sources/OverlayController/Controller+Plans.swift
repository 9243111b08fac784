import OverlayModel
import OverlayPlanner
import OverlayStore

extension Controller {
    /// Everything `node` must build, at its current plan revision.
    public func plan(node name: String) throws -> NodePlan {
        try requireOperator("reading node plans")
        return try store.read { tx in
            // Members of one network share its planned form: plan it once per revision, not per member.
            let (revision, found, memberships, planRevision, routes) = try tx.fetch(
                tx.revisionQuery(), tx.nodeQuery(named: name), tx.membershipsQuery(node: name),
                tx.planRevisionQuery(node: name), tx.gatewayRoutesQuery(node: name))
            guard let node = found else { throw NotFoundError("node", name) }
            var networks: [PlannedNetwork] = []
            for m in memberships {
                let network = m.membership.network
                if let p = planned.get(network, revision: revision) {
                    networks.append(p)
                } else if let s = try tx.snapshot(network: network) {
                    let p = try PlannedNetwork(s)
                    planned.put(network, p, revision: revision)
                    networks.append(p)
                }
            }
            return Planner.nodePlan(
                node: node, revision: planRevision ?? 0, networks: networks, gatewayRoutes: routes)
        }
    }

    /// Every node's plan in `tx`, from networks planned already (by name).
    static func nodePlans(_ tx: Transaction, planned: [String: PlannedNetwork]) throws -> [String: NodePlan] {
        var networksOf: [String: [PlannedNetwork]] = [:]
        for m in try tx.memberships() {
            guard let p = planned[m.network] else { continue }
            networksOf[m.node, default: []].append(p)
        }
        var routesOf: [String: [GatewayRoute]] = [:]
        for r in try tx.gatewayRoutes() { routesOf[r.node, default: []].append(r) }
        var plans: [String: NodePlan] = [:]
        for node in try tx.nodes() {
            let networks = (networksOf[node.name] ?? []).sorted { $0.snapshot.network.name < $1.snapshot.network.name }
            plans[node.name] = Planner.nodePlan(
                node: node, revision: try tx.planRevision(node: node.name),
                networks: networks, gatewayRoutes: routesOf[node.name] ?? [])
        }
        return plans
    }

    public func revision() throws -> Int64 {
        try store.read { try $0.revision() }
    }
}
