import Foundation
import OverlayStore
import Testing

/// The store engines every controller test runs on. PostgreSQL comes from OVERLAY_TEST_POSTGRES
/// (`make test` starts a throwaway server for it); without it those tests fail, unless
/// OVERLAY_SKIP_POSTGRES=1 leaves them out.
enum TestEngine: String, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static let all: [TestEngine] = {
        if ProcessInfo.processInfo.environment["OVERLAY_SKIP_POSTGRES"] == "1" {
            print("OVERLAY_SKIP_POSTGRES=1: the controller tests run on SQLite only")
            return [.sqlite]
        }
        return [.sqlite, .postgres]
    }()
}

/// A database of its own on the test server, dropped when released.
final class TestPostgres: Sendable {
    let location: PostgresLocation
    private let server: PostgresLocation

    init() throws {
        guard let url = ProcessInfo.processInfo.environment["OVERLAY_TEST_POSTGRES"], !url.isEmpty else {
            throw TestPostgresMissing()
        }
        server = try PostgresLocation(
            parsing: url, password: ProcessInfo.processInfo.environment["PGPASSWORD"])
        var l = server
        l.database = "overlay_t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        location = l
        try Store.createPostgresDatabase(l.database, server: server)
    }

    deinit {
        try? Store.dropPostgresDatabase(location.database, server: server)
    }
}

struct TestPostgresMissing: Error, CustomStringConvertible {
    var description: String {
        "OVERLAY_TEST_POSTGRES is not set: run the tests through `make test` (which starts a throwaway PostgreSQL), "
            + "or `netns-tests/lib/postgres.sh run swift test`, or set OVERLAY_SKIP_POSTGRES=1 to leave PostgreSQL out"
    }
}
