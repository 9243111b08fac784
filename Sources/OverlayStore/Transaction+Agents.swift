import Foundation

/// Join tokens, admin tokens and agent status reports: rows beside the desired state that never
/// change a plan. Tokens are only ever stored as hashes.
extension Transaction {
    // MARK: join tokens

    public func insertJoinToken(hash: String, node: String, expiresAt: Int64, createdAt: Int64 = 0) throws {
        try execute(
            """
            INSERT INTO join_tokens (hash, node_id, expires_at, created_at) SELECT ?, id, ?, ? FROM nodes
            WHERE name = ?
            """, hash, expiresAt, createdAt, node)
    }

    /// A join token's public id: the first 16 hex digits of its hash (the hash of 32 random
    /// bytes tells nothing of the token).
    public static let joinTokenIDLength = 16

    public struct OutstandingJoinToken: Sendable, Equatable {
        public var id: String
        public var node: String
        public var createdAt: Int64
        public var expiresAt: Int64
    }

    /// Tokens neither used nor expired at `now`, of one node or all, oldest first.
    public func outstandingJoinTokens(node: String?, now: Int64) throws -> [OutstandingJoinToken] {
        var arguments: [any SQLBindable] = [now]
        if let node { arguments.append(node) }
        return try conn.fetchAll(
            """
            SELECT substr(t.hash, 1, \(Self.joinTokenIDLength)), n.name, t.created_at, t.expires_at
            FROM join_tokens t JOIN nodes n ON n.id = t.node_id
            WHERE t.used_at IS NULL AND t.expires_at > ? \(node == nil ? "" : "AND n.name = ?")
            ORDER BY t.created_at, n.name, t.hash
            """, arguments
        ).map {
            OutstandingJoinToken(
                id: try $0.string(0), node: try $0.string(1), createdAt: try $0.int64(2), expiresAt: try $0.int64(3))
        }
    }

    /// Deletes the token whose id is `id`; returns whether there was one.
    public func deleteJoinToken(id: String) throws -> Bool {
        try execute("DELETE FROM join_tokens WHERE substr(hash, 1, \(Self.joinTokenIDLength)) = ?", id) > 0
    }

    public struct JoinTokenRow: Sendable, Equatable {
        public var node: String
        public var expiresAt: Int64
        public var usedAt: Int64?
    }

    public func joinToken(hash: String) throws -> JoinTokenRow? {
        try row(
            """
            SELECT n.name, t.expires_at, t.used_at FROM join_tokens t JOIN nodes n ON n.id = t.node_id WHERE t.hash = ?
            """, hash
        ).map { JoinTokenRow(node: try $0.string(0), expiresAt: try $0.int64(1), usedAt: try $0.optionalInt64(2)) }
    }

    public func markJoinTokenUsed(hash: String, at time: Int64) throws {
        try execute("UPDATE join_tokens SET used_at = ? WHERE hash = ?", time, hash)
    }

    // MARK: admin tokens

    public func insertAdminToken(name: String, hash: String, createdAt: Int64) throws {
        try execute("INSERT INTO admin_tokens (name, hash, created_at) VALUES (?, ?, ?)", name, hash, createdAt)
    }

    public func adminTokens() throws -> [(name: String, createdAt: Int64)] {
        try rows("SELECT name, created_at FROM admin_tokens ORDER BY name").map { (try $0.string(0), try $0.int64(1)) }
    }

    /// Returns whether a token of that name existed.
    public func deleteAdminToken(name: String) throws -> Bool {
        try execute("DELETE FROM admin_tokens WHERE name = ?", name) > 0
    }

    // MARK: agent status

    /// Keeps the last report of `node` (its JSON, as the agent sent it after validation).
    public func setAgentStatus(node: String, reportedAt: Int64, json: String, signedAt: Int64 = 0, nonce: String = "")
        throws
    {
        try execute(
            """
            INSERT INTO agent_status (node_id, reported_at, report, signed_at, nonce)
            SELECT id, ?, ?, ?, ? FROM nodes WHERE name = ?
            ON CONFLICT (node_id) DO UPDATE SET reported_at = excluded.reported_at, report = excluded.report,
            signed_at = excluded.signed_at, nonce = excluded.nonce
            """, reportedAt, json, signedAt, nonce, node)
    }

    /// The signed time and nonce of the report kept for `node` (0 and "" for one kept unsigned).
    public func agentStatusSignature(node: String) throws -> (signedAt: Int64, nonce: String)? {
        try row(
            "SELECT s.signed_at, s.nonce FROM agent_status s JOIN nodes n ON n.id = s.node_id WHERE n.name = ?", node
        ).map { (try $0.int64(0), try $0.string(1)) }
    }

    public func agentStatus(node: String) throws -> (reportedAt: Int64, json: String)? {
        try row(
            "SELECT s.reported_at, s.report FROM agent_status s JOIN nodes n ON n.id = s.node_id WHERE n.name = ?", node
        ).map { (try $0.int64(0), try $0.string(1)) }
    }
}
