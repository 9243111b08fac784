import Foundation
import OverlayModel

/// Column codecs: lists of addresses, ports and backends (whose text never holds a space) are
/// stored space-separated; decoding one is on the hot path of every snapshot.
enum Columns {
    static func encodeList(_ items: [String]) -> String {
        items.joined(separator: " ")
    }

    static func decodeList(_ text: String) -> [String] {
        if text.isEmpty { return [] }
        // Most lists hold one item; splitting by bytes avoids Character iteration.
        if !hasSpace(text) { return [text] }
        return text.utf8.split(separator: UInt8(ascii: " ")).map { String(Substring($0)) }
    }

    /// Searched in the string's contiguous bytes: `utf8.contains` walks a view's iterator.
    private static func hasSpace(_ text: String) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { $0.contains(UInt8(ascii: " ")) }
            ?? text.utf8.contains(UInt8(ascii: " "))
    }

    /// A JSON array of validated names, for `json_each`.
    static func jsonNames(_ names: some Collection<String>) -> String {
        "[" + names.map { "\"\($0)\"" }.joined(separator: ",") + "]"
    }

    static func matchText(_ m: GatewayRoute.Match) -> String {
        switch m {
        case .name(let l): "name:\(l)"
        case .fqdn(let f): "fqdn:\(f)"
        case .tcp(let p): "tcp:\(p)"
        case .udp(let p): "udp:\(p)"
        }
    }

    /// Each item of a stored list through `parse`; an item it refuses fails the read.
    static func decodeList<T>(_ text: String, table: String, column: String, expected: String, _ parse: (String) -> T?)
        throws -> [T]
    {
        func item(_ item: String) throws -> T {
            guard let v = parse(item) else { throw StoredDataError(table, column, item, expected: expected) }
            return v
        }
        // A list of one (most) is parsed without a list of strings in between.
        if text.isEmpty { return [] }
        if !hasSpace(text) { return [try item(text)] }
        return try decodeList(text).map(item)
    }

    static func key(_ row: SQLRow, _ index: Int, table: String, column: String) throws -> WireGuardKey {
        let bytes = try row.bytes(index)
        guard let key = WireGuardKey(bytes: bytes) else {
            throw StoredDataError(table, column, Store.hex(Data(bytes)), expected: "a 32-byte WireGuard key")
        }
        return key
    }

    static func uint16(_ row: SQLRow, _ index: Int, table: String, column: String) throws -> UInt16 {
        let value = try row.int64(index)
        guard let v = UInt16(exactly: value) else {
            throw StoredDataError(table, column, String(value), expected: "0-65535")
        }
        return v
    }

    static func uint64(_ row: SQLRow, _ index: Int, table: String, column: String) throws -> UInt64 {
        let value = try row.int64(index)
        guard let v = UInt64(exactly: value) else {
            throw StoredDataError(table, column, String(value), expected: "a number >= 0")
        }
        return v
    }

    static func match(_ text: String) -> GatewayRoute.Match? {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        switch parts[0] {
        case "name": return .name(parts[1])
        case "fqdn": return .fqdn(parts[1])
        case "tcp": return UInt16(parts[1]).map { .tcp($0) }
        case "udp": return UInt16(parts[1]).map { .udp($0) }
        default: return nil
        }
    }
}

extension Transaction {
    // MARK: revision

    public func revision() throws -> Int64 {
        try fetch(revisionQuery())
    }

    public func revisionQuery() -> Query<Int64> {
        Query("SELECT value FROM meta WHERE key = 'revision'", columns: 1) { try $0.first?.int64(0) ?? 0 }
    }

    /// Increments and returns the store revision; every committed command takes one.
    public func bumpRevision() throws -> Int64 {
        try bumpRevisionDeferred()()
    }

    /// Increments the store revision now; the new one is read by calling the result (on
    /// PostgreSQL, answered with the statements that follow).
    public func bumpRevisionDeferred() throws -> () throws -> Int64 {
        let rows = try conn.fetchDeferred(
            "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value", [])
        return { try rows().first?.int64(0) ?? 0 }
    }

    // MARK: networks

    static let networkColumns = "name, net_id, prefix, mtu, ipv4_prefix, egress"

