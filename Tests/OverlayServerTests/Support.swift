import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OverlayController
import OverlayCrypto
import OverlayProtocol
import OverlayServer
import OverlayStore
import Testing

/// A controller service on a fresh database in its own temporary directory (removed afterwards),
/// with one admin token.
final class Harness: @unchecked Sendable {
    let directory: URL
    let store: Store
    let key: Ed25519Identity
    let server: ControllerServer
    let token: String
    /// The admin token's name: unique, since replicas' harnesses share one database.
    let tokenName = "test-" + SecureRandom.hex(4)
    var controller: Controller { server.controller }

    /// A service on `store` (default: a new SQLite file), signing with `key` (replicas share one).
    init(store: Store? = nil, key: Ed25519Identity = .generate()) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("overlay-server-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.key = key
        self.store = try store ?? Store(path: directory.appendingPathComponent("state.db").path)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        server = ControllerServer(store: self.store, signingKey: key, logger: logger)
        token = try server.controller.createAdminToken(name: tokenName).token
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var dbPath: String { directory.appendingPathComponent("state.db").path }

    func test<T: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        return try await Application(router: server.router(), logger: quiet).test(.router, body)
    }

    var admin: HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

    private var nodes = 0

    /// A public node that joined: its identity is registered.
    func joinedNode(_ name: String) throws -> Ed25519Identity {
        let id = Ed25519Identity.generate()
        nodes += 1
        try controller.addNode(.init(name: name, identity: id.publicKeyBase64, publicAddresses: ["192.0.2.\(nodes)"]))
        return id
    }
}

/// The four signature headers of an agent request.
func signed(
    _ identity: Ed25519Identity, node: String, method: String, uri: String, body: [UInt8] = [],
    time: Int64 = Int64(Date().timeIntervalSince1970), nonce: String = SecureRandom.hex(16)
) -> HTTPFields {
    var f = HTTPFields()
    for (k, v) in AgentSignature.headers(
        identity: identity, node: node, method: method, pathAndQuery: uri, body: body, time: time, nonce: nonce)
    {
        f[HTTPField.Name(k)!] = v
    }
    f[.contentType] = "application/json"
    return f
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var bytes: [UInt8] { Array(buffer: body) }
    /// The `error` of a JSON error answer.
    var error: String? {
        (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])?["error"] as? String
    }
}

func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }
func buffer(_ b: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: b) }
