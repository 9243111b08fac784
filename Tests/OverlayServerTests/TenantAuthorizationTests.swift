import Foundation
import HTTPTypes
import HummingbirdTesting
import OverlayController
import OverlayCrypto
import OverlayModel
import Testing

/// A controller holding one tenant's network with something of every kind in it, beside the
/// operator's nodes; the tokens of the operator, the owning tenant and another tenant.
struct TenantFixture {
    let h: Harness
    let owner: String
    let other: String
    /// The id of an outstanding join token (of the pending node `p1`).
    let joinTokenID: String

    /// With `acme: false` the owning tenant's objects are left out, so another tenant's view of
    /// them can be compared with the view of their absence.
    init(acme: Bool = true) throws {
        h = try Harness()
        let c = h.controller
        owner = try c.createAdminToken(name: "acme-ci", tenant: "acme").token
        other = try c.createAdminToken(name: "globex-ci", tenant: "globex").token
        for (name, hub) in [("n1", true), ("n2", false), ("n3", false)] {
            try c.addNode(
                .init(
                    name: name, identity: Ed25519Identity.generate().publicKeyBase64,
                    publicAddresses: ["192.0.2.\(name.last!)"], region: "eu", hub: hub))
        }
        try c.addNode(
            .init(
                name: "gw", identity: Ed25519Identity.generate().publicKeyBase64, publicAddresses: ["192.0.2.9"],
                gateway: true, domain: "apps.example.com"))
        try c.addNode(.init(name: "p1"))
        joinTokenID = try c.createJoinToken(node: "p1").id
        try c.createNetwork(name: "ops")
        if acme {
            let acme = c.scoped(to: "acme")
            try acme.createNetwork(name: "acme-net")
            try acme.attach(network: "acme-net", node: "n2")
            try acme.addWorkload(name: "acme-web", network: "acme-net", node: "n1", expose: ["tcp/80"])
            try acme.addWorkload(name: "acme-db", network: "acme-net", node: "n1")
            _ = try acme.addAccessPeer(name: "acme-laptop", network: "acme-net")
            try acme.addGatewayRoute(.init(name: "acme-site", node: "gw", label: "site", backends: ["acme-web:80"]))
        }
    }

    func headers(_ token: String?) -> HTTPFields {
        var f: HTTPFields = [.contentType: "application/json"]
        if let token { f[.authorization] = "Bearer \(token)" }
        return f
    }
}

@Suite("tenants: the authorization matrix")
struct TenantAuthorizationTests {
    enum Who: String, CaseIterable, CustomStringConvertible {
        case operatorToken = "operator"
        case owner = "owning tenant"
        case other = "other tenant"
        case anonymous = "no token"
        var description: String { rawValue }
    }

    /// An endpoint with the status each principal gets (without a token: always 401).
    struct Row: Sendable, CustomStringConvertible {
        var method: HTTPRequest.Method
        var path: @Sendable (TenantFixture) -> String
        var body: String?
        var operatorStatus: HTTPResponse.Status
        var ownerStatus: HTTPResponse.Status
        var otherStatus: HTTPResponse.Status
        var name: String

        init(
            _ method: HTTPRequest.Method, _ path: String, _ body: String? = nil, _ op: HTTPResponse.Status,
            _ owner: HTTPResponse.Status, _ other: HTTPResponse.Status
        ) {
            self.init(method, { _ in path }, body, op, owner, other, name: path)
        }

        init(
            _ method: HTTPRequest.Method, _ path: @escaping @Sendable (TenantFixture) -> String, _ body: String?,
            _ op: HTTPResponse.Status, _ owner: HTTPResponse.Status, _ other: HTTPResponse.Status, name: String
        ) {
            self.method = method
            self.path = path
            self.body = body
            operatorStatus = op
            ownerStatus = owner
            otherStatus = other
            self.name = name
        }

        func expected(_ who: Who) -> HTTPResponse.Status {
            switch who {
            case .operatorToken: operatorStatus
            case .owner: ownerStatus
            case .other: otherStatus
            case .anonymous: .unauthorized
            }
        }

        var description: String { "\(method) \(name)" }
    }

