import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import OverlayProtocol
import OverlayServer
import OverlayStore
import Testing

/// A signed status report replayed after the controller restarted is refused: the nonces are
/// kept in the store, and should they be gone, the kept report's signed time and nonce bound it.
@Suite struct ReplayAfterRestartTests {
    @Test func anOldReportReplayedAfterARestartDoesNotOverwriteTheCurrentOne() async throws {
        let h = try Harness()
        let id = try h.joinedNode("n1")
        let now = Int64(Date().timeIntervalSince1970)
        @Sendable func report(_ revision: Int64) -> [UInt8] {
            Array(
                try! JSONEncoder().encode(
                    AgentStatus(appliedRevision: revision, networks: [], errors: [], wireguard: "kernel")))
        }
        // Each body encoded once: the signature covers these exact bytes.
        let (oldBody, currentBody) = (report(1), report(2))
        let old = (
            body: oldBody,
            headers: signed(id, node: "n1", method: "POST", uri: AgentPaths.status, body: oldBody, time: now - 5)
        )
        let current = (
            body: currentBody,
            headers: signed(id, node: "n1", method: "POST", uri: AgentPaths.status, body: currentBody, time: now)
        )
        try await h.test { client in
            for r in [old, current] {
                let answer = try await client.execute(
                    uri: AgentPaths.status, method: .post, headers: r.headers, body: buffer(r.body))
                #expect(answer.status == .noContent, "\(answer.text)")
            }
        }
        #expect(try h.controller.node(named: "n1").status?.status.appliedRevision == 2)

        // The same database, a new controller process: the nonces are still known.
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        let restarted = ControllerServer(store: h.store, signingKey: h.key, logger: quiet)
        try await Application(router: restarted.router(), logger: quiet).test(.router) { client in
            for r in [old, current] {
                let answer = try await client.execute(
                    uri: AgentPaths.status, method: .post, headers: r.headers, body: buffer(r.body))
                #expect(answer.status == .unauthorized, "\(answer.text)")
                #expect(answer.error?.contains("already seen (replay)") == true, "\(answer.text)")
            }
            // Nonces forgotten (as if expired): the kept report still refuses them.
            try h.store.pruneNonces(before: .max)
            for r in [old, current] {
                let answer = try await client.execute(
                    uri: AgentPaths.status, method: .post, headers: r.headers, body: buffer(r.body))
                #expect(answer.status == .unauthorized, "\(answer.text)")
                #expect(answer.error?.contains("is not newer than the one kept") == true, "\(answer.text)")
            }
            // A new report from the agent is taken as usual.
            let next = report(3)
            let answer = try await client.execute(
                uri: AgentPaths.status, method: .post,
                headers: signed(id, node: "n1", method: "POST", uri: AgentPaths.status, body: next), body: buffer(next))
            #expect(answer.status == .noContent, "\(answer.text)")
        }
        #expect(try h.controller.node(named: "n1").status?.status.appliedRevision == 3)
    }
}