    func network(_ row: SQLRow) throws -> Network {
        let text = try row.string(2)
        guard let prefix = IPv6Prefix(text) else {
            throw StoredDataError("networks", "prefix", text, expected: "an IPv6 /48")
        }
        var ipv4: IPv4Prefix?
        if let text4 = try row.optionalString(4) {
            guard let p = IPv4Prefix(text4) else {
                throw StoredDataError("networks", "ipv4_prefix", text4, expected: "an IPv4 prefix or NULL")
            }
            ipv4 = p
        }
        return Network(
            name: try row.string(0), id: try row.string(1), prefix: prefix, mtu: try row.int(3), ipv4Prefix: ipv4,
            egress: try row.bool(5))
    }

    /// The IPv4 prefixes networks use (for choosing a new network's default).
    public func usedIPv4Prefixes() throws -> [IPv4Prefix] {
        try rows("SELECT ipv4_prefix FROM networks WHERE ipv4_prefix IS NOT NULL").compactMap {
            IPv4Prefix(try $0.string(0))
        }
    }

    public func setEgress(_ egress: Bool, network: String) throws {
        try execute("UPDATE networks SET egress = ? WHERE name = ?", egress, network)
    }

    public func networks() throws -> [Network] {
        try rows("SELECT \(Self.networkColumns) FROM networks ORDER BY name").map(network)
    }

    public func network(named name: String) throws -> Network? {
        try fetch(networkQuery(named: name))
    }

    public func networkQuery(named name: String) -> Query<Network?> {
        Query("SELECT \(Self.networkColumns) FROM networks WHERE name = ?", [name], columns: 6) {
            try $0.first.map(network)
        }
    }

    public func networkExists(prefix: IPv6Prefix) throws -> Bool {
        try row("SELECT 1 FROM networks WHERE prefix = ?", prefix.description) != nil
    }

    public func networkExists(id: String) throws -> Bool {
        try row("SELECT 1 FROM networks WHERE net_id = ?", id) != nil
    }

    public func insert(_ n: Network) throws {
        try execute(
            "INSERT INTO networks (name, net_id, prefix, mtu, ipv4_prefix, egress) VALUES (?, ?, ?, ?, ?, ?)",
            n.name, n.id, n.prefix.description, n.mtu, n.ipv4Prefix?.description, n.egress)
    }

    /// Deletes a network with everything in it, and the gateway routes into it (returned). A
    /// route's backends are a space-separated column, so they are matched here rather than in SQL.
    @discardableResult
    public func deleteNetwork(named name: String) throws -> [GatewayRoute] {
        let id = "(SELECT id FROM networks WHERE name = ?)"
        let workloads = Set(try workloads(network: name).map(\.name))
        let routes = try gatewayRoutes().filter { r in r.backends.contains { workloads.contains($0.workload) } }
        for r in routes { try deleteGatewayRoute(named: r.name) }
        try execute("DELETE FROM workloads WHERE network_id = \(id)", name)
        try execute("DELETE FROM access_peers WHERE network_id = \(id)", name)
        try execute("DELETE FROM memberships WHERE network_id = \(id)", name)
        try execute("DELETE FROM networks WHERE name = ?", name)
        return routes
    }

    // MARK: nodes

    static let nodeColumns = "name, identity, public_addresses, port_from, port_to, region, hub, gateway, domain"

    func node(_ row: SQLRow, offset o: Int = 0) throws -> Node {
        let from = try Columns.uint16(row, o + 3, table: "nodes", column: "port_from")
        let to = try Columns.uint16(row, o + 4, table: "nodes", column: "port_to")
        guard from <= to else {
            throw StoredDataError("nodes", "port_to", String(to), expected: "at least port_from (\(from))")
        }
        return Node(
            name: try row.string(o), identity: try row.bytes(o + 1),  // empty: not joined
            publicAddresses: try Columns.decodeList(
                try row.string(o + 2), table: "nodes", column: "public_addresses", expected: "IP addresses",
                IPAddress.init),
            listenPorts: from...to, region: try row.optionalString(o + 5), hub: try row.bool(o + 6),
            gateway: try row.bool(o + 7), domain: try row.optionalString(o + 8))
    }

    public func nodes() throws -> [Node] {
        try rows("SELECT \(Self.nodeColumns) FROM nodes ORDER BY name").map { try node($0) }
    }

