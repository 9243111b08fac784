import Foundation
import OverlayModel

extension Transaction {
    /// Everything the planner needs about one network, read at once.
    public func snapshot(network name: String) throws -> NetworkSnapshot? {
        try fetch(snapshotQuery(network: name))
    }

    /// A network's snapshot as one batch of reads (nil when there is no such network).
    public func snapshotQuery(network name: String) -> Query<NetworkSnapshot?> {
        let parts = [
            networkQuery(named: name).statement, membersQuery(network: name).statement,
            workloadsQuery(network: name).statement, accessPeersQuery(network: name).statement,
            gatewayRoutesQuery().statement,
        ]
        return Query(batch: parts) { results in
            guard let network = try networkQuery(named: name).decode([results[0]]) else { return nil }
            let workloads = try workloadsQuery(network: name).decode([results[2]])
            let names = Set(workloads.map(\.name))
            let routes = try gatewayRoutesQuery().decode([results[4]]).filter { r in
                r.backends.contains { names.contains($0.workload) }
            }
            return NetworkSnapshot(
                network: network, members: try membersQuery(network: name).decode([results[1]]), workloads: workloads,
                accessPeers: try accessPeersQuery(network: name).decode([results[3]]), gatewayRoutes: routes)
        }
    }

    func membersQuery(network name: String) -> Query<[NetworkSnapshot.Member]> {
        Query(
            """
            SELECT \(Self.membershipColumns), \(Self.nodeColumns) FROM memberships m JOIN nodes n ON n.id = m.node_id
            WHERE m.network_id = (SELECT id FROM networks WHERE name = ?) ORDER BY m.subnet_id
            """, [name], columns: 15
        ) { rows in
            try rows.map { row in
                NetworkSnapshot.Member(node: try node(row, offset: 6), membership: try membership(row, network: name))
            }
        }
    }
}
