import Foundation
import GRDB
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
        if !text.utf8.contains(UInt8(ascii: " ")) { return [text] }
        return text.utf8.split(separator: UInt8(ascii: " ")).map { String(Substring($0)) }
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
        try decodeList(text).map { item in
            guard let v = parse(item) else { throw StoredDataError(table, column, item, expected: expected) }
            return v
        }
    }

    /// A blob column's bytes (empty for NULL), copied in one piece: `[UInt8](Data)` would go
    /// byte by byte through Data's iterator, which shows in every 5,000-member snapshot.
    static func bytes(_ row: Row, _ index: Int) -> [UInt8] {
        guard let data = row.dataNoCopy(atIndex: index) else { return [] }
        return data.withUnsafeBytes { [UInt8]($0) }
    }

    static func key(_ row: Row, _ index: Int, table: String, column: String) throws -> WireGuardKey {
        let bytes = bytes(row, index)
        guard let key = WireGuardKey(bytes: bytes) else {
            throw StoredDataError(table, column, Store.hex(Data(bytes)), expected: "a 32-byte WireGuard key")
        }
        return key
    }

    static func uint16(_ row: Row, _ index: Int, table: String, column: String) throws -> UInt16 {
        let value: Int64 = row[index]
        guard let v = UInt16(exactly: value) else {
            throw StoredDataError(table, column, String(value), expected: "0-65535")
        }
        return v
    }

    static func uint64(_ row: Row, _ index: Int, table: String, column: String) throws -> UInt64 {
        let value: Int64 = row[index]
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
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'") ?? 0
    }

    /// Increments and returns the store revision; every committed command takes one.
    public func bumpRevision() throws -> Int64 {
        try db.execute(sql: "UPDATE meta SET value = value + 1 WHERE key = 'revision'")
        return try revision()
    }

    // MARK: networks

    static let networkColumns = "name, net_id, prefix, mtu, ipv4_prefix, egress"

    func network(_ row: Row) throws -> Network {
        let text: String = row[2]
        guard let prefix = IPv6Prefix(text) else {
            throw StoredDataError("networks", "prefix", text, expected: "an IPv6 /48")
        }
        var ipv4: IPv4Prefix?
        if let text4: String = row[4] {
            guard let p = IPv4Prefix(text4) else {
                throw StoredDataError("networks", "ipv4_prefix", text4, expected: "an IPv4 prefix or NULL")
            }
            ipv4 = p
        }
        return Network(name: row[0], id: row[1], prefix: prefix, mtu: row[3], ipv4Prefix: ipv4, egress: row[5])
    }

    /// The IPv4 prefixes networks use (for choosing a new network's default).
    public func usedIPv4Prefixes() throws -> [IPv4Prefix] {
        try String.fetchAll(db, sql: "SELECT ipv4_prefix FROM networks WHERE ipv4_prefix IS NOT NULL").compactMap(
            IPv4Prefix.init)
    }

    public func setEgress(_ egress: Bool, network: String) throws {
        try db.execute(sql: "UPDATE networks SET egress = ? WHERE name = ?", arguments: [egress, network])
    }

    public func networks() throws -> [Network] {
        try Row.fetchAll(db, sql: "SELECT \(Self.networkColumns) FROM networks ORDER BY name").map(network)
    }

    public func network(named name: String) throws -> Network? {
        try Row.fetchOne(db, sql: "SELECT \(Self.networkColumns) FROM networks WHERE name = ?", arguments: [name]).map(
            network)
    }

    public func networkExists(prefix: IPv6Prefix) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM networks WHERE prefix = ?", arguments: [prefix.description]) ?? false
    }

    public func networkExists(id: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM networks WHERE net_id = ?", arguments: [id]) ?? false
    }

    public func insert(_ n: Network) throws {
        try db.execute(
            sql: "INSERT INTO networks (name, net_id, prefix, mtu, ipv4_prefix, egress) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [n.name, n.id, n.prefix.description, n.mtu, n.ipv4Prefix?.description, n.egress])
    }

    /// Deletes a network with everything in it, and the gateway routes into it (returned). A
    /// route's backends are a space-separated column, so they are matched here rather than in SQL.
    @discardableResult
    public func deleteNetwork(named name: String) throws -> [GatewayRoute] {
        let id = "(SELECT id FROM networks WHERE name = ?)"
        let workloads = Set(try workloads(network: name).map(\.name))
        let routes = try gatewayRoutes().filter { r in r.backends.contains { workloads.contains($0.workload) } }
        for r in routes { try deleteGatewayRoute(named: r.name) }
        try db.execute(sql: "DELETE FROM workloads WHERE network_id = \(id)", arguments: [name])
        try db.execute(sql: "DELETE FROM access_peers WHERE network_id = \(id)", arguments: [name])
        try db.execute(sql: "DELETE FROM memberships WHERE network_id = \(id)", arguments: [name])
        try db.execute(sql: "DELETE FROM networks WHERE name = ?", arguments: [name])
        return routes
    }

    // MARK: nodes

    static let nodeColumns = "name, identity, public_addresses, port_from, port_to, region, hub, gateway, domain"

    func node(_ row: Row, offset o: Int = 0) throws -> Node {
        let from = try Columns.uint16(row, o + 3, table: "nodes", column: "port_from")
        let to = try Columns.uint16(row, o + 4, table: "nodes", column: "port_to")
        guard from <= to else {
            throw StoredDataError("nodes", "port_to", String(to), expected: "at least port_from (\(from))")
        }
        return Node(
            name: row[o], identity: Columns.bytes(row, o + 1),  // empty: not joined
            publicAddresses: try Columns.decodeList(
                row[o + 2], table: "nodes", column: "public_addresses", expected: "IP addresses", IPAddress.init),
            listenPorts: from...to, region: row[o + 5], hub: row[o + 6], gateway: row[o + 7], domain: row[o + 8])
    }

    public func nodes() throws -> [Node] {
        try Row.fetchAll(db, sql: "SELECT \(Self.nodeColumns) FROM nodes ORDER BY name").map { try node($0) }
    }

    public func node(named name: String) throws -> Node? {
        try Row.fetchOne(db, sql: "SELECT \(Self.nodeColumns) FROM nodes WHERE name = ?", arguments: [name]).map {
            try node($0)
        }
    }

    public func nodeName(identity: [UInt8]) throws -> String? {
        try String.fetchOne(db, sql: "SELECT name FROM nodes WHERE identity = ?", arguments: [Data(identity)])
    }

    public func nodeName(domain: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT name FROM nodes WHERE domain = ?", arguments: [domain])
    }

    public func insert(_ n: Node) throws {
        try db.execute(
            sql: "INSERT INTO nodes (\(Self.nodeColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                n.name, n.hasJoined ? Data(n.identity) : nil, Columns.encodeList(n.publicAddresses.map(\.description)),
                Int(n.listenPorts.lowerBound), Int(n.listenPorts.upperBound), n.region, n.hub, n.gateway, n.domain,
            ])
    }

    /// Registers the identity of a node that joins.
    public func setIdentity(_ identity: [UInt8], node: String) throws {
        try db.execute(sql: "UPDATE nodes SET identity = ? WHERE name = ?", arguments: [Data(identity), node])
    }

    public func deleteNode(named name: String) throws {
        try db.execute(sql: "DELETE FROM nodes WHERE name = ?", arguments: [name])
    }

    /// The revision of the last change to `node`'s plan: the newest of its own, its memberships'
    /// and its networks' revisions. Plans change far more often for a whole network at once than
    /// for one member, so a change that reaches every member writes one row, not one per member.
    public func planRevision(node: String) throws -> Int64 {
        try Int64.fetchOne(
            db,
            sql: """
                SELECT max(n.local_revision, coalesce(max(m.local_revision), 0), coalesce(max(w.plan_revision), 0))
                FROM nodes n LEFT JOIN memberships m ON m.node_id = n.id LEFT JOIN networks w ON w.id = m.network_id
                WHERE n.name = ?
                """, arguments: [node]) ?? 0
    }

    /// Marks every member's plan of `network` as changed at `revision`.
    public func setPlanRevision(_ revision: Int64, network: String) throws {
        try db.execute(sql: "UPDATE networks SET plan_revision = ? WHERE name = ?", arguments: [revision, network])
    }

    /// Marks the plan of `node` as changed at `revision` through its part of `network`.
    public func setPlanRevision(_ revision: Int64, network: String, node: String) throws {
        try db.execute(
            sql: """
                UPDATE memberships SET local_revision = ? WHERE network_id = (SELECT id FROM networks WHERE name = ?)
                AND node_id = (SELECT id FROM nodes WHERE name = ?)
                """, arguments: [revision, network, node])
    }

    /// Marks the plans of these nodes as changed at `revision`, whatever the network.
    public func setPlanRevision(_ revision: Int64, nodes: some Collection<String>) throws {
        guard !nodes.isEmpty else { return }
        try db.execute(
            sql: "UPDATE nodes SET local_revision = ? WHERE name IN (SELECT value FROM json_each(?))",
            arguments: [revision, Columns.jsonNames(nodes)])
    }

    // MARK: memberships

    static let membershipColumns = "n.name, m.subnet_id, m.public_key, m.sealed_private_key, m.listen_port"

    func membership(_ row: Row, network: String, offset o: Int = 0) throws -> Membership {
        Membership(
            network: network, node: row[o],
            subnetID: try Columns.uint16(row, o + 1, table: "memberships", column: "subnet_id"),
            publicKey: try Columns.key(row, o + 2, table: "memberships", column: "public_key"),
            sealedPrivateKey: Columns.bytes(row, o + 3),
            listenPort: try Columns.uint16(row, o + 4, table: "memberships", column: "listen_port"))
    }

    public func memberships(network: String) throws -> [Membership] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT \(Self.membershipColumns) FROM memberships m JOIN nodes n ON n.id = m.node_id
                WHERE m.network_id = (SELECT id FROM networks WHERE name = ?) ORDER BY m.subnet_id
                """, arguments: [network]
        ).map { try membership($0, network: network) }
    }

    /// Every membership of every network.
    public func memberships() throws -> [Membership] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT w.name, \(Self.membershipColumns) FROM memberships m
                JOIN nodes n ON n.id = m.node_id JOIN networks w ON w.id = m.network_id
                """
        ).map { try membership($0, network: $0[0], offset: 1) }
    }

    /// (network name, membership, pinned) for every network the node is in.
    public func memberships(node: String) throws -> [(membership: Membership, pinned: Bool)] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT w.name, \(Self.membershipColumns), m.pinned FROM memberships m
                JOIN nodes n ON n.id = m.node_id JOIN networks w ON w.id = m.network_id
                WHERE n.name = ? ORDER BY w.name
                """, arguments: [node]
        ).map { (try membership($0, network: $0[0], offset: 1), $0[6]) }
    }

    /// The members of `network` kept there explicitly (attached).
    public func pinnedMembers(network: String) throws -> Set<String> {
        Set(
            try String.fetchAll(
                db,
                sql: """
                    SELECT n.name FROM memberships m JOIN nodes n ON n.id = m.node_id
                    WHERE m.pinned AND m.network_id = (SELECT id FROM networks WHERE name = ?)
                    """, arguments: [network]))
    }

    public func insert(_ m: Membership, pinned: Bool) throws {
        try db.execute(
            sql: """
                INSERT INTO memberships (network_id, node_id, subnet_id, public_key, sealed_private_key, listen_port, pinned)
                VALUES ((SELECT id FROM networks WHERE name = ?), (SELECT id FROM nodes WHERE name = ?), ?, ?, ?, ?, ?)
                """,
            arguments: [
                m.network, m.node, Int(m.subnetID), Data(m.publicKey.bytes), Data(m.sealedPrivateKey),
                Int(m.listenPort), pinned,
            ])
    }

    public func setPinned(_ pinned: Bool, network: String, node: String) throws {
        try db.execute(
            sql: """
                UPDATE memberships SET pinned = ? WHERE network_id = (SELECT id FROM networks WHERE name = ?)
                AND node_id = (SELECT id FROM nodes WHERE name = ?)
                """, arguments: [pinned, network, node])
    }

    public func deleteMembership(network: String, node: String) throws {
        try db.execute(
            sql: """
                DELETE FROM memberships WHERE network_id = (SELECT id FROM networks WHERE name = ?)
                AND node_id = (SELECT id FROM nodes WHERE name = ?)
                """, arguments: [network, node])
    }

    public func isMember(network: String, node: String) throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: """
                SELECT 1 FROM memberships WHERE network_id = (SELECT id FROM networks WHERE name = ?)
                AND node_id = (SELECT id FROM nodes WHERE name = ?)
                """, arguments: [network, node]) ?? false
    }

    public func usedSubnetIDs(network: String) throws -> Set<UInt16> {
        Set(
            try Int.fetchAll(
                db,
                sql: "SELECT subnet_id FROM memberships WHERE network_id = (SELECT id FROM networks WHERE name = ?)",
                arguments: [network]
            ).map { UInt16($0) })
    }

    /// (hidden members, hub members) of a network.
    public func relayNeeds(network: String) throws -> (hidden: Int, hubs: Int) {
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT coalesce(sum(n.public_addresses = ''), 0), coalesce(sum(n.hub), 0) FROM memberships m
                JOIN nodes n ON n.id = m.node_id WHERE m.network_id = (SELECT id FROM networks WHERE name = ?)
                """, arguments: [network])
        return (row?[0] ?? 0, row?[1] ?? 0)
    }

    public func usedListenPorts(node: String) throws -> Set<UInt16> {
        Set(
            try Int.fetchAll(
                db, sql: "SELECT listen_port FROM memberships WHERE node_id = (SELECT id FROM nodes WHERE name = ?)",
                arguments: [node]
            ).map { UInt16($0) })
    }

    // MARK: workloads

    static let workloadColumns = "w.name, net.name, n.name, w.host_number, w.namespace, w.exposed"
    static let workloadJoin = "workloads w JOIN networks net ON net.id = w.network_id JOIN nodes n ON n.id = w.node_id"

    func workload(_ row: Row) throws -> Workload {
        Workload(
            name: row[0], network: row[1], node: row[2],
            hostNumber: try Columns.uint64(row, 3, table: "workloads", column: "host_number"), namespace: row[4],
            exposed: try Columns.decodeList(row[5], table: "workloads", column: "exposed", expected: "PROTO/PORT") {
                try? PortSpec(parsing: $0)
            })
    }

    public func workloads(network: String? = nil, node: String? = nil) throws -> [Workload] {
        var sql = "SELECT \(Self.workloadColumns) FROM \(Self.workloadJoin) WHERE 1"
        var args: [String] = []
        if let network {
            sql += " AND net.name = ?"
            args.append(network)
        }
        if let node {
            sql += " AND n.name = ?"
            args.append(node)
        }
        return try Row.fetchAll(db, sql: sql + " ORDER BY w.name", arguments: StatementArguments(args)).map(workload)
    }

    public func workload(named name: String) throws -> Workload? {
        try Row.fetchOne(
            db, sql: "SELECT \(Self.workloadColumns) FROM \(Self.workloadJoin) WHERE w.name = ?",
            arguments: [name]
        ).map(workload)
    }

    public func insert(_ w: Workload) throws {
        try db.execute(
            sql: """
                INSERT INTO workloads (name, network_id, node_id, host_number, namespace, exposed)
                VALUES (?, (SELECT id FROM networks WHERE name = ?), (SELECT id FROM nodes WHERE name = ?), ?, ?, ?)
                """,
            arguments: [
                w.name, w.network, w.node, Int64(w.hostNumber), w.namespace,
                Columns.encodeList(w.exposed.map(\.description)),
            ])
    }

    public func deleteWorkload(named name: String) throws {
        try db.execute(sql: "DELETE FROM workloads WHERE name = ?", arguments: [name])
    }

    // MARK: access peers

    static let accessColumns = "a.name, net.name, a.host_number, a.public_key, n.name"
    static let accessJoin =
        "access_peers a JOIN networks net ON net.id = a.network_id JOIN nodes n ON n.id = a.hub_node_id"

    func accessPeer(_ row: Row) throws -> AccessPeer {
        AccessPeer(
            name: row[0], network: row[1],
            hostNumber: try Columns.uint64(row, 2, table: "access_peers", column: "host_number"),
            publicKey: try Columns.key(row, 3, table: "access_peers", column: "public_key"), hub: row[4])
    }

    public func accessPeers(network: String? = nil) throws -> [AccessPeer] {
        var sql = "SELECT \(Self.accessColumns) FROM \(Self.accessJoin)"
        var args: [String] = []
        if let network {
            sql += " WHERE net.name = ?"
            args.append(network)
        }
        return try Row.fetchAll(db, sql: sql + " ORDER BY a.name", arguments: StatementArguments(args)).map(accessPeer)
    }

    public func accessPeer(named name: String) throws -> AccessPeer? {
        try Row.fetchOne(
            db, sql: "SELECT \(Self.accessColumns) FROM \(Self.accessJoin) WHERE a.name = ?",
            arguments: [name]
        ).map(accessPeer)
    }

    public func publicKeyInUse(_ key: WireGuardKey) throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: """
                SELECT 1 FROM access_peers WHERE public_key = ?1 UNION SELECT 1 FROM memberships WHERE public_key = ?1
                """, arguments: [Data(key.bytes)]) ?? false
    }

    public func insert(_ a: AccessPeer) throws {
        try db.execute(
            sql: """
                INSERT INTO access_peers (name, network_id, host_number, public_key, hub_node_id)
                VALUES (?, (SELECT id FROM networks WHERE name = ?), ?, ?, (SELECT id FROM nodes WHERE name = ?))
                """, arguments: [a.name, a.network, Int64(a.hostNumber), Data(a.publicKey.bytes), a.hub])
    }

    public func deleteAccessPeer(named name: String) throws {
        try db.execute(sql: "DELETE FROM access_peers WHERE name = ?", arguments: [name])
    }

    // MARK: gateway routes

    func gatewayRoute(_ row: Row) throws -> GatewayRoute {
        let matchText: String = row[2]
        guard let match = Columns.match(matchText) else {
            throw StoredDataError(
                "gateway_routes", "match", matchText, expected: "name:LABEL, fqdn:NAME, tcp:PORT or udp:PORT")
        }
        let balanceText: String = row[5]
        guard let balance = GatewayRoute.Balance(rawValue: balanceText) else {
            throw StoredDataError("gateway_routes", "balance", balanceText, expected: "roundrobin or leastconn")
        }
        return GatewayRoute(
            name: row[0], node: row[1], match: match, tlsPassthrough: row[3],
            backends: try Columns.decodeList(
                row[4], table: "gateway_routes", column: "backends",
                expected: "WORKLOAD:PORT"
            ) { text in
                guard let c = text.lastIndex(of: ":"), let p = UInt16(text[text.index(after: c)...]) else { return nil }
                return GatewayRoute.Backend(workload: String(text[..<c]), port: p)
            },
            balance: balance,
            tls: (row[6] as String?).flatMap { cert in
                (row[7] as Data?).map { GatewayRoute.TLS(certificate: cert, sealedKey: Array($0)) }
            })
    }

    public func gatewayRoutes(node: String? = nil) throws -> [GatewayRoute] {
        var sql =
            "SELECT r.name, n.name, r.match, r.tls_passthrough, r.backends, r.balance, r.tls_certificate, r.tls_sealed_key FROM gateway_routes r JOIN nodes n ON n.id = r.node_id"
        var args: [String] = []
        if let node {
            sql += " WHERE n.name = ?"
            args.append(node)
        }
        return try Row.fetchAll(db, sql: sql + " ORDER BY r.name", arguments: StatementArguments(args)).map(
            gatewayRoute)
    }

    public func insert(_ r: GatewayRoute) throws {
        try db.execute(
            sql: """
                INSERT INTO gateway_routes (name, node_id, match, tls_passthrough, backends, balance, tls_certificate, tls_sealed_key)
                VALUES (?, (SELECT id FROM nodes WHERE name = ?), ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                r.name, r.node, Columns.matchText(r.match), r.tlsPassthrough,
                Columns.encodeList(r.backends.map(\.description)), r.balance.rawValue,
                r.tls?.certificate, r.tls.map { Data($0.sealedKey) },
            ])
    }

    public func deleteGatewayRoute(named name: String) throws {
        try db.execute(sql: "DELETE FROM gateway_routes WHERE name = ?", arguments: [name])
    }
}
