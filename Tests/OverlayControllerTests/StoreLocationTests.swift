import Foundation
import OverlayStore
import Testing

@Suite struct StoreLocationTests {
    @Test func aPlainPathIsSQLite() throws {
        #expect(
            try StoreLocation(parsing: "/var/lib/overlay/overlay.db") == .sqlite(path: "/var/lib/overlay/overlay.db"))
        #expect(try StoreLocation(parsing: "overlay.db") == .sqlite(path: "overlay.db"))
    }

    @Test func aPostgresURLNamesUserHostPortAndDatabase() throws {
        let location = try StoreLocation(parsing: "postgres://overlay@db.example:6543/ctl", password: "pw")
        #expect(
            location
                == .postgres(
                    PostgresLocation(user: "overlay", host: "db.example", port: 6543, database: "ctl", password: "pw")))
        #expect(location.description == "postgres://overlay@db.example:6543/ctl")
    }

    @Test func theDefaultPortAndBracketedIPv6() throws {
        #expect(try PostgresLocation(parsing: "postgresql://u@10.0.0.1/d").port == 5432)
        let v6 = try PostgresLocation(parsing: "postgres://u@[fd00::5]:5433/d")
        #expect(v6.host == "fd00::5" && v6.port == 5433)
        // The description brackets it again, so it parses back to the same place.
        #expect(try PostgresLocation(parsing: v6.description) == v6)
    }

    @Test func aPasswordInTheURLIsRefusedWithoutEchoingIt() {
        #expect {
            try StoreLocation(parsing: "postgres://overlay:hunter2@db/ctl")
        } throws: { error in
            let text = "\(error)"
            return !text.contains("hunter2") && text.contains("PGPASSWORD") && text.contains("--db-password-file")
        }
    }

    @Test(arguments: [
        "", "postgres://db/ctl", "postgres://u@db", "postgres://u@db:0/ctl", "postgres://u@db:70000/ctl",
        "postgres://u@db:x/ctl", "postgres://u@db/", "postgres://u@d b/ctl", "postgres://ü@db/ctl",
    ])
    func malformedValuesAreRefusedByName(value: String) {
        #expect {
            try StoreLocation(parsing: value)
        } throws: { error in
            guard let error = error as? StoreLocationError else { return false }
            return error.subject == .database && "\(error)".contains("expected")
        }
    }

    @Test func thePasswordFileIsItsFirstLineAndOnlyItsOwnersToRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-location-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("pg-password").path
        try "s3cret\nignored\n".write(toFile: file, atomically: true, encoding: .utf8)

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        #expect {
            try PostgresLocation.password(file: file)
        } throws: { error in
            guard let error = error as? StoreLocationError else { return false }
            let text = "\(error)"
            return error.subject == .passwordFile && text.hasPrefix("invalid password file '\(file)'")
                && text.contains("mode is 644") && text.contains("chmod 600")
        }

        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        #expect(try PostgresLocation.password(file: file) == "s3cret")

        try "\n".write(toFile: file, atomically: false, encoding: .utf8)
        #expect(throws: StoreLocationError.self) { try PostgresLocation.password(file: file) }
        #expect {
            try PostgresLocation.password(file: dir.appendingPathComponent("absent").path)
        } throws: { error in (error as? StoreLocationError)?.subject == .passwordFile }
    }
}