    public func node(named name: String) throws -> Node? {
        try fetch(nodeQuery(named: name))
    }

    public func nodeQuery(named name: String) -> Query<Node?> {
        Query("SELECT \(Self.nodeColumns) FROM nodes WHERE name = ?", [name], columns: 9) {
            try $0.first.map { try node($0) }
        }
    }

    public func nodeName(identity: [UInt8]) throws -> String? {
        try row("SELECT name FROM nodes WHERE identity = ?", Data(identity))?.string(0)
    }

    public func nodeName(domain: String) throws -> String? {
        try row("SELECT name FROM nodes WHERE domain = ?", domain)?.string(0)
    }

    public func insert(_ n: Node) throws {
        try execute(
            "INSERT INTO nodes (\(Self.nodeColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            n.name, n.hasJoined ? Data(n.identity) : nil, Columns.encodeList(n.publicAddresses.map(\.description)),
            Int(n.listenPorts.lowerBound), Int(n.listenPorts.upperBound), n.region, n.hub, n.gateway, n.domain)
    }

    /// Registers the identity of a node that joins.
    public func setIdentity(_ identity: [UInt8], node: String) throws {
        try execute("UPDATE nodes SET identity = ? WHERE name = ?", Data(identity), node)
    }

    public func deleteNode(named name: String) throws {
        try execute("DELETE FROM nodes WHERE name = ?", name)
    }

    /// The revision of the last change to `node`'s plan: the newest of its own, its memberships'
    /// and its networks' revisions. Plans change far more often for a whole network at once than
    /// for one member, so a change that reaches every member writes one row, not one per member.
    public func planRevision(node: String) throws -> Int64 {
        let revision: Int64? = try fetch(planRevisionQuery(node: node))
        return revision ?? 0
    }

    /// The revision of `node`'s plan, nil when there is no such node.
    public func planRevisionQuery(node: String) -> Query<Int64?> {
        Query(
            """
            SELECT \(conn.dialect.greatest)(n.local_revision, coalesce(max(m.local_revision), 0),
            coalesce(max(w.plan_revision), 0))
            FROM nodes n LEFT JOIN memberships m ON m.node_id = n.id LEFT JOIN networks w ON w.id = m.network_id
            WHERE n.name = ? GROUP BY n.id, n.local_revision
            """, [node], columns: 1
        ) { try $0.first?.int64(0) }
    }

    /// Marks every member's plan of `network` as changed at `revision`.
    public func setPlanRevision(_ revision: Int64, network: String) throws {
        try executeDeferred("UPDATE networks SET plan_revision = ? WHERE name = ?", revision, network)
    }

    /// Marks the plan of `node` as changed at `revision` through its part of `network`.
    public func setPlanRevision(_ revision: Int64, network: String, node: String) throws {
        try executeDeferred(
            """
            UPDATE memberships SET local_revision = ? WHERE network_id = (SELECT id FROM networks WHERE name = ?)
            AND node_id = (SELECT id FROM nodes WHERE name = ?)
            """, revision, network, node)
    }

    /// Marks the plans of these nodes as changed at `revision`, whatever the network.
    public func setPlanRevision(_ revision: Int64, nodes: some Collection<String>) throws {
        guard !nodes.isEmpty else { return }
        try executeDeferred(
            "UPDATE nodes SET local_revision = ? WHERE name IN (\(conn.dialect.jsonStrings))",
            revision, Columns.jsonNames(nodes))
    }

    // MARK: memberships

    static let membershipColumns =
        "n.name, m.subnet_id, m.public_key, m.sealed_private_key, m.listen_port, m.relay_port"

    func membership(_ row: SQLRow, network: String, offset o: Int = 0) throws -> Membership {
        Membership(
            network: network, node: try row.string(o),
            subnetID: try Columns.uint16(row, o + 1, table: "memberships", column: "subnet_id"),
            publicKey: try Columns.key(row, o + 2, table: "memberships", column: "public_key"),
            sealedPrivateKey: try row.bytes(o + 3),
            listenPort: try Columns.uint16(row, o + 4, table: "memberships", column: "listen_port"),
            relayPort: try row.optionalInt64(o + 5) == nil
                ? nil : Columns.uint16(row, o + 5, table: "memberships", column: "relay_port"))
    }

