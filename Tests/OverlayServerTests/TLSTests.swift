import Crypto
import Foundation
import Logging
import OverlayCrypto
import OverlayHTTPClient
import OverlayModel
import OverlayProtocol
import OverlayServer
import ServiceLifecycle
import Testing

@Suite("overlayd over HTTPS")
struct TLSTests {
    /// A scratch directory with a certificate pair made as `overlayd serve` makes it.
    final class Files: @unchecked Sendable {
        let directory: URL
        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "overlay-tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        func certificate(_ name: String, names: [String] = ["127.0.0.1"]) throws -> ControllerCertificate {
            try ControllerCertificateFile.loadOrCreate(
                certificate: path(name + ".cert"), key: path(name + ".key"), names: names
            ).0
        }
    }

    static func mode(_ path: String) throws -> mode_t {
        var st = stat()
        guard stat(path, &st) == 0 else { throw CocoaError(.fileNoSuchFile) }
        return st.st_mode & 0o777
    }

    @Test("the self-signed certificate: ECDSA P-256 key in a 0600 file, SANs for the listen address and --tls-name")
    func selfSigned() throws {
        let files = try Files()
        let old = umask(0)
        defer { umask(old) }
        let names = ControllerCertificateFile.names(
            listenHost: "192.0.2.10", extra: ["ctl.example.net", "2001:db8::1"])
        let (cert, created) = try ControllerCertificateFile.loadOrCreate(
            certificate: files.path("db.tls-cert"), key: files.path("db.tls-key"), names: names)
        #expect(created)
        #expect(try Self.mode(cert.keyPath) == 0o600)
        #expect(try Self.mode(cert.certificatePath) == 0o644)
        let keyPEM = try String(contentsOfFile: cert.keyPath, encoding: .utf8)
        _ = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        #expect(try ControllerCertificateFile.names(pemFile: cert.certificatePath) == names)
        #expect(try ControllerCertificateFile.fingerprint(pemFile: cert.certificatePath) == cert.fingerprint)
        // The second start loads the same pair.
        let (again, createdAgain) = try ControllerCertificateFile.loadOrCreate(
            certificate: files.path("db.tls-cert"), key: files.path("db.tls-key"), names: names)
        #expect(!createdAgain)
        #expect(again.fingerprint == cert.fingerprint)
    }

    @Test("names: a wildcard listen address is left out; a bad --tls-name is refused")
    func names() throws {
        #expect(ControllerCertificateFile.names(listenHost: "0.0.0.0", extra: []) == ["localhost"])
        #expect(ControllerCertificateFile.names(listenHost: "::", extra: ["ctl.example.net"]) == ["ctl.example.net"])
        #expect(throws: ValidationError.self) { try ControllerCertificateFile.validateName("bad name!") }
        #expect(throws: ValidationError.self) { try ControllerCertificateFile.validateName("-x.example") }
        try ControllerCertificateFile.validateName("ctl-1.example.net")
        #expect(ControllerCertificateFile.isLoopback("127.0.0.1") && ControllerCertificateFile.isLoopback("::1"))
        #expect(!ControllerCertificateFile.isLoopback("192.0.2.1") && !ControllerCertificateFile.isLoopback("0.0.0.0"))
    }

    @Test("a key others can read is refused; so is a certificate without its key")
    func looseKey() throws {
        let files = try Files()
        let cert = try files.certificate("a")
        chmod(cert.keyPath, 0o644)
        #expect {
            try ControllerCertificateFile.load(certificate: cert.certificatePath, key: cert.keyPath)
        } throws: { "\($0)".contains("readable by others (mode 644)") }
        try FileManager.default.removeItem(atPath: cert.keyPath)
        #expect {
            try ControllerCertificateFile.loadOrCreate(
                certificate: cert.certificatePath, key: cert.keyPath, names: ["127.0.0.1"])
        } throws: { "\($0)".contains("exists but its key") }
    }

    /// Serves `server` over HTTPS with `certificate` on `port` (0: any) until the task is cancelled.
    static func serve(_ server: ControllerServer, _ certificate: ControllerCertificate?, port: Int = 0) async throws
        -> (port: Int, group: ServiceGroup, task: Task<Void, any Error>)
    {
        let box = PortBox()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = try server.application(host: "127.0.0.1", port: port, tls: certificate) { p in box.set(p) }
        let group = ServiceGroup(services: [app, server.longPollCloser], logger: logger)
        let task = Task { try await group.run() }
        while box.get() == nil { try await Task.sleep(for: .milliseconds(20)) }
        return (box.get()!, group, task)
    }

    /// `GET /healthz` through `client`: the status, or the error (never thrown, so every client
    /// is shut down whatever the test finds).
    static func healthz(_ client: ControllerClient) async -> Result<Int, any Error> {
        do {
            return .success(try await client.send(method: "GET", pathAndQuery: "/healthz", timeout: .seconds(5)).status)
        } catch {
            return .failure(error)
        }
    }

    static func status(_ r: Result<Int, any Error>) -> Int? { try? r.get() }
    static func message(_ r: Result<Int, any Error>) -> String {
        switch r {
        case .success(let s): "HTTP \(s)"
        case .failure(let e): "\(e)"
        }
    }

    @Test("a pinned client is served; a wrong pin is refused naming both fingerprints; --ca works; plain HTTP does not")
    func pinning() async throws {
        let h = try Harness()
        let files = try Files()
        let cert = try files.certificate("a")
        let (port, group, task) = try await Self.serve(h.server, cert)
        let url = "https://127.0.0.1:\(port)"
        let wrong = CertificateFingerprint(bytes: Array(repeating: 7, count: 32))
        let clients = [
            try ControllerClient(baseURL: url, trust: .pinned([cert.fingerprint])),
            try ControllerClient(baseURL: url, trust: .pinned([wrong])),
            try ControllerClient(baseURL: url, trust: .authority(path: cert.certificatePath)),
            try ControllerClient(baseURL: url),
            try ControllerClient(baseURL: "http://127.0.0.1:\(port)"),
        ]
        var results: [Result<Int, any Error>] = []
        for c in clients { results.append(await Self.healthz(c)) }
        for c in clients { try await c.shutdown() }
        await group.triggerGracefulShutdown()
        try await task.value

        #expect(Self.status(results[0]) == 200, "pinned: \(Self.message(results[0]))")
        let refusal = Self.message(results[1])
        #expect(
            refusal.contains("presents a certificate with fingerprint \(cert.fingerprint)")
                && refusal.contains("expected \(wrong)"), "wrong pin: \(refusal)")
        #expect(Self.status(results[2]) == 200, "--ca: \(Self.message(results[2]))")
        // The system's authorities do not know a self-signed certificate.
        #expect(Self.status(results[3]) == nil, "system trust: \(Self.message(results[3]))")
        #expect(Self.status(results[4]) == nil, "plain HTTP: \(Self.message(results[4]))")
    }

    @Test("join tokens carry the served and announced fingerprints; a long-poll lacking one is answered at once")
    func announcement() async throws {
        let h = try Harness()
        let files = try Files()
        let current = try files.certificate("a")
        let next = try files.certificate("b")
        let server = ControllerServer(
            store: h.store, signingKey: h.key, logger: Logger(label: "test"),
            tlsFingerprints: [current.fingerprint, next.fingerprint])
        let id = try h.joinedNode("n1")
        let revision = try #require(try h.controller.planRevision(node: "n1"))
        let (port, group, task) = try await Self.serve(server, current)
        let client = try ControllerClient(
            baseURL: "https://127.0.0.1:\(port)", trust: .pinned([current.fingerprint]))

        // Whatever fails, the client and the server are shut down.
        var failure: (any Error)?
        do {
            let reply = try await client.send(
                method: "POST", pathAndQuery: "/v1/nodes/n1/join-tokens",
                headers: ["Authorization": "Bearer \(h.token)"], body: Array("{}".utf8))
            #expect(reply.status == 201)
            let view = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
            let token = try JoinToken(parsing: try #require(view?["token"] as? String))
            #expect(token.fingerprints == [current.fingerprint, next.fingerprint])

            let path = "\(AgentPaths.plan)?after=\(revision)&wait=30"
            func poll(pins: [CertificateFingerprint]) async throws -> (ControllerClient.Reply, Duration) {
                var headers = AgentSignature.headers(
                    identity: id, node: "n1", method: "GET", pathAndQuery: path, body: [])
                headers[AgentPaths.pinsHeader] = pins.map(\.description).joined(separator: ",")
                let start = ContinuousClock.now
                let r = try await client.send(
                    method: "GET", pathAndQuery: path, headers: headers, timeout: .seconds(40))
                return (r, ContinuousClock.now - start)
            }
            let (answer, took) = try await poll(pins: [current.fingerprint])
            #expect(answer.status == 200)
            #expect(took < .seconds(5))
            let signed = try JSONDecoder().decode(SignedPlan.self, from: Data(answer.body))
            #expect(
                try signed.announcedCertificates(controllerKey: h.key.publicKey, expectedNode: "n1") == [
                    current.fingerprint, next.fingerprint,
                ])
            #expect(signed.revision == revision)
        } catch { failure = error }
        await group.triggerGracefulShutdown()
        try await task.value
        try await client.shutdown()
        if let failure { throw failure }
    }

    @Test("rotation: a client that pinned the announced certificate follows the switch; one that did not refuses it")
    func rotation() async throws {
        let h = try Harness()
        let files = try Files()
        let current = try files.certificate("a")
        let next = try files.certificate("b")
        let (port, group, task) = try await Self.serve(h.server, current)
        let url = "https://127.0.0.1:\(port)"
        let follower = try ControllerClient(baseURL: url, trust: .pinned([current.fingerprint]))
        let stayer = try ControllerClient(baseURL: url, trust: .pinned([current.fingerprint]))
        let before = [await Self.healthz(follower), await Self.healthz(stayer)]
        follower.pin([next.fingerprint])
        let pins = follower.pins
        await group.triggerGracefulShutdown()
        try await task.value
        let second = try? await Self.serve(h.server, next, port: port)
        let after = [await Self.healthz(follower), await Self.healthz(stayer)]
        try await follower.shutdown()
        try await stayer.shutdown()
        if let second {
            await second.group.triggerGracefulShutdown()
            try await second.task.value
        }

        #expect(before.map(Self.status) == [200, 200], "\(before.map(Self.message))")
        #expect(pins == [current.fingerprint, next.fingerprint])
        #expect(second != nil, "the port was taken before the restart")
        #expect(Self.status(after[0]) == 200, "follower: \(Self.message(after[0]))")
        #expect(
            Self.message(after[1]).contains("presents a certificate with fingerprint \(next.fingerprint)"),
            "stayer: \(Self.message(after[1]))")
    }
}
