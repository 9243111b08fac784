import Foundation
import SystemCalls

/// Where the store lives: a SQLite file (the default), or a PostgreSQL database shared by several
/// controller replicas.
public enum StoreLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// `postgres://USER@HOST:PORT/DB` (or `postgresql://`), anything else a SQLite path. A password
    /// in the URL is refused: command lines are visible to every local user.
    public init(parsing text: String, password: String? = nil) throws(StoreLocationError) {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(try PostgresLocation(parsing: text, password: password))
        } else {
            guard !text.isEmpty else { throw .init(text, "a SQLite file path or postgres://USER@HOST:PORT/DB") }
            self = .sqlite(path: text)
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let p): p.description
        }
    }
}

/// A PostgreSQL database: server, user, database name, and the password (never in the URL).
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var password: String?

    public init(user: String, host: String, port: Int = 5432, database: String, password: String? = nil) {
        self.user = user
        self.host = host
        self.port = port
        self.database = database
        self.password = password
    }

    public init(parsing text: String, password: String? = nil) throws(StoreLocationError) {
        let expected = "postgres://USER@HOST:PORT/DB (the password from PGPASSWORD or --db-password-file)"
        guard let scheme = text.range(of: "://") else { throw .init(text, expected) }
        let rest = text[scheme.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { throw .init(text, expected) }
        let userPart = rest[..<at]
        if userPart.contains(":") {
            throw .init(
                "postgres://\(userPart.split(separator: ":")[0]):***@...",
                "no password in the URL: it would show in the process list; use PGPASSWORD or --db-password-file")
        }
        let hostPart = rest[rest.index(after: at)...]
        guard let slash = hostPart.firstIndex(of: "/") else { throw .init(text, expected) }
        let database = String(hostPart[hostPart.index(after: slash)...])
        var hostPort = String(hostPart[..<slash])
        var port = 5432
        // A bracketed IPv6 address may hold colons of its own.
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
            guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else {
                throw .init(text, "a port 1-65535 in " + expected)
            }
            port = p
            hostPort = String(hostPort[..<colon])
        }
        if hostPort.hasPrefix("["), hostPort.hasSuffix("]") { hostPort = String(hostPort.dropFirst().dropLast()) }
        let valid = { (s: String) in
            !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "-_.:".contains($0) } && s.isASCII
        }
        guard valid(String(userPart)), valid(hostPort), valid(database) else { throw .init(text, expected) }
        self.init(user: String(userPart), host: hostPort, port: port, database: database, password: password)
    }

    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(h):\(port)/\(database)"
    }

    /// Reads the password from a file that only its owner may read (its first line).
    public static func password(file path: String) throws(StoreLocationError) -> String {
        var st = stat()
        do throws(SystemCallError) { try systemCall("stat", path) { stat(path, &st) } } catch {
            throw .init(path, "a readable password file (\(error))", subject: .passwordFile)
        }
        guard st.st_mode & 0o077 == 0 else {
            throw .init(
                path,
                "a password file only its owner may read (mode is \(String(st.st_mode & 0o7777, radix: 8))): "
                    + "chmod 600 \(path)",
                subject: .passwordFile)
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .init(path, "a readable UTF-8 password file", subject: .passwordFile)
        }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard !line.isEmpty else {
            throw .init(path, "a password file holding the password on its first line", subject: .passwordFile)
        }
        return line
    }
}

/// A `--db` value or password file the store cannot use.
public struct StoreLocationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong: the `--db` value itself, or the password file it names.
    public enum Subject: Equatable, Sendable { case database, passwordFile }
    public var value: String
    public var expected: String
    public var subject: Subject

    init(_ value: String, _ expected: String, subject: Subject = .database) {
        self.value = value
        self.expected = expected
        self.subject = subject
    }

    public var description: String {
        "invalid \(subject == .database ? "database" : "password file") '\(value)': expected \(expected)"
    }
}

extension StringProtocol {
    fileprivate var isASCII: Bool { utf8.allSatisfy { $0 < 0x80 } }
}