    public func memberships(network: String) throws -> [Membership] {
        try rows(
            """
            SELECT \(Self.membershipColumns) FROM memberships m JOIN nodes n ON n.id = m.node_id
            WHERE m.network_id = (SELECT id FROM networks WHERE name = ?) ORDER BY m.subnet_id
            """, network
        ).map { try membership($0, network: network) }
    }

    /// `node`'s membership of `network`, nil when it is not a member.
    public func membershipQuery(network: String, node: String) -> Query<Membership?> {
        Query(
            """
            SELECT \(Self.membershipColumns) FROM memberships m JOIN nodes n ON n.id = m.node_id
            WHERE m.network_id = (SELECT id FROM networks WHERE name = ?) AND n.name = ?
            """, [network, node], columns: 6
        ) { try $0.first.map { try membership($0, network: network) } }
    }

    /// Every membership of every network.
    public func memberships() throws -> [Membership] {
        try rows(
            """
            SELECT w.name, \(Self.membershipColumns) FROM memberships m
            JOIN nodes n ON n.id = m.node_id JOIN networks w ON w.id = m.network_id
            """
        ).map { try membership($0, network: try $0.string(0), offset: 1) }
    }

    /// (network name, membership, pinned) for every network the node is in.
    public func memberships(node: String) throws -> [(membership: Membership, pinned: Bool)] {
        try fetch(membershipsQuery(node: node))
    }

    public func membershipsQuery(node: String) -> Query<[(membership: Membership, pinned: Bool)]> {
        Query(
            """
            SELECT w.name, \(Self.membershipColumns), m.pinned FROM memberships m
            JOIN nodes n ON n.id = m.node_id JOIN networks w ON w.id = m.network_id
            WHERE n.name = ? ORDER BY w.name
            """, [node], columns: 8
        ) { rows in try rows.map { (try membership($0, network: try $0.string(0), offset: 1), try $0.bool(7)) } }
    }

    /// The members of `network` kept there explicitly (attached).
    public func pinnedMembers(network: String) throws -> Set<String> {
        Set(
            try rows(
                """
                SELECT n.name FROM memberships m JOIN nodes n ON n.id = m.node_id
                WHERE m.pinned <> 0 AND m.network_id = (SELECT id FROM networks WHERE name = ?)
                """, network
            ).map { try $0.string(0) })
    }

    public func insert(_ m: Membership, pinned: Bool) throws {
        try execute(
            """
            INSERT INTO memberships (network_id, node_id, subnet_id, public_key, sealed_private_key, listen_port,
                relay_port, pinned)
            VALUES ((SELECT id FROM networks WHERE name = ?), (SELECT id FROM nodes WHERE name = ?), ?, ?, ?, ?, ?, ?)
            """,
            m.network, m.node, Int(m.subnetID), Data(m.publicKey.bytes), Data(m.sealedPrivateKey), Int(m.listenPort),
            m.relayPort.map(Int.init), pinned)
    }

    public func setPinned(_ pinned: Bool, network: String, node: String) throws {
        try execute(
            """
            UPDATE memberships SET pinned = ? WHERE network_id = (SELECT id FROM networks WHERE name = ?)
            AND node_id = (SELECT id FROM nodes WHERE name = ?)
            """, pinned, network, node)
    }

    public func deleteMembership(network: String, node: String) throws {
        try execute(
            """
            DELETE FROM memberships WHERE network_id = (SELECT id FROM networks WHERE name = ?)
            AND node_id = (SELECT id FROM nodes WHERE name = ?)
            """, network, node)
    }

    public func isMember(network: String, node: String) throws -> Bool {
        try row(
            """
            SELECT 1 FROM memberships WHERE network_id = (SELECT id FROM networks WHERE name = ?)
            AND node_id = (SELECT id FROM nodes WHERE name = ?)
            """, network, node) != nil
    }

    public func usedSubnetIDsQuery(network: String) -> Query<Set<UInt16>> {
        Query(
            "SELECT subnet_id FROM memberships WHERE network_id = (SELECT id FROM networks WHERE name = ?)",
            [network], columns: 1
        ) { rows in
            Set(try rows.map { try Columns.uint16($0, 0, table: "memberships", column: "subnet_id") })
        }
    }

