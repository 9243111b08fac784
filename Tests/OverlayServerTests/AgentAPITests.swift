import Foundation
import HTTPTypes
import HummingbirdTesting
import OverlayController
import OverlayCrypto
import OverlayProtocol
import Testing

@Suite("agent API")
struct AgentAPITests {
    static func planURI(after: Int64, wait: Int) -> String { "/v1/agent/plan?after=\(after)&wait=\(wait)" }

    @Test("forged, replayed, stale, unknown-node and unsigned requests are refused with a clear message")
    func signatures() async throws {
        let h = try Harness()
        let id = try h.joinedNode("n1")
        try h.controller.addNode(.init(name: "pending"))
        let other = Ed25519Identity.generate()
        let uri = Self.planURI(after: 0, wait: 0)
        let now = Int64(Date().timeIntervalSince1970)
        let before = try h.store.dump()
        try await h.test { client in
            func get(_ headers: HTTPFields, _ u: String = uri) async throws -> TestResponse {
                try await client.execute(uri: u, method: .get, headers: headers)
            }
            var r = try await get([:])
            #expect(
                r.status == .unauthorized && r.error == "agent authentication failed: missing header Overlay-Node",
                "\(r.text)")
            r = try await get(signed(other, node: "n1", method: "GET", uri: uri))
            #expect(
                r.status == .unauthorized && r.error?.contains("does not verify with the node's key") == true,
                "\(r.text)")
            let wrongKey = r
            // An unknown node and a node that has not joined answer exactly as a wrong signature
            // does: nothing tells which node names exist.
            r = try await get(signed(id, node: "ghost", method: "GET", uri: uri))
            #expect(r.status == wrongKey.status && r.text == wrongKey.text, "\(r.text)")
            r = try await get(signed(other, node: "pending", method: "GET", uri: uri))
            #expect(r.status == wrongKey.status && r.text == wrongKey.text, "\(r.text)")
            // The time is checked before the lookup, for every node alike.
            r = try await get(signed(id, node: "ghost", method: "GET", uri: uri, time: now - 120))
            #expect(r.status == .unauthorized && r.error?.contains("at most 60 s allowed") == true, "\(r.text)")
            r = try await get(signed(id, node: "n1", method: "GET", uri: uri, time: now - 120))
            #expect(r.status == .unauthorized && r.error?.contains("at most 60 s allowed") == true, "\(r.text)")
            r = try await get(signed(id, node: "n1", method: "GET", uri: uri, time: now + 90))
            #expect(r.status == .unauthorized && r.error?.contains("at most 60 s allowed") == true, "\(r.text)")
            // Signed for one query, sent with another.
            r = try await get(signed(id, node: "n1", method: "GET", uri: uri), Self.planURI(after: 0, wait: 1))
            #expect(r.status == .unauthorized && r.error?.contains("does not verify") == true, "\(r.text)")
            // Signed as a POST, sent as a GET.
            r = try await get(signed(id, node: "n1", method: "POST", uri: uri))
            #expect(r.status == .unauthorized, "\(r.text)")
            var bad = signed(id, node: "n1", method: "GET", uri: uri)
            bad[HTTPField.Name(AgentSignature.signatureHeader)!] = "!!"
            r = try await get(bad)
            #expect(
                r.status == .unauthorized && r.error == "agent authentication failed: invalid Overlay-Signature '!!'",
                "\(r.text)")
            // The genuine request, then the same bytes again.
            let good = signed(id, node: "n1", method: "GET", uri: uri)
            r = try await get(good)
            #expect(r.status == .noContent || r.status == .ok, "\(r.text)")
            r = try await get(good)
            #expect(
                r.status == .unauthorized
                    && r.error == "agent authentication failed: this request was already seen (replay)", "\(r.text)")
            // Query parameters are checked too.
            let u2 = "/v1/agent/plan?after=-1"
            r = try await get(signed(id, node: "n1", method: "GET", uri: u2), u2)
            #expect(r.status == .badRequest && r.error?.contains("invalid after '-1'") == true, "\(r.text)")
            let u3 = "/v1/agent/plan?wait=61"
            r = try await get(signed(id, node: "n1", method: "GET", uri: u3), u3)
            #expect(r.status == .badRequest && r.error?.contains("from 0 to 60") == true, "\(r.text)")
        }
        #expect(try h.store.dump() == before)
    }

    @Test("join: token single-use, expiry, proof of possession, identity pinned; the plan follows at once")
    func join() async throws {
        let h = try Harness()
        try h.controller.addNode(.init(name: "n1"))
        try h.controller.addNode(.init(name: "n2"))
        let t1 = try h.controller.createJoinToken(node: "n1").token
        let expired = try h.controller.createJoinToken(node: "n2", expires: "1m", now: Controller.now() - 120).token
        let agent = Ed25519Identity.generate()
        let thief = Ed25519Identity.generate()
        @Sendable func body(_ token: String, _ id: Ed25519Identity) -> [UInt8] {
            Array(try! JSONEncoder().encode(JoinRequest(token: token, identity: id.publicKeyBase64)))
        }
        try await h.test { client in
            func join(_ b: [UInt8], signer: Ed25519Identity) async throws -> TestResponse {
                try await client.execute(
                    uri: AgentPaths.join, method: .post,
                    headers: signed(signer, node: "join", method: "POST", uri: AgentPaths.join, body: b),
                    body: buffer(b))
            }
            // Signed by another key than the one being registered: no proof of possession.
            let before = try h.store.dump()
            var r = try await join(body(t1, agent), signer: thief)
            #expect(r.status == .unauthorized && r.error?.contains("does not verify") == true, "\(r.text)")
            r = try await join(body(expired, agent), signer: agent)
            #expect(r.status == .forbidden && r.error?.contains("this join token expired at") == true, "\(r.text)")
            r = try await join(body("ovlj_" + String(repeating: "A", count: 43), agent), signer: agent)
            #expect(r.status == .forbidden && r.error?.contains("unknown join token") == true, "\(r.text)")
            r = try await join(body("nope", agent), signer: agent)
            #expect(r.status == .badRequest && r.error?.contains("invalid join token") == true, "\(r.text)")
            let extra = Array(#"{"token":"x","identity":"y","node":"n1"}"#.utf8)
            r = try await join(extra, signer: agent)
            #expect(r.status == .badRequest && r.error == "unknown field 'node' in the JSON body", "\(r.text)")
            #expect(try h.store.dump() == before)

            r = try await join(body(t1, agent), signer: agent)
            #expect(r.status == .ok, "\(r.text)")
            let response = try JSONDecoder().decode(JoinResponse.self, from: Data(r.bytes))
            #expect(response == JoinResponse(node: "n1", controllerKey: h.key.publicKeyBase64))
            // Single use, even for the same agent.
            r = try await join(body(t1, agent), signer: agent)
            #expect(
                r.status == .forbidden && r.error?.contains("already used (tokens are single-use)") == true, "\(r.text)"
            )
            // A new token for a joined node only accepts the same identity.
            let t2 = try h.controller.createJoinToken(node: "n1").token
            r = try await join(body(t2, thief), signer: thief)
            #expect(
                r.status == .conflict && r.error?.contains("already joined with another identity") == true, "\(r.text)")

            // The joined agent gets its (empty) plan at once, signed by the controller.
            let uri = Self.planURI(after: 0, wait: 5)
            r = try await client.execute(
                uri: uri, method: .get, headers: signed(agent, node: "n1", method: "GET", uri: uri))
            #expect(r.status == .ok, "\(r.text)")
            let plan = try JSONDecoder().decode(SignedPlan.self, from: Data(r.bytes))
            #expect(try plan.open(controllerKey: h.key.publicKey, expectedNode: "n1").node == "n1")
        }
        #expect(try h.controller.node(named: "n1").node.identity == agent.publicKey)
    }

    @Test(
        "long-poll: answers when its node's plan changes, not when another network changes; plans verify only with the controller key"
    )
    func longPoll() async throws {
        let h = try Harness()
        let a = try h.joinedNode("a1")
        let b = try h.joinedNode("b1")
        try h.controller.createNetwork(name: "net-a")
        try h.controller.createNetwork(name: "net-b")
        try h.controller.addWorkload(name: "wa", network: "net-a", node: "a1")
        try h.controller.addWorkload(name: "wb", network: "net-b", node: "b1")
        let revA = try #require(try h.controller.planRevision(node: "a1"))
        let revB = try #require(try h.controller.planRevision(node: "b1"))
        try await h.test { client in
            func poll(_ id: Ed25519Identity, _ node: String, after: Int64, wait: Int) async throws -> (
                TestResponse, Duration
            ) {
                let uri = Self.planURI(after: after, wait: wait)
                let start = ContinuousClock.now
                let r = try await client.execute(
                    uri: uri, method: .get, headers: signed(id, node: node, method: "GET", uri: uri))
                return (r, ContinuousClock.now - start)
            }
            // Behind: answered at once, not after the 30 s wait (the bound leaves room for a
            // loaded machine running every suite at once).
            let (now, t0) = try await poll(a, "a1", after: revA - 1, wait: 30)
            #expect(now.status == .ok && t0 < .seconds(25), "answered after \(t0)")

            // a1 and b1 wait; a change in net-b wakes b1 only.
            async let pollA = poll(a, "a1", after: revA, wait: 2)
            async let pollB = poll(b, "b1", after: revB, wait: 20)
            let waitStart = ContinuousClock.now
            while h.server.longPollsInFlight < 2 && ContinuousClock.now - waitStart < .seconds(10) {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(h.server.longPollsInFlight == 2)
            try h.controller.addWorkload(name: "wb2", network: "net-b", node: "b1")
            let (rb, tb) = try await pollB
            #expect(rb.status == .ok && tb < .seconds(10), "b1 waited \(tb)")
            let planB = try JSONDecoder().decode(SignedPlan.self, from: Data(rb.bytes))
            #expect(planB.revision > revB)
            #expect(
                try planB.open(controllerKey: h.key.publicKey, expectedNode: "b1").networks.map(\.name) == ["net-b"])
            #expect(throws: SignedPlanError.badSignature) {
                try planB.open(controllerKey: Ed25519Identity.generate().publicKey, expectedNode: "b1")
            }
            #expect(throws: SignedPlanError.self) {
                try planB.open(controllerKey: h.key.publicKey, expectedNode: "a1")
            }
            let (ra, ta) = try await pollA
            #expect(ra.status == .noContent && ta >= .milliseconds(1900), "a1 answered \(ra.status) after \(ta)")

            // Now net-a changes while a1 waits: answered with the new plan.
            async let again = poll(a, "a1", after: revA, wait: 20)
            try await Task.sleep(for: .milliseconds(300))
            try h.controller.addWorkload(name: "wa2", network: "net-a", node: "a1")
            let (r2, t2) = try await again
            #expect(r2.status == .ok && t2 < .seconds(10), "a1 waited \(t2)")
            let plan = try JSONDecoder().decode(SignedPlan.self, from: Data(r2.bytes))
            let opened = try plan.open(controllerKey: h.key.publicKey, expectedNode: "a1")
            #expect(opened.networks.first?.workloads.map(\.name).sorted() == ["wa", "wa2"])

            // A node that leaves a network is woken too (its plan loses the network).
            let revNow = try #require(try h.controller.planRevision(node: "a1"))
            async let leave = poll(a, "a1", after: revNow, wait: 20)
            try await Task.sleep(for: .milliseconds(300))
            try h.controller.removeWorkload(name: "wa")
            try h.controller.removeWorkload(name: "wa2")
            let (r3, _) = try await leave
            #expect(r3.status == .ok)
            #expect(h.server.longPollsInFlight == 0)
        }
    }

    static let peerKey = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="

    /// A report as JSON text, one field changed.
    static func report(
        network: String = "shop", interface: String = "wg-1", key: String = peerKey, age: Int = 1,
        errors: [String] = []
    ) -> String {
        let errorList = errors.map { "\"\($0)\"" }.joined(separator: ",")
        return
            #"{"appliedRevision":1,"networks":[{"network":"\#(network)","interface":"\#(interface)","peers":[{"publicKey":"\#(key)","handshakeAge":\#(age),"rxBytes":1,"txBytes":2}]}],"errors":[\#(errorList)],"wireguard":"kernel"}"#
    }

    @Test("status reports: stored per node, shown by node show; bad reports refused and change nothing")
    func status() async throws {
        let h = try Harness()
        let id = try h.joinedNode("n1")
        let report = AgentStatus(
            appliedRevision: 3,
            networks: [
                .init(
                    network: "shop", interface: "wg-1",
                    peers: [.init(publicKey: Self.peerKey, handshakeAge: 12, rxBytes: 10, txBytes: 20)])
            ],
            errors: ["route add failed"], wireguard: "kernel")
        let body = Array(try JSONEncoder().encode(report))
        try await h.test { client in
            func post(_ b: [UInt8]) async throws -> TestResponse {
                try await client.execute(
                    uri: AgentPaths.status, method: .post,
                    headers: signed(id, node: "n1", method: "POST", uri: AgentPaths.status, body: b), body: buffer(b))
            }
            let before = try h.store.dump()
            for (bad, message) in [
                (
                    #"{"appliedRevision":1,"networks":[],"errors":[],"wireguard":"kernel","extra":1}"#,
                    "unknown field 'extra'"
                ),
                (
                    #"{"appliedRevision":1,"networks":[{"network":"a","interface":"b","peers":[{"publicKey":"k","rxBytes":1,"txBytes":2,"x":0}]}],"errors":[],"wireguard":"kernel"}"#,
                    "unknown field 'networks[0].peers[0].x'"
                ),
                (
                    #"{"appliedRevision":"1","networks":[],"errors":[],"wireguard":"kernel"}"#,
                    "field 'appliedRevision' must be an integer"
                ),
                // An optional field is left out, never null (as the agent sends it).
                (
                    #"{"appliedRevision":null,"networks":[],"errors":[],"wireguard":"kernel"}"#,
                    "field 'appliedRevision' is null"
                ),
                (
                    #"{"networks":[{"network":"a","interface":"b","peers":[{"publicKey":"k","handshakeAge":null,"rxBytes":1,"txBytes":2}]}],"errors":[],"wireguard":"kernel"}"#,
                    "field 'networks[0].peers[0].handshakeAge' is null"
                ),
                (#"{"appliedRevision":1,"networks":[],"errors":[],"wireguard":"magic"}"#, "invalid wireguard 'magic'"),
                // What reaches an operator's terminal is checked: names, interfaces, keys.
                (
                    Self.report(network: "shop\\u001b[2J"),
                    "invalid networks[].network 'shop\u{1b}[2J'"
                ),
                (Self.report(interface: "wg-1\\nerrors: -"), "invalid networks[].interface"),
                (Self.report(key: "\\u001b]0;owned\\u0007"), "invalid networks[].peers[].publicKey"),
                (Self.report(age: -5), "invalid networks[].peers[].handshakeAge '-5'"),
                // Bounded: at most 32 errors of at most 4,096 characters.
                (
                    Self.report(errors: Array(repeating: "e", count: 33)),
                    "invalid errors '33 entries': at most 32"
                ),
                (
                    Self.report(errors: [String(repeating: "x", count: 900_000)]),
                    "at most 4096 characters each"
                ),
            ] {
                let r = try await post(Array(bad.utf8))
                #expect(r.status == .badRequest && r.error?.contains(message) == true, "\(r.text)")
            }
            // A body changed after signing is refused.
            let b2 = Array(body)
            let r0 = try await client.execute(
                uri: AgentPaths.status, method: .post,
                headers: signed(id, node: "n1", method: "POST", uri: AgentPaths.status, body: b2),
                body: buffer(b2 + [32]))
            #expect(r0.status == .unauthorized)
            #expect(try h.store.dump() == before)

            let r = try await post(body)
            #expect(r.status == .noContent, "\(r.text)")
            let m = try await client.execute(uri: "/metrics", method: .get)
            #expect(m.text.contains("overlay_agent_apply_errors_total 1"), "\(m.text)")
            #expect(m.text.contains("overlay_agents_with_errors 1"))
            #expect(m.text.contains("overlay_agents_connected 1"))
        }
        let shown = try h.controller.node(named: "n1").status
        #expect(shown?.status == report)
    }

    @Test(
        "relay failovers in status reports are counted in /metrics across agent restarts; negative counts and unknown paths refused"
    )
    func relayFailovers() async throws {
        let h = try Harness()
        let id = try h.joinedNode("n1")
        @Sendable func report(failovers: Int, lost: Int = 0, path: String = "detour") -> [UInt8] {
            let relays = AgentStatus.Relays(
                status: "without a", active: "b", failovers: failovers,
                hubs: [
                    .init(
                        name: "a", publicKey: Self.peerKey, inService: false, up: false, rttMilliseconds: nil,
                        probes: 9,
                        lostProbes: lost),
                    .init(
                        name: "b", publicKey: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", inService: true, up: true,
                        rttMilliseconds: 0.4, probes: 9,
                        lostProbes: 0, path: path),
                ])
            let status = AgentStatus(
                appliedRevision: 1, networks: [.init(network: "shop", interface: "wg-1", peers: [], relays: relays)],
                errors: [], wireguard: "userspace")
            return Array(try! JSONEncoder().encode(status))
        }
        try await h.test { client in
            func post(_ b: [UInt8]) async throws -> TestResponse {
                try await client.execute(
                    uri: AgentPaths.status, method: .post,
                    headers: signed(id, node: "n1", method: "POST", uri: AgentPaths.status, body: b), body: buffer(b))
            }
            func counted() async throws -> String {
                let m = try await client.execute(uri: "/metrics", method: .get)
                return m.text.split(separator: "\n").first { $0.hasPrefix("overlay_relay_failovers_total ") }.map(
                    String.init) ?? ""
            }
            let before = try h.store.dump()
            let bad = try await post(report(failovers: 1, lost: -1))
            #expect(bad.status == .badRequest && bad.error?.contains("-1 lost") == true, "\(bad.text)")
            #expect(try h.store.dump() == before)
            let badPath = try await post(report(failovers: 1, path: "sideways"))
            #expect(badPath.status == .badRequest && badPath.error?.contains("sideways") == true, "\(badPath.text)")
            #expect(try h.store.dump() == before)
            for (failovers, total) in [(2, 2), (2, 2), (3, 3), (1, 4)] {
                #expect(try await post(report(failovers: failovers)).status == .noContent)
                // The last one: the agent restarted and counts from 0 again.
                #expect(try await counted() == "overlay_relay_failovers_total \(total)")
            }
        }
        let relays = try h.controller.node(named: "n1").status?.status.networks.first?.relays
        #expect(relays?.active == "b" && relays?.hubs.map(\.path) == [nil, "detour"])
    }
}