    /// Every admin endpoint, on the owning tenant's objects where it names one.
    static let rows: [Row] = [
        Row(.post, "/v1/networks", #"{"name": "fresh"}"#, .created, .created, .created),
        Row(.get, "/v1/networks", nil, .ok, .ok, .ok),
        Row(.get, "/v1/networks/acme-net", nil, .ok, .ok, .notFound),
        Row(.delete, "/v1/networks/acme-net", nil, .ok, .ok, .notFound),
        Row(.patch, "/v1/networks/acme-net", #"{"egress": false}"#, .ok, .ok, .notFound),
        Row(.post, "/v1/networks/acme-net/members", #"{"node": "n3"}"#, .ok, .ok, .notFound),
        Row(.delete, "/v1/networks/acme-net/members/n2", nil, .ok, .ok, .notFound),
        Row(.get, "/v1/networks/acme-net/graph", nil, .ok, .ok, .notFound),
        Row(
            .post, "/v1/nodes", #"{"name": "n4", "publicAddresses": ["192.0.2.4"]}"#, .created, .forbidden,
            .forbidden),
        Row(.get, "/v1/nodes", nil, .ok, .ok, .ok),
        Row(.get, "/v1/nodes/n1", nil, .ok, .forbidden, .forbidden),
        Row(.delete, "/v1/nodes/n3", nil, .ok, .forbidden, .forbidden),
        Row(.post, "/v1/nodes/p1/join-tokens", "{}", .created, .forbidden, .forbidden),
        Row(.get, "/v1/nodes/p1/join-tokens", nil, .ok, .forbidden, .forbidden),
        Row(.get, "/v1/join-tokens", nil, .ok, .forbidden, .forbidden),
        Row(
            .delete, { "/v1/join-tokens/\($0.joinTokenID)" }, nil, .ok, .forbidden, .forbidden,
            name: "/v1/join-tokens/{id}"),
        Row(.get, "/v1/nodes/n1/plan", nil, .ok, .forbidden, .forbidden),
        Row(
            .post, "/v1/workloads", #"{"name": "api", "network": "acme-net", "node": "n2"}"#, .created, .created,
            .notFound),
        Row(.get, "/v1/workloads", nil, .ok, .ok, .ok),
        Row(.get, "/v1/workloads/acme-web", nil, .ok, .ok, .notFound),
        Row(.delete, "/v1/workloads/acme-db", nil, .ok, .ok, .notFound),
        Row(.post, "/v1/access-peers", #"{"name": "phone", "network": "acme-net"}"#, .created, .created, .notFound),
        Row(.get, "/v1/access-peers", nil, .ok, .ok, .ok),
        Row(.delete, "/v1/access-peers/acme-laptop", nil, .ok, .ok, .notFound),
        Row(
            .post, "/v1/gateway-routes",
            #"{"name": "acme-alt", "node": "gw", "label": "alt", "backends": ["acme-web:80"]}"#, .created,
            .created, .notFound),
        Row(.get, "/v1/gateway-routes", nil, .ok, .ok, .ok),
        Row(.delete, "/v1/gateway-routes/acme-site", nil, .ok, .ok, .notFound),
        Row(.post, "/v1/apply", #"{"topology": "networks: [{name: applied}]"}"#, .ok, .forbidden, .forbidden),
    ]

    struct Answer: Equatable {
        var status: HTTPResponse.Status
        var body: String
    }

    static func call(_ f: TenantFixture, _ row: Row, token: String?) async throws -> Answer {
        try await f.h.test { client in
            let r = try await client.execute(
                uri: row.path(f), method: row.method, headers: f.headers(token), body: row.body.map(buffer))
            return Answer(status: r.status, body: r.text)
        }
    }

    @Test("every admin endpoint x {operator, owning tenant, other tenant, no token}", arguments: rows)
    func matrix(_ row: Row) async throws {
        for who in Who.allCases {
            // A fresh controller for each: a change allowed to one principal must not decide what
            // the next one gets.
            let f = try TenantFixture()
            let token: String? =
                switch who {
                case .operatorToken: f.h.token
                case .owner: f.owner
                case .other: f.other
                case .anonymous: nil
                }
            let before = try f.h.store.dump()
            let answer = try await Self.call(f, row, token: token)
            #expect(answer.status == row.expected(who), "\(row) as \(who): \(answer.status) \(answer.body.prefix(300))")
            if answer.status.code >= 400 {
                #expect(try f.h.store.dump() == before, "\(row) as \(who) was refused but changed the database")
                #expect(!answer.body.contains("internal error"), "\(row) as \(who): \(answer.body)")
            } else if row.method != .get {
                #expect(try f.h.store.dump() != before, "\(row) as \(who) succeeded but changed nothing")
            }
            if who == .other, answer.status == .notFound {
                // Exactly as if the owning tenant's objects did not exist.
                let absent = try TenantFixture(acme: false)
                #expect(try await Self.call(absent, row, token: absent.other) == answer, "\(row)")
            }
        }
    }

    @Test("lists show a tenant its own objects only, and the operator every owner")
    func listsFilter() async throws {
        let f = try TenantFixture()
        try await f.h.test { client in
            func get(_ path: String, _ token: String) async throws -> Any {
                let r = try await client.execute(uri: path, method: .get, headers: f.headers(token))
                #expect(r.status == .ok, "\(path): \(r.text)")
                return try JSONSerialization.jsonObject(with: Data(r.bytes))
            }
            func names(_ path: String, _ token: String) async throws -> [String] {
                ((try await get(path, token) as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted()
            }
            for path in ["/v1/networks", "/v1/workloads", "/v1/access-peers", "/v1/gateway-routes"] {
                #expect(try await names(path, f.other) == [], "\(path)")
            }
            #expect(try await names("/v1/networks", f.owner) == ["acme-net"])
            #expect(try await names("/v1/workloads", f.owner) == ["acme-db", "acme-web"])
            #expect(try await names("/v1/access-peers", f.owner) == ["acme-laptop"])
            #expect(try await names("/v1/gateway-routes", f.owner) == ["acme-site"])
            #expect(try await names("/v1/networks", f.h.token) == ["acme-net", "ops"])
            let all = try #require(try await get("/v1/networks", f.h.token) as? [[String: Any]])
            #expect(all.first { $0["name"] as? String == "acme-net" }?["owner"] as? String == "acme")
            #expect(all.first { $0["name"] as? String == "ops" }?["owner"] == nil)
            let detail = try #require(try await get("/v1/networks/acme-net", f.h.token) as? [String: Any])
            #expect(detail["owner"] as? String == "acme")

            // Nodes: names, regions and roles; no identities, addresses, ports or domains.
            let nodes = try #require(try await get("/v1/nodes", f.other) as? [[String: Any]])
            #expect(nodes.compactMap { $0["name"] as? String }.sorted() == ["gw", "n1", "n2", "n3", "p1"])
            for n in nodes {
                #expect(Set(n.keys).isSubset(of: ["name", "region", "hub", "gateway"]), "\(n)")
            }
            #expect(nodes.first { $0["name"] as? String == "n1" }?["hub"] as? Bool == true)
            #expect(nodes.first { $0["name"] as? String == "gw" }?["gateway"] as? Bool == true)
            let full = try #require(try await get("/v1/nodes", f.h.token) as? [[String: Any]])
            #expect(full.first { $0["name"] as? String == "n1" }?["identity"] is String)
        }
    }

    @Test("a taken name answers the same conflict whoever holds it, without naming the holder")
    func takenNames() async throws {
        let f = try TenantFixture()
        let cases: [(String, String)] = [
            ("/v1/networks", #"{"name": "acme-net"}"#),
            ("/v1/workloads", #"{"name": "acme-web", "network": "mine", "node": "n3"}"#),
            ("/v1/access-peers", #"{"name": "acme-laptop", "network": "mine"}"#),
        ]
        try f.h.controller.scoped(to: "globex").createNetwork(name: "mine")
        try f.h.controller.createNetwork(name: "ops-own")
        try await f.h.test { client in
            for (path, body) in cases {
                let other = try await client.execute(
                    uri: path, method: .post, headers: f.headers(f.other), body: buffer(body))
                #expect(other.status == .conflict, "\(path): \(other.text)")
                #expect(!other.text.contains("acme\""), "\(path): \(other.text)")
                #expect(!other.text.lowercased().contains("tenant"), "\(path): \(other.text)")
            }
            // The operator gets the same message for a name the operator holds.
            let mine = try await client.execute(
                uri: "/v1/networks", method: .post, headers: f.headers(f.other), body: buffer(#"{"name": "ops-own"}"#))
            let theirs = try await client.execute(
                uri: "/v1/networks", method: .post, headers: f.headers(f.other), body: buffer(#"{"name": "acme-net"}"#))
            #expect(mine.status == theirs.status)
            #expect(
                mine.error?.replacingOccurrences(of: "ops-own", with: "X")
                    == theirs.error?.replacingOccurrences(
                        of: "acme-net", with: "X"))
            // A namespace taken on a shared node by another tenant's workload: not named.
            let ns = try await client.execute(
                uri: "/v1/workloads", method: .post, headers: f.headers(f.other),
                body: buffer(#"{"name": "mine-web", "network": "mine", "node": "n1", "netns": "wl-acme-web"}"#))
            #expect(ns.status == .conflict, "\(ns.text)")
            #expect(!ns.text.contains("workload 'acme-web'"), "\(ns.text)")
            // A host name served by another tenant's route: not named either.
            _ = try f.h.controller.scoped(to: "globex").addWorkload(
                name: "mine-web", network: "mine", node: "n3", expose: ["tcp/80"])
            let host = try await client.execute(
                uri: "/v1/gateway-routes", method: .post, headers: f.headers(f.other),
                body: buffer(#"{"name": "mine-site", "node": "gw", "label": "site", "backends": ["mine-web:80"]}"#))
            #expect(host.status == .conflict, "\(host.text)")
            #expect(!host.text.contains("acme-site"), "\(host.text)")
        }
    }

    @Test("tenant tokens: validated tenant names; the principal of each token")
    func tokens() throws {
        let h = try Harness()
        #expect(throws: ValidationError.self) { try h.controller.createAdminToken(name: "t", tenant: "Not A Label") }
        let t = try h.controller.createAdminToken(name: "t", tenant: "acme").token
        #expect(try h.controller.adminPrincipal(t) == AdminPrincipal(token: "t", tenant: "acme"))
        #expect(try h.controller.adminPrincipal(h.token) == AdminPrincipal(token: h.tokenName, tenant: nil))
        #expect(try h.controller.adminTokens().map(\.tenant) == ["acme", nil])
        // A scoped controller cannot make tokens, even in process.
        #expect(throws: AccessDenied.self) { try h.controller.scoped(to: "acme").createAdminToken(name: "u") }
    }
}