    /// The node's listen ports and relay forwarder ports: both come from its listen port range.
    public func usedListenPorts(node: String) throws -> Set<UInt16> {
        try fetch(usedListenPortsQuery(node: node))
    }

    public func usedListenPortsQuery(node: String) -> Query<Set<UInt16>> {
        Query(
            "SELECT listen_port, relay_port FROM memberships WHERE node_id = (SELECT id FROM nodes WHERE name = ?)",
            [node], columns: 2
        ) { rows in
            var used: Set<UInt16> = []
            for row in rows {
                used.insert(try Columns.uint16(row, 0, table: "memberships", column: "listen_port"))
                if try row.optionalInt64(1) != nil {
                    used.insert(try Columns.uint16(row, 1, table: "memberships", column: "relay_port"))
                }
            }
            return used
        }
    }

    public func setRelayPort(_ port: UInt16, network: String, node: String) throws {
        try execute(
            """
            UPDATE memberships SET relay_port = ? WHERE network_id = (SELECT id FROM networks WHERE name = ?)
            AND node_id = (SELECT id FROM nodes WHERE name = ?)
            """, Int(port), network, node)
    }

    // MARK: workloads

    static let workloadColumns = "w.name, net.name, n.name, w.host_number, w.namespace, w.exposed"
    static let workloadJoin = "workloads w JOIN networks net ON net.id = w.network_id JOIN nodes n ON n.id = w.node_id"

    func workload(_ row: SQLRow) throws -> Workload {
        Workload(
            name: try row.string(0), network: try row.string(1), node: try row.string(2),
            hostNumber: try Columns.uint64(row, 3, table: "workloads", column: "host_number"),
            namespace: try row.string(4),
            exposed: try Columns.decodeList(
                try row.string(5), table: "workloads", column: "exposed", expected: "PROTO/PORT"
            ) {
                try? PortSpec(parsing: $0)
            })
    }

    public func workloads(network: String? = nil, node: String? = nil) throws -> [Workload] {
        try fetch(workloadsQuery(network: network, node: node))
    }

    public func workloadsQuery(network: String? = nil, node: String? = nil) -> Query<[Workload]> {
        var sql = "SELECT \(Self.workloadColumns) FROM \(Self.workloadJoin) WHERE 1 = 1"
        var args: [any SQLBindable] = []
        if let network {
            sql += " AND net.name = ?"
            args.append(network)
        }
        if let node {
            sql += " AND n.name = ?"
            args.append(node)
        }
        return Query(sql + " ORDER BY w.name", args, columns: 6) { try $0.map(workload) }
    }

    public func workload(named name: String) throws -> Workload? {
        try fetch(workloadQuery(named: name))
    }

    public func workloadQuery(named name: String) -> Query<Workload?> {
        Query("SELECT \(Self.workloadColumns) FROM \(Self.workloadJoin) WHERE w.name = ?", [name], columns: 6) {
            try $0.first.map(workload)
        }
    }

    public func insert(_ w: Workload) throws {
        try executeDeferred(
            """
            INSERT INTO workloads (name, network_id, node_id, host_number, namespace, exposed)
            VALUES (?, (SELECT id FROM networks WHERE name = ?), (SELECT id FROM nodes WHERE name = ?), ?, ?, ?)
            """,
            w.name, w.network, w.node, Int64(w.hostNumber), w.namespace,
            Columns.encodeList(w.exposed.map(\.description)))
    }

    public func deleteWorkload(named name: String) throws {
        try execute("DELETE FROM workloads WHERE name = ?", name)
    }

    // MARK: access peers

    static let accessColumns = "a.name, net.name, a.host_number, a.public_key, n.name"
    static let accessJoin =
        "access_peers a JOIN networks net ON net.id = a.network_id JOIN nodes n ON n.id = a.hub_node_id"

    func accessPeer(_ row: SQLRow) throws -> AccessPeer {
        AccessPeer(
            name: try row.string(0), network: try row.string(1),
            hostNumber: try Columns.uint64(row, 2, table: "access_peers", column: "host_number"),
            publicKey: try Columns.key(row, 3, table: "access_peers", column: "public_key"), hub: try row.string(4))
    }

    public func accessPeers(network: String? = nil) throws -> [AccessPeer] {
        try fetch(accessPeersQuery(network: network))
    }

