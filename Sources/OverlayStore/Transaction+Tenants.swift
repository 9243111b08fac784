import GRDB

/// Who owns what: the tenant of each admin token and the owner of each network (NULL for the
/// operator). Kept apart from the rows of the desired state, which never depend on it.
extension Transaction {
    public struct AdminTokenRow: Sendable, Equatable {
        public var name: String
        /// Nil for an operator token.
        public var tenant: String?
        public var createdAt: Int64
    }

    public func setAdminTokenTenant(_ tenant: String?, name: String) throws {
        try db.execute(sql: "UPDATE admin_tokens SET tenant = ? WHERE name = ?", arguments: [tenant, name])
    }

    /// The token whose hash is `hash`, nil when none is.
    public func adminToken(hash: String) throws -> AdminTokenRow? {
        try Row.fetchOne(db, sql: "SELECT name, tenant, created_at FROM admin_tokens WHERE hash = ?", arguments: [hash])
            .map { AdminTokenRow(name: $0[0], tenant: $0[1], createdAt: $0[2]) }
    }

    /// Every admin token, by name.
    public func adminTokenRows() throws -> [AdminTokenRow] {
        try Row.fetchAll(db, sql: "SELECT name, tenant, created_at FROM admin_tokens ORDER BY name").map {
            AdminTokenRow(name: $0[0], tenant: $0[1], createdAt: $0[2])
        }
    }

    public func setNetworkOwner(_ owner: String?, network: String) throws {
        try db.execute(sql: "UPDATE networks SET owner = ? WHERE name = ?", arguments: [owner, network])
    }

    /// The owner of the network `name`; nil for the operator's and for no such network.
    public func networkOwner(named name: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT owner FROM networks WHERE name = ?", arguments: [name])
    }

    /// The owner of every network that has one, by network name.
    public func networkOwners() throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, owner FROM networks WHERE owner IS NOT NULL") {
            out[row[0]] = row[1]
        }
        return out
    }

    /// The names of the networks `owner` owns.
    public func networkNames(owner: String) throws -> Set<String> {
        Set(try String.fetchAll(db, sql: "SELECT name FROM networks WHERE owner = ?", arguments: [owner]))
    }
}
