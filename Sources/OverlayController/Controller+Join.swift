import Foundation
import OverlayCrypto
import OverlayModel
import OverlayProtocol
import OverlayStore

/// A request refused for who made it (bad join token), not for what it asked.
public struct AccessDenied: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A status report older than the one kept, or the kept one again: a replay.
public struct StaleReport: Error, Equatable, Sendable, CustomStringConvertible {
    public var node: String
    public var signedAt: Int64
    public var kept: Int64
    public var description: String {
        "status report of node '\(node)' signed at \(signedAt) is not newer than the one kept (signed at \(kept)): replayed or out of order"
    }
}

extension Controller {
    static func notJoined(_ node: String) -> String {
        "node '\(node)' has not joined yet (no identity): give it a join token with 'overlayctl node join-token \(node)'"
    }

    /// Join tokens live between one minute and one week.
    public static let joinTokenLifetimes: ClosedRange<Int64> = 60...7 * 86_400
    public static let defaultJoinTokenLifetime: Int64 = 3_600

    /// `90s`, `30m`, `1h`, `7d` → seconds, within `joinTokenLifetimes`.
    public static func parseLifetime(_ text: String) throws -> Int64 {
        let allowed = "a duration such as 30m, 1h or 2d, from 1m to 7d"
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let n = Int64(text.dropLast()), n > 0,
            String(n) == text.dropLast(), n <= Int64.max / unit, joinTokenLifetimes.contains(n * unit)
        else { throw ValidationError("expires", text, allowed: allowed) }
        return n * unit
    }

    public struct JoinToken: Sendable, Equatable {
        /// What `node join-tokens` lists and `node revoke-join-token` takes.
        public var id: String
        public var node: String
        /// Shown once; only its hash is stored.
        public var token: String
        /// Seconds since 1970.
        public var expiresAt: Int64
    }

    /// A join token not used and not expired, as listed: never the token itself.
    public struct OutstandingJoinToken: Sendable, Equatable {
        public var id: String
        public var node: String
        /// Seconds since 1970 (0 for tokens made before creation times were kept).
        public var createdAt: Int64
        public var expiresAt: Int64

        init(_ row: Transaction.OutstandingJoinToken) {
            id = row.id
            node = row.node
            createdAt = row.createdAt
            expiresAt = row.expiresAt
        }
    }

    /// The join tokens neither used nor expired, of `node` or of every node.
    public func outstandingJoinTokens(node: String? = nil, now: Int64 = Controller.now()) throws
        -> [OutstandingJoinToken]
    {
        try requireOperator("listing join tokens")
        return try store.read { tx in
            if let node, try tx.node(named: node) == nil { throw NotFoundError("node", node) }
            return try tx.outstandingJoinTokens(node: node, now: now).map(OutstandingJoinToken.init)
        }
    }

