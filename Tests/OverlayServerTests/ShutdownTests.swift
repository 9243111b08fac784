import Foundation
import Logging
import OverlayCrypto
import OverlayHTTPClient
import OverlayProtocol
import ServiceLifecycle
import Testing

@Suite("overlayd service")
struct ShutdownTests {
    @Test("graceful shutdown answers pending long-polls with 204 at once and stops the server")
    func gracefulShutdown() async throws {
        let h = try Harness()
        let id = try h.joinedNode("n1")
        let revision = try #require(try h.controller.planRevision(node: "n1"))
        let port = PortBox()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = try h.server.application(host: "127.0.0.1", port: 0) { p in port.set(p) }
        let group = ServiceGroup(services: [app, h.server.longPollCloser], logger: logger)
        let serving = Task { try await group.run() }
        while port.get() == nil { try await Task.sleep(for: .milliseconds(20)) }
        let client = try ControllerClient(baseURL: "http://127.0.0.1:\(port.get()!)")

        let path = "\(AgentPaths.plan)?after=\(revision)&wait=60"
        let headers = AgentSignature.headers(identity: id, node: "n1", method: "GET", pathAndQuery: path, body: [])
        let start = ContinuousClock.now
        async let reply = client.send(method: "GET", pathAndQuery: path, headers: headers, timeout: .seconds(70))
        while h.server.longPollsInFlight < 1 { try await Task.sleep(for: .milliseconds(20)) }
        await group.triggerGracefulShutdown()
        let r = try await reply
        #expect(r.status == 204)
        try await serving.value
        #expect(ContinuousClock.now - start < .seconds(10), "shutdown waited for the long-poll")
        // Stopped: the port no longer answers.
        await #expect(throws: ControllerClientError.self) {
            _ = try await client.send(method: "GET", pathAndQuery: "/healthz", timeout: .seconds(2))
        }
        try await client.shutdown()
    }
}