    public func accessPeersQuery(network: String? = nil) -> Query<[AccessPeer]> {
        var sql = "SELECT \(Self.accessColumns) FROM \(Self.accessJoin)"
        var args: [any SQLBindable] = []
        if let network {
            sql += " WHERE net.name = ?"
            args.append(network)
        }
        return Query(sql + " ORDER BY a.name", args, columns: 5) { try $0.map(accessPeer) }
    }

    public func accessPeer(named name: String) throws -> AccessPeer? {
        try row("SELECT \(Self.accessColumns) FROM \(Self.accessJoin) WHERE a.name = ?", name).map(accessPeer)
    }

    public func publicKeyInUse(_ key: WireGuardKey) throws -> Bool {
        try row(
            "SELECT 1 FROM access_peers WHERE public_key = ? UNION SELECT 1 FROM memberships WHERE public_key = ?",
            Data(key.bytes), Data(key.bytes)) != nil
    }

    public func insert(_ a: AccessPeer) throws {
        try execute(
            """
            INSERT INTO access_peers (name, network_id, host_number, public_key, hub_node_id)
            VALUES (?, (SELECT id FROM networks WHERE name = ?), ?, ?, (SELECT id FROM nodes WHERE name = ?))
            """, a.name, a.network, Int64(a.hostNumber), Data(a.publicKey.bytes), a.hub)
    }

    public func deleteAccessPeer(named name: String) throws {
        try execute("DELETE FROM access_peers WHERE name = ?", name)
    }

    // MARK: gateway routes

    func gatewayRoute(_ row: SQLRow) throws -> GatewayRoute {
        let matchText = try row.string(2)
        guard let match = Columns.match(matchText) else {
            throw StoredDataError(
                "gateway_routes", "match", matchText, expected: "name:LABEL, fqdn:NAME, tcp:PORT or udp:PORT")
        }
        let balanceText = try row.string(5)
        guard let balance = GatewayRoute.Balance(rawValue: balanceText) else {
            throw StoredDataError("gateway_routes", "balance", balanceText, expected: "roundrobin or leastconn")
        }
        return GatewayRoute(
            name: try row.string(0), node: try row.string(1), match: match, tlsPassthrough: try row.bool(3),
            backends: try Columns.decodeList(
                try row.string(4), table: "gateway_routes", column: "backends",
                expected: "WORKLOAD:PORT"
            ) { text in
                guard let c = text.lastIndex(of: ":"), let p = UInt16(text[text.index(after: c)...]) else { return nil }
                return GatewayRoute.Backend(workload: String(text[..<c]), port: p)
            },
            balance: balance,
            tls: try row.optionalString(6).flatMap { cert in
                try row.optionalBytes(7).map { GatewayRoute.TLS(certificate: cert, sealedKey: $0) }
            })
    }

    public func gatewayRoutes(node: String? = nil) throws -> [GatewayRoute] {
        try fetch(gatewayRoutesQuery(node: node))
    }

    public func gatewayRoutesQuery(node: String? = nil) -> Query<[GatewayRoute]> {
        var sql =
            "SELECT r.name, n.name, r.match, r.tls_passthrough, r.backends, r.balance, r.tls_certificate, r.tls_sealed_key FROM gateway_routes r JOIN nodes n ON n.id = r.node_id"
        var args: [any SQLBindable] = []
        if let node {
            sql += " WHERE n.name = ?"
            args.append(node)
        }
        return Query(sql + " ORDER BY r.name", args, columns: 8) { try $0.map(gatewayRoute) }
    }

    public func insert(_ r: GatewayRoute) throws {
        try execute(
            """
            INSERT INTO gateway_routes (name, node_id, match, tls_passthrough, backends, balance, tls_certificate, tls_sealed_key)
            VALUES (?, (SELECT id FROM nodes WHERE name = ?), ?, ?, ?, ?, ?, ?)
            """,
            r.name, r.node, Columns.matchText(r.match), r.tlsPassthrough,
            Columns.encodeList(r.backends.map(\.description)), r.balance.rawValue, r.tls?.certificate,
            r.tls.map { Data($0.sealedKey) })
    }

    public func deleteGatewayRoute(named name: String) throws {
        try execute("DELETE FROM gateway_routes WHERE name = ?", name)
    }
}
