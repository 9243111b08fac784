import Foundation
import HTTPTypes
import HummingbirdTesting
import OverlayController
import OverlayCrypto
import Testing

/// Answers found wrong by fuzzing the admin API: refusals that came back as 500, removals of
/// nothing that took a revision, bodies that passed although not strict JSON, 404 for a wrong
/// method, and errors echoing a huge input.
@Suite("admin API refusals")
struct AdminRefusalTests {
    typealias Case = (HTTPRequest.Method, String, String?, HTTPResponse.Status, String)

    /// Runs each case, checks status and message, and that nothing changed (revision included).
    static func expect(_ h: Harness, _ cases: [Case], headers: HTTPFields? = nil) async throws {
        let before = try h.store.dump()
        let revision = try h.controller.revision()
        try await h.test { client in
            for (method, uri, body, status, message) in cases {
                let r = try await client.execute(
                    uri: uri, method: method, headers: headers ?? h.admin, body: body.map(buffer))
                let label = "\(method) \(uri) \(body?.prefix(80) ?? "")"
                #expect(r.status == status, "\(label): \(r.status) \(r.text.prefix(300))")
                #expect(r.error?.contains(message) == true, "\(label): \(r.text.prefix(300))")
                #expect(r.error?.contains("internal error") == false, "\(label): \(r.text.prefix(300))")
            }
        }
        #expect(try h.store.dump() == before)
        #expect(try h.controller.revision() == revision)
    }

