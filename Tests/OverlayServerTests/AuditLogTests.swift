import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// Keeps every log record it is given, for reading back in a test.
final class CapturedLog: Sendable {
    struct Record: Sendable {
        var message: String
        var metadata: [String: String]
    }

    private let records = Mutex<[Record]>([])

    var all: [Record] { records.withLock { $0 } }

    func logger() -> Logger {
        Logger(label: "captured") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(
            level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String,
            file: String, function: String, line: UInt
        ) {
            var all = metadata
            for (k, v) in extra ?? [:] { all[k] = v }
            let record = Record(message: "\(message)", metadata: all.mapValues { "\($0)" })
            sink.records.withLock { $0.append(record) }
        }
    }
}

@Suite("the admin audit log")
struct AuditLogTests {
    @Test("every admin change, refused ones too, names the token and its tenant")
    func auditLines() async throws {
        let f = try TenantFixture()
        let captured = CapturedLog()
        try await Application(router: f.h.server.router(), logger: captured.logger()).test(.router) { client in
            let made = try await client.execute(
                uri: "/v1/networks", method: .post, headers: f.headers(f.owner), body: buffer(#"{"name": "new"}"#))
            #expect(made.status == .created)
            let refused = try await client.execute(
                uri: "/v1/networks/acme-net", method: .delete, headers: f.headers(f.other))
            #expect(refused.status == .notFound)
            let forbidden = try await client.execute(
                uri: "/v1/nodes/n3", method: .delete, headers: f.headers(f.owner))
            #expect(forbidden.status == .forbidden)
            let byOperator = try await client.execute(
                uri: "/v1/networks/ops", method: .delete, headers: f.headers(f.h.token))
            #expect(byOperator.status == .ok)
            _ = try await client.execute(uri: "/v1/networks", method: .get, headers: f.headers(f.owner))
        }
        let lines = captured.all.filter { $0.message == "admin change" }.map(\.metadata)
        let summary = lines.map { [$0["token"], $0["role"], $0["tenant"], $0["method"], $0["path"], $0["status"]] }
        #expect(
            summary == [
                ["acme-ci", "tenant", "acme", "POST", "/v1/networks", "201"],
                ["globex-ci", "tenant", "globex", "DELETE", "/v1/networks/acme-net", "404"],
                ["acme-ci", "tenant", "acme", "DELETE", "/v1/nodes/n3", "403"],
                [f.h.tokenName, "operator", "-", "DELETE", "/v1/networks/ops", "200"],
            ], "\(lines)")
    }
}
