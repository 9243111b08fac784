import Foundation
import HTTPTypes
import HummingbirdTesting
import OverlayAPI
import OverlayController
import OverlayCrypto
import OverlayModel
import Testing

@Suite("admin API")
struct AdminAPITests {
    @Test("missing, malformed, wrong or revoked bearer token: 401 with a clear message, nothing changes")
    func tokens() async throws {
        let h = try Harness()
        let body = #"{"name":"shop"}"#
        let revoked = try h.controller.createAdminToken(name: "old").token
        try h.controller.revokeAdminToken(name: "old")
        let before = try h.store.dump()
        try await h.test { client in
            let cases: [(HTTPFields, String)] = [
                ([:], "missing bearer token"),
                ([.authorization: "Basic abc"], "invalid or revoked bearer token"),
                (
                    [.authorization: "Bearer ovla_" + String(repeating: "x", count: 43)],
                    "invalid or revoked bearer token"
                ),
                ([.authorization: "Bearer \(revoked)"], "invalid or revoked bearer token"),
                ([.authorization: "Bearer \(h.token)x"], "invalid or revoked bearer token"),
            ]
            for (headers, message) in cases {
                for (method, uri) in [
                    (HTTPRequest.Method.post, "/v1/networks"), (.get, "/v1/networks"), (.delete, "/v1/networks/shop"),
                ] {
                    let r = try await client.execute(uri: uri, method: method, headers: headers, body: buffer(body))
                    #expect(r.status == .unauthorized, "\(method) \(uri) with \(headers)")
                    #expect(r.error?.contains(message) == true, "\(r.text)")
                }
            }
            let ok = try await client.execute(uri: "/v1/networks", method: .get, headers: h.admin)
            #expect(ok.status == .ok)
            #expect(ok.text == "[]")
        }
        #expect(try h.store.dump() == before)
    }