    /// Revokes an outstanding join token by its id (used and expired ones are revoked already).
    @discardableResult
    public func revokeJoinToken(id: String, now: Int64 = Controller.now()) throws -> OutstandingJoinToken {
        try requireOperator("revoking join tokens")
        let length = Transaction.joinTokenIDLength
        guard id.utf8.count == length, id.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw ValidationError(
                "join token id", id, allowed: "\(length) lowercase hex digits, as 'overlayctl node join-tokens' shows")
        }
        return try store.write { tx in
            guard let token = try tx.outstandingJoinTokens(node: nil, now: now).first(where: { $0.id == id }),
                try tx.deleteJoinToken(id: id)
            else { throw NotFoundError("outstanding join token", id) }
            return OutstandingJoinToken(token)
        }
    }

    /// A single-use token that lets the agent of `node` register its identity.
    public func createJoinToken(node: String, expires: String? = nil, now: Int64 = Controller.now()) throws -> JoinToken
    {
        try requireOperator("making join tokens")
        let lifetime = try expires.map(Controller.parseLifetime) ?? Controller.defaultJoinTokenLifetime
        let token = Token.generate(.join)
        try store.write { tx in
            guard try tx.node(named: node) != nil else { throw NotFoundError("node", node) }
            try tx.insertJoinToken(hash: Token.hash(token), node: node, expiresAt: now + lifetime, createdAt: now)
        }
        let id = String(Token.hash(token).prefix(Transaction.joinTokenIDLength))
        return JoinToken(id: id, node: node, token: token, expiresAt: now + lifetime)
    }

    /// Registers `identity` as the identity of the token's node and uses the token up. A node that
    /// already has an identity may only join again with that same key.
    public func join(token: String, identity: [UInt8], now: Int64 = Controller.now()) throws -> String {
        let renew = "create a new one with 'overlayctl node join-token NODE'"
        guard Token.isWellFormed(token, .join) else {
            throw ValidationError(
                "join token", String(token.prefix(8)) + "…",
                allowed: "a token printed by 'overlayctl node join-token' (ovlj_ and 43 characters)")
        }
        guard identity.count == 32 else {
            throw ValidationError("identity", "\(identity.count) bytes", allowed: "an Ed25519 public key: 32 bytes")
        }
        let hash = Token.hash(token)
        let node = try store.read { tx -> String in
            guard let row = try tx.joinToken(hash: hash) else {
                throw AccessDenied("unknown join token (mistyped, or its node was removed): \(renew)")
            }
            return row.node
        }
        return try mutate(networks: []) { m -> String in
            guard let row = try m.tx.joinToken(hash: hash), let current = try m.tx.node(named: row.node) else {
                throw AccessDenied("unknown join token (mistyped, or its node was removed): \(renew)")
            }
            if row.usedAt != nil {
                throw AccessDenied("this join token was already used (tokens are single-use): \(renew)")
            }
            if now >= row.expiresAt {
                throw AccessDenied("this join token expired at \(Controller.isoTime(row.expiresAt)): \(renew)")
            }
            if current.hasJoined {
                guard current.identity == identity else {
                    throw ConflictError(
                        "node '\(node)' already joined with another identity (\(current.identityBase64)); remove and add the node again to change it"
                    )
                }
            } else {
                if let other = try m.tx.nodeName(identity: identity) {
                    throw ConflictError(
                        "identity \(Data(identity).base64EncodedString()) is already the identity of node '\(other)'")
                }
                try m.tx.setIdentity(identity, node: node)
            }
            try m.tx.markJoinTokenUsed(hash: hash, at: now)
            // Its first plan (maybe empty) gets a revision of its own, so the agent takes it at once.
            m.touch(node: node)
            return node
        }.0
    }

    /// The identity an agent request from `node` must be signed with.
    public enum AgentKey: Equatable, Sendable {
        case unknownNode
        case notJoined
        case key([UInt8])
    }

    public func agentKey(node: String) throws -> AgentKey {
        guard let n = try store.fetch({ $0.nodeQuery(named: node) }) else { return .unknownNode }
        return n.hasJoined ? .key(n.identity) : .notJoined
    }

    /// The revision of `node`'s plan (nil when the node does not exist).
    public func planRevision(node: String) throws -> Int64? {
        try store.fetch { $0.planRevisionQuery(node: node) }
    }

    // MARK: status

    /// An agent's last report and when it arrived.
    public struct AgentReport: Sendable, Equatable {
        public var reportedAt: Int64
        public var status: AgentStatus
    }

    /// Keeps `status` as `node`'s report. `signedAt` and `nonce` are the request's signature
    /// claim: a report signed before the one kept, or the very one kept sent again, is a replay
    /// (refused even when the controller restarted since and no longer remembers the nonce).
    public func recordStatus(
        node: String, _ status: AgentStatus, signedAt: Int64 = 0, nonce: String = "", now: Int64 = Controller.now()
    ) throws {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        let json = String(decoding: try e.encode(status), as: UTF8.self)
        try store.write { tx in
            guard try tx.node(named: node) != nil else { throw NotFoundError("node", node) }
            if let kept = try tx.agentStatusSignature(node: node), !kept.nonce.isEmpty,
                signedAt < kept.signedAt || (signedAt == kept.signedAt && nonce == kept.nonce)
            {
                throw StaleReport(node: node, signedAt: signedAt, kept: kept.signedAt)
            }
            try tx.setAgentStatus(node: node, reportedAt: now, json: json, signedAt: signedAt, nonce: nonce)
        }
    }

    static func agentReport(_ tx: Transaction, node: String) throws -> AgentReport? {
        guard let (at, json) = try tx.agentStatus(node: node) else { return nil }
        return AgentReport(reportedAt: at, status: try JSONDecoder().decode(AgentStatus.self, from: Data(json.utf8)))
    }

    // MARK: admin tokens

    /// A new admin bearer token, returned once; the store keeps its hash under `name`. With a
    /// `tenant` it acts for that tenant, else for the operator.
    public func createAdminToken(name: String? = nil, tenant: String? = nil, now: Int64 = Controller.now()) throws
        -> (name: String, token: String)
    {
        try requireOperator("making admin tokens")
        let name = try Names.label(name ?? "token-" + SecureRandom.hex(4), field: "token name")
        let tenant = try tenant.map { try Names.label($0, field: "tenant name") }
        let token = Token.generate(.admin)
        try store.write { tx in
            if try tx.adminTokens().contains(where: { $0.name == name }) {
                throw ConflictError("admin token '\(name)' already exists")
            }
            try tx.insertAdminToken(name: name, hash: Token.hash(token), createdAt: now)
            if let tenant { try tx.setAdminTokenTenant(tenant, name: name) }
        }
        return (name, token)
    }

    /// Every admin token (never the token): name, tenant (nil: operator), creation time.
    public func adminTokens() throws -> [Transaction.AdminTokenRow] {
        try requireOperator("listing admin tokens")
        return try store.read { try $0.adminTokenRows() }
    }

    public func revokeAdminToken(name: String) throws {
        try requireOperator("revoking admin tokens")
        let found = try store.write { try $0.deleteAdminToken(name: name) }
        if !found { throw NotFoundError("admin token", name) }
    }

    /// Whom the admin token `token` acts for, nil when it is not one.
    public func adminPrincipal(_ token: String) throws -> AdminPrincipal? {
        guard Token.isWellFormed(token, .admin) else { return nil }
        return try store.read { try $0.adminToken(hash: Token.hash(token)) }.map {
            AdminPrincipal(token: $0.name, tenant: $0.tenant)
        }
    }

    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    public static func isoTime(_ t: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
    }
}
