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
        _ = try execute("UPDATE admin_tokens SET tenant = ? WHERE name = ?", tenant, name)
    }

    /// The token whose hash is `hash`, nil when none is.
    public func adminToken(hash: String) throws -> AdminTokenRow? {
        try row("SELECT name, tenant, created_at FROM admin_tokens WHERE hash = ?", hash).map {
            AdminTokenRow(name: try $0.string(0), tenant: try $0.optionalString(1), createdAt: try $0.int64(2))
        }
    }

    /// Every admin token, by name.
    public func adminTokenRows() throws -> [AdminTokenRow] {
        try rows("SELECT name, tenant, created_at FROM admin_tokens ORDER BY name").map {
            AdminTokenRow(name: try $0.string(0), tenant: try $0.optionalString(1), createdAt: try $0.int64(2))
        }
    }

    public func setNetworkOwner(_ owner: String?, network: String) throws {
        _ = try execute("UPDATE networks SET owner = ? WHERE name = ?", owner, network)
    }

    /// The owner of the network `name`; nil for the operator's and for no such network.
    public func networkOwner(named name: String) throws -> String? {
        try row("SELECT owner FROM networks WHERE name = ?", name)?.optionalString(0)
    }

    /// The owner of every network that has one, by network name.
    public func networkOwners() throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try rows("SELECT name, owner FROM networks WHERE owner IS NOT NULL") {
            out[try row.string(0)] = try row.string(1)
        }
        return out
    }

    /// The names of the networks `owner` owns.
    public func networkNames(owner: String) throws -> Set<String> {
        Set(try rows("SELECT name FROM networks WHERE owner = ?", owner).map { try $0.string(0) })
    }
}