    @Test("the planner's refusals are 409 with its message, not 500")
    func plannerRefusals() async throws {
        let h = try Harness()
        try h.controller.createNetwork(name: "shop")
        try h.controller.createNetwork(name: "lab")
        let id = Ed25519Identity.generate().publicKeyBase64
        try h.controller.addNode(.init(name: "hidden", identity: id))
        let noHub = "has hidden members (hidden) but no hub to relay for them"
        try await Self.expect(
            h,
            [
                (.post, "/v1/networks/shop/members", #"{"node": "hidden"}"#, .conflict, noHub),
                (.post, "/v1/workloads", #"{"name": "web", "network": "shop", "node": "hidden"}"#, .conflict, noHub),
            ])
        try h.controller.addNode(
            .init(
                name: "hub1", identity: Ed25519Identity.generate().publicKeyBase64, publicAddresses: ["192.0.2.1"],
                hub: true))
        try h.controller.addWorkload(name: "web", network: "shop", node: "hidden")
        try await Self.expect(h, [(.delete, "/v1/nodes/hub1", nil, .conflict, noHub)])
    }

    @Test("deleting what is not there: 404, no new revision")
    func deleteMissing() async throws {
        let h = try Harness()
        try h.controller.createNetwork(name: "shop")
        _ = try h.joinedNode("n1")
        _ = try h.joinedNode("n2")
        try h.controller.addWorkload(name: "web", network: "shop", node: "n2")
        try await Self.expect(
            h,
            [
                (.delete, "/v1/networks/shop/members/n1", nil, .notFound, "no member of network 'shop' named 'n1'"),
                (.delete, "/v1/networks/shop/members/ghost", nil, .notFound, "no node named 'ghost'"),
                (.delete, "/v1/networks/ghost/members/n1", nil, .notFound, "no network named 'ghost'"),
                (.delete, "/v1/networks/shop/members/n2", nil, .conflict, "node 'n2' was not attached"),
                (.delete, "/v1/networks/ghost", nil, .notFound, "no network named 'ghost'"),
                (.delete, "/v1/nodes/ghost", nil, .notFound, "no node named 'ghost'"),
                (.delete, "/v1/workloads/ghost", nil, .notFound, "no workload named 'ghost'"),
                (.delete, "/v1/access-peers/ghost", nil, .notFound, "no access peer named 'ghost'"),
                (.delete, "/v1/gateway-routes/ghost", nil, .notFound, "no gateway route named 'ghost'"),
            ])
    }

    @Test("bodies that are not strict UTF-8 JSON objects with known, unique keys: 400")
    func strictBodies() async throws {
        let h = try Harness()
        let utf16 = String(
            decoding: Array(#"{"name": "shop"}"#.utf16).flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }, as: UTF8.self)
        try await Self.expect(
            h,
            [
                (.post, "/v1/networks", #"{"name": "shop", "prefx": null}"#, .badRequest, "unknown field 'prefx'"),
                (
                    .post, "/v1/nodes", #"{"name": "n1", "hub": null, "hubb": null}"#, .badRequest,
                    "unknown field 'hubb'"
                ),
                (.post, "/v1/networks", #"{"name": "shop", "name": "lab"}"#, .badRequest, "duplicate field 'name'"),
                (
                    .post, "/v1/networks", #"{"name": "shop", "n\u0061me": "lab"}"#, .badRequest,
                    "duplicate field 'name'"
                ),
                (
                    .post, "/v1/apply", #"{"topology": "networks: []", "dryRun": true, "dryRun": false}"#,
                    .badRequest, "duplicate field 'dryRun'"
                ),
                (.post, "/v1/networks", "\u{FEFF}" + #"{"name": "shop"}"#, .badRequest, "byte order mark"),
                (.post, "/v1/networks", utf16, .badRequest, "UTF-16 or UTF-32"),
            ])
        // Duplicate keys are found at any depth, and equal keys in different objects are fine.
        try await Self.expect(
            h,
            [
                (
                    .post, "/v1/gateway-routes",
                    #"{"name": "r", "node": "ghost", "backends": [], "tcp": "80", "tcp": "81"}"#,
                    .badRequest, "duplicate field 'tcp'"
                )
            ])
        // No request field is nullable: a known optional field given null is refused by name
        // (an unknown one first), and nothing is created.
        try await Self.expect(
            h,
            [
                (
                    .post, "/v1/networks", #"{"name": "shop", "prefix": null, "mtu": null}"#, .badRequest,
                    "field 'mtu' is null: give it a value or leave it out"
                ),
                (.post, "/v1/nodes", #"{"name": "n1", "hub": null}"#, .badRequest, "field 'hub' is null"),
                (.post, "/v1/nodes/n1/join-tokens", #"{"expires": null}"#, .badRequest, "field 'expires' is null"),
                (
                    .post, "/v1/workloads", #"{"name": "w", "network": "shop", "node": "n1", "netns": null}"#,
                    .badRequest, "field 'netns' is null"
                ),
                (.post, "/v1/apply", #"{"topology": "networks: []", "dryRun": null}"#, .badRequest, "field 'dryRun'"),
                (
                    .post, "/v1/gateway-routes", #"{"name": "r", "node": "n1", "backends": [], "fqdn": null}"#,
                    .badRequest, "field 'fqdn' is null"
                ),
            ])
    }

    @Test("a body not sent as application/json: 415")
    func contentType() async throws {
        let h = try Harness()
        let body = #"{"name": "shop"}"#
        for (type, message) in [
            (nil, "missing Content-Type"), ("text/plain", "unsupported Content-Type 'text/plain'"),
            ("application/x-www-form-urlencoded", "unsupported Content-Type"),
            ("application/json; charset=utf-16", "unsupported charset 'utf-16'"),
        ] as [(String?, String)] {
            var headers: HTTPFields = [.authorization: "Bearer \(h.token)"]
            if let type { headers[.contentType] = type }
            try await Self.expect(h, [(.post, "/v1/networks", body, .unsupportedMediaType, message)], headers: headers)
        }
        try await h.test { client in
            let r = try await client.execute(
                uri: "/v1/networks", method: .post,
                headers: [.authorization: "Bearer \(h.token)", .contentType: "Application/JSON; charset=UTF-8"],
                body: buffer(body))
            #expect(r.status == .created, "\(r.text)")
        }
    }

    @Test("a known path with a method it does not have: 405 with Allow")
    func wrongMethod() async throws {
        let h = try Harness()
        try h.controller.createNetwork(name: "shop")
        let before = try h.store.dump()
        try await h.test { client in
            for (method, uri, allow) in [
                (HTTPRequest.Method.put, "/v1/networks", "GET, POST"),
                (.put, "/v1/networks/shop", "GET, PATCH, DELETE"),
                (.trace, "/v1/nodes/n1/plan", "GET"),
                (.put, "/v1/networks/shop/members/n1", "DELETE"),
                (.get, "/v1/apply", "POST"),
                (.delete, "/v1/agent/plan", "GET"),
                (.post, "/healthz", "GET"),
            ] {
                let r = try await client.execute(uri: uri, method: method, headers: h.admin, body: buffer("{}"))
                #expect(r.status == .methodNotAllowed, "\(method) \(uri): \(r.status) \(r.text)")
                #expect(r.headers[.allow] == allow, "\(method) \(uri): \(r.headers)")
                #expect(
                    r.error
                        == "method \(method.rawValue) is not allowed on \(uri): use \(allow.replacingOccurrences(of: ", ", with: " or "))",
                    "\(r.text)")
            }
            let unknown = try await client.execute(uri: "/v1/nowhere", method: .put, headers: h.admin)
            #expect(unknown.status == .notFound)
            #expect(unknown.error?.contains("no such endpoint") == true)
        }
        #expect(try h.store.dump() == before)
    }

    @Test("a refusal quotes a bounded prefix of a huge value")
    func boundedEcho() async throws {
        let h = try Harness()
        let name = String(repeating: "A", count: (1 << 20) - 100)
        let prefix = String(repeating: "A", count: 64) + "… (\(name.utf8.count) bytes)"
        try await h.test { client in
            for (uri, body, message) in [
                ("/v1/networks", #"{"name": "\#(name)"}"#, "invalid network name '\(prefix)'"),
                ("/v1/networks", #"{"name": "x", "\#(name)": 1}"#, "unknown field '\(prefix)'"),
                ("/v1/nodes", #"{"name": "n1", "region": "\#(name)"}"#, "invalid region '\(prefix)'"),
            ] {
                let r = try await client.execute(uri: uri, method: .post, headers: h.admin, body: buffer(body))
                #expect(r.status == .badRequest)
                #expect(r.bytes.count < 400, "\(r.text.prefix(400))")
                #expect(r.error?.contains(message) == true, "\(r.text.prefix(400))")
            }
        }
    }
}
