import Foundation
import OverlayModel

extension Transaction {
    /// Everything the planner needs about one network, in a handful of queries.
    public func snapshot(network name: String) throws -> NetworkSnapshot? {
        guard let network = try network(named: name) else { return nil }
        let members = try rows(
            """
            SELECT \(Self.membershipColumns), \(Self.nodeColumns) FROM memberships m JOIN nodes n ON n.id = m.node_id
            WHERE m.network_id = (SELECT id FROM networks WHERE name = ?) ORDER BY m.subnet_id
            """, name
        ).map { row in
            NetworkSnapshot.Member(node: try node(row, offset: 6), membership: try membership(row, network: name))
        }
        let workloads = try workloads(network: name)
        let names = Set(workloads.map(\.name))
        let routes = try gatewayRoutes().filter { r in r.backends.contains { names.contains($0.workload) } }
        return NetworkSnapshot(
            network: network, members: members, workloads: workloads,
            accessPeers: try accessPeers(network: name), gatewayRoutes: routes)
    }
}