    @Test("bad input on every write endpoint: 4xx with the CLI's message, database unchanged")
    func badInput() async throws {
        let h = try Harness()
        let id = Ed25519Identity.generate().publicKeyBase64
        try h.controller.createNetwork(name: "shop", prefix: "fd12:3456:789a::/48")
        try h.controller.addNode(.init(name: "n1", identity: id, publicAddresses: ["192.0.2.1"], hub: true))
        try h.controller.addNode(.init(name: "pending"))
        try h.controller.addWorkload(name: "web", network: "shop", node: "n1", expose: ["tcp/80"])
        let before = try h.store.dump()
        let big = "{\"name\":\"" + String(repeating: "a", count: 2 << 20) + "\"}"
        typealias Case = (HTTPRequest.Method, String, String?, HTTPResponse.Status, String)
        let cases: [Case] = [
            (.post, "/v1/networks", "{", .badRequest, "malformed JSON body"),
            (.post, "/v1/networks", "", .badRequest, "the body is empty"),
            (.post, "/v1/networks", "[1]", .badRequest, "expected a JSON object"),
            (.post, "/v1/networks", #"{"name": 3}"#, .badRequest, "field 'name' must be a string"),
            (.post, "/v1/networks", #"{"name": "x", "mtu": "big"}"#, .badRequest, "field 'mtu' must be an integer"),
            (.post, "/v1/networks", #"{"nam": "x"}"#, .badRequest, "missing field 'name'"),
            (.post, "/v1/networks", #"{"name": "x", "prefx": "fd00::/48"}"#, .badRequest, "unknown field 'prefx'"),
            (.post, "/v1/networks", big, .contentTooLarge, "request body too large"),
            (
                .post, "/v1/networks", #"{"name": "Bad_Name"}"#, .badRequest,
                "invalid network name 'Bad_Name': 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
            ),
            (.post, "/v1/networks", #"{"name": "x", "mtu": 100}"#, .badRequest, "invalid mtu '100'"),
            (.post, "/v1/networks", #"{"name": "shop"}"#, .conflict, "network 'shop' already exists"),
            (.delete, "/v1/networks/ghost", nil, .notFound, "no network named 'ghost'"),
            (.get, "/v1/networks/ghost", nil, .notFound, "no network named 'ghost'"),
            (.post, "/v1/networks/shop/members", #"{"node": "ghost"}"#, .notFound, "no node named 'ghost'"),
            (
                .post, "/v1/networks/shop/members", #"{"node": "pending"}"#, .conflict,
                "node 'pending' has not joined yet"
            ),
            (
                .post, "/v1/networks/shop/members", #"{"node": "n1", "pinned": true}"#, .badRequest,
                "unknown field 'pinned'"
            ),
            (.post, "/v1/nodes", #"{"name": "n2", "identity": "abc"}"#, .badRequest, "invalid identity 'abc'"),
            (
                .post, "/v1/nodes", #"{"name": "n2", "publicAddresses": ["127.0.0.1"]}"#, .badRequest,
                "invalid public address '127.0.0.1'"
            ),
            (
                .post, "/v1/nodes", #"{"name": "n2", "publicAddresses": "192.0.2.9"}"#, .badRequest,
                "field 'publicAddresses' must be an array"
            ),
            (.post, "/v1/nodes", #"{"name": "n2", "hub": "yes"}"#, .badRequest, "field 'hub' must be true or false"),
            (.post, "/v1/nodes", #"{"name": "n1", "identity": "\#(id)"}"#, .conflict, "node 'n1' already exists"),
            (.post, "/v1/nodes/n1/join-tokens", #"{"expires": "9d"}"#, .badRequest, "invalid expires '9d'"),
            (.post, "/v1/nodes/n1/join-tokens", #"{"expires": "0m"}"#, .badRequest, "invalid expires '0m'"),
            (.post, "/v1/nodes/ghost/join-tokens", "{}", .notFound, "no node named 'ghost'"),
            (.delete, "/v1/nodes/n1", nil, .conflict, "node 'n1' still hosts workloads (web)"),
            (
                .post, "/v1/workloads", #"{"name": "db", "network": "shop", "node": "pending"}"#, .conflict,
                "node 'pending' has not joined yet (no identity): give it a join token with 'overlayctl node join-token pending'"
            ),
            (
                .post, "/v1/workloads", #"{"name": "db", "network": "shop", "node": "n1", "expose": ["tcp/0"]}"#,
                .badRequest, "invalid port '0'"
            ),
            (
                .post, "/v1/workloads", #"{"name": "web", "network": "shop", "node": "n1"}"#, .conflict,
                "workload 'web' already exists"
            ),
            (
                .post, "/v1/workloads", #"{"name": "db", "network": "shop", "node": "n1", "extra": {"a": 1}}"#,
                .badRequest, "unknown field 'extra'"
            ),
            (.delete, "/v1/workloads/ghost", nil, .notFound, "no workload named 'ghost'"),
            (
                .post, "/v1/access-peers", #"{"name": "laptop", "network": "shop", "publicKey": "nope"}"#, .badRequest,
                "invalid public key 'nope'"
            ),
            (
                .post, "/v1/gateway-routes", #"{"name": "r", "node": "n1", "backends": ["web:80"], "label": "www"}"#,
                .badRequest,
                "invalid node 'n1': a node added with --gateway --domain"
            ),
            (
                .post, "/v1/gateway-routes", #"{"name": "r", "node": "n1", "backends": "web:80"}"#, .badRequest,
                "field 'backends' must be an array"
            ),
            (
                .post, "/v1/apply", #"{"topology": "networks: [{name: Bad_Name}]"}"#, .badRequest,
                "invalid network name 'Bad_Name'"
            ),
            (.post, "/v1/apply", #"{"topology": "netwrks: []"}"#, .badRequest, "invalid topology file key 'netwrks'"),
            (
                .post, "/v1/apply", #"{"topology": "networks: []", "dryrun": true}"#, .badRequest,
                "unknown field 'dryrun'"
            ),
            (.get, "/v1/nowhere", nil, .notFound, "no such endpoint"),
        ]
        try await h.test { client in
            for (method, uri, body, status, message) in cases {
                let r = try await client.execute(uri: uri, method: method, headers: h.admin, body: body.map(buffer))
                #expect(
                    r.status == status, "\(method) \(uri) \(body?.prefix(80) ?? ""): \(r.status) \(r.text.prefix(300))")
                #expect(
                    r.error?.contains(message) == true,
                    "\(method) \(uri) \(body?.prefix(80) ?? ""): \(r.text.prefix(300))")
            }
        }
        #expect(try h.store.dump() == before)
    }

    @Test("gateway routes, apply results and join tokens have their documented JSON shapes")
    func wireShapes() async throws {
        let h = try Harness()
        let id = Ed25519Identity.generate().publicKeyBase64
        try h.controller.createNetwork(name: "shop", prefix: "fd12:3456:789a::/48")
        try h.controller.addNode(.init(name: "n1", identity: id, publicAddresses: ["192.0.2.1"]))
        try h.controller.addNode(
            .init(
                name: "gw", identity: Ed25519Identity.generate().publicKeyBase64, publicAddresses: ["192.0.2.9"],
                gateway: true, domain: "apps.example.com"))
        try h.controller.addWorkload(name: "web", network: "shop", node: "n1", expose: ["tcp/80", "tcp/8080"])
        @Sendable func object(_ r: TestResponse) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(r.bytes)) as? [String: Any], "\(r.text)")
        }
        try await h.test { client in
            let site = try await client.execute(
                uri: "/v1/gateway-routes", method: .post, headers: h.admin,
                body: buffer(#"{"name": "site", "node": "gw", "label": "site", "backends": ["web:80"]}"#))
            #expect(site.status == .created, "\(site.text)")
            let siteMatch = try #require(try object(site)["match"] as? [String: Any], "\(site.text)")
            #expect(
                siteMatch.count == 2 && siteMatch["kind"] as? String == "name"
                    && siteMatch["label"] as? String == "site")
            let backend = try #require((try object(site)["backends"] as? [[String: Any]])?.first, "\(site.text)")
            #expect(backend["workload"] as? String == "web" && backend["port"] as? Int == 80)
            let tcp = try await client.execute(
                uri: "/v1/gateway-routes", method: .post, headers: h.admin,
                body: buffer(
                    #"{"name": "alt", "node": "gw", "tcp": "8080", "backends": ["web:8080"], "balance": "leastconn"}"#))
            #expect(tcp.status == .created, "\(tcp.text)")
            let tcpMatch = try #require(try object(tcp)["match"] as? [String: Any], "\(tcp.text)")
            #expect(tcpMatch.count == 2 && tcpMatch["kind"] as? String == "tcp" && tcpMatch["port"] as? Int == 8080)
            #expect(try object(tcp)["balance"] as? String == "leastconn")
            let list = try await client.execute(uri: "/v1/gateway-routes", method: .get, headers: h.admin)
            let routes = try JSONDecoder().decode([GatewayRoute].self, from: Data(list.bytes))
            #expect(routes.map(\.match) == [.tcp(8080), .name("site")])
            #expect(!list.text.contains("_0"), "no synthesized enum payload keys: \(list.text)")

            let plan = try await client.execute(uri: "/v1/nodes/gw/plan", method: .get, headers: h.admin)
            #expect(plan.text.contains(#""kind":"name""#) && plan.text.contains(#""label":"site""#), "\(plan.text)")

            let yaml = "workloads:\n- {name: api, network: shop, node: n1, expose: [tcp/81]}\n"
            let body = String(
                decoding: try JSONEncoder().encode(ApplyRequest(topology: yaml, dryRun: true)), as: UTF8.self)
            let applied = try await client.execute(
                uri: "/v1/apply", method: .post, headers: h.admin, body: buffer(body))
            #expect(applied.status == .ok, "\(applied.text)")
            let result = try object(applied)
            #expect(Set(result.keys) == ["created", "nodes", "dryRun"], "a dry run has no revision: \(applied.text)")
            #expect(result["created"] as? [String] == ["workload api"])
            let n1 = try #require((result["nodes"] as? [String: Any])?["n1"] as? [String: Any], "\(applied.text)")
            #expect(n1["workloadsAdded"] as? Int == 1)
            #expect(n1["networksAdded"] as? [String] == [])
        }
    }

    @Test("good input: created objects come back as the CLI prints them")
    func goodInput() async throws {
        let h = try Harness()
        try await h.test { client in
            let r = try await client.execute(
                uri: "/v1/networks", method: .post, headers: h.admin,
                body: buffer(#"{"name": "shop", "prefix": "fd12:3456:789a::/48"}"#))
            #expect(r.status == .created, "\(r.text)")
            let n = try JSONSerialization.jsonObject(with: Data(r.bytes)) as? [String: Any]
            #expect(n?["prefix"] as? String == "fd12:3456:789a::/48")
            #expect(n?["mtu"] as? Int == 1420)
            let t = try await client.execute(
                uri: "/v1/nodes", method: .post, headers: h.admin, body: buffer(#"{"name": "n1"}"#))
            #expect(t.status == .created)
            let j = try await client.execute(
                uri: "/v1/nodes/n1/join-tokens", method: .post, headers: h.admin, body: buffer("{}"))
            #expect(j.status == .created)
            let token = try JSONDecoder().decode(JoinTokenView.self, from: Data(j.bytes))
            #expect(token.token.hasPrefix("ovlj_") && token.node == "n1")
            #expect(token.expiresAt - Controller.now() <= 3600 && token.expiresAt - Controller.now() > 3500)
            let m = try await client.execute(uri: "/metrics", method: .get)
            #expect(
                m.text.contains(#"overlay_http_requests_total{route="/v1/networks",method="POST",status="201"} 1"#),
                "\(m.text)")
        }
        // The token is stored hashed, never in clear.
        #expect(!(try h.store.dump()).contains("ovlj_"))
    }
}
