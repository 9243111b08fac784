import ArgumentParser
import Foundation
import Logging
import OverlayController
import OverlayServer
import OverlayStore
import ServiceLifecycle

@main
struct Overlayd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlayd",
        abstract: "The overlay controller: serves the desired state to agents and admins over HTTP.",
        subcommands: [Serve.self, TokenCommand.self, Migrate.self])
}

/// `--db` and where its password comes from: a SQLite file, or a PostgreSQL database that several
/// replicas share (password from PGPASSWORD or a 0600 file, never the command line).
struct DatabaseOptions: ParsableArguments {
    @Option(
        help: """
            SQLite database file (WAL mode; created when missing), or postgres://USER@HOST:PORT/DB (password \
            from PGPASSWORD or --db-password-file).
            """)
    var db: String
    @Option(help: "A file (mode 0600) whose first line is the PostgreSQL password.") var dbPasswordFile: String?

    var location: StoreLocation {
        get throws { try Self.location(db, passwordFile: dbPasswordFile) }
    }

    static func location(_ text: String, passwordFile: String?) throws -> StoreLocation {
        var password = ProcessInfo.processInfo.environment["PGPASSWORD"]
        if let passwordFile { password = try PostgresLocation.password(file: passwordFile) }
        let location = try StoreLocation(parsing: text, password: password)
        if case .sqlite = location, passwordFile != nil {
            throw ValidationError("--db-password-file is for a postgres:// database; '\(text)' is a SQLite file")
        }
        return location
    }

    func open() throws -> Store { try Store(location) }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the admin API, the agent API and /metrics until SIGTERM or SIGINT.")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "ADDR:PORT to listen on, e.g. 127.0.0.1:8470 or [::]:8470.") var listen: String
    @Option(
        help: """
            The controller's Ed25519 signing key (0600; created when missing). Default: DB.controller-key for a \
            SQLite DB; required for PostgreSQL (every replica uses the same file).
            """)
    var key: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"
    @Option(help: "Connections one source address may hold open (1 to 1000000).")
    var connectionsPerSource: Int = ConnectionLimitConfiguration().perSource
    @Option(help: "Connections held open in all (1 to 1000000).")
    var maxConnections: Int = ConnectionLimitConfiguration().total

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError(
                "invalid --log-level '\(logLevel)': trace, debug, info, notice, warning, error or critical")
        }
        let (host, port) = try ListenAddress.parse(listen)
        for (name, value) in [
            ("--connections-per-source", connectionsPerSource), ("--max-connections", maxConnections),
        ]
        where !(1...1_000_000).contains(value) {
            throw ValidationError("invalid \(name) '\(value)': 1 to 1000000")
        }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = {
            var l = Logger(label: "overlayd")
            l.logLevel = level
            return l
        }()
        let location = try database.location
        let keyPath: String
        switch (key, location) {
        case (let k?, _): keyPath = k
        case (nil, .sqlite(let path)): keyPath = path + ".controller-key"
        case (nil, .postgres):
            throw ValidationError(
                "--key is required with a postgres:// database: every replica signs with the same key file")
        }
        let (signingKey, created) = try ControllerKeyFile.loadOrCreate(path: keyPath)
        if created { logger.notice("created the controller signing key", metadata: ["path": "\(keyPath)"]) }
        let server = ControllerServer(store: try Store(location), signingKey: signingKey, logger: logger)
        let limits = ConnectionLimitConfiguration(perSource: connectionsPerSource, total: maxConnections)
        let app = server.application(host: host, port: port, limits: limits) { bound in
            logger.notice(
                "overlayd listening",
                metadata: [
                    "address": "\(host):\(bound)", "db": "\(location)", "controllerKey": "\(server.publicKeyBase64)",
                ])
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app), .init(service: server.longPollCloser)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.notice("overlayd stopped")
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Admin bearer tokens (stored only as hashes).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an admin token and print it once.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "A name for the token (DNS label), to revoke it later.") var name: String?
        @Option(
            help:
                "The tenant the token acts for (DNS label): it owns the networks it creates and sees nothing of other tenants'. Without it: the operator, who sees and changes everything."
        )
        var tenant: String?

        func run() async throws {
            try report {
                let (_, token) = try Controller(store: try database.open()).createAdminToken(name: name, tenant: tenant)
                print(token)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List admin tokens: name, whom each acts for, when made (never the tokens).")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try report {
                let rows = try Controller(store: try database.open()).adminTokens()
                let width = max(4, rows.map(\.name.count).max() ?? 0)
                print("NAME".padding(toLength: width, withPad: " ", startingAt: 0) + "  ACTS FOR          CREATED")
                for t in rows {
                    let who = t.tenant.map { "tenant \($0)" } ?? "operator"
                    print(
                        t.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                            + who.padding(toLength: max(16, who.count), withPad: " ", startingAt: 0) + "  "
                            + Controller.isoTime(t.createdAt))
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an admin token by name.")
        @OptionGroup var database: DatabaseOptions
        @Argument var name: String

        func run() async throws {
            try report {
                try Controller(store: try database.open()).revokeAdminToken(name: name)
                print("admin token \(name) revoked")
            }
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a controller's whole state from a SQLite file into an empty PostgreSQL database.")
    @Option(help: "The SQLite database file to copy from (left unchanged).") var from: String
    @Option(help: "postgres://USER@HOST:PORT/DB to copy into (password from PGPASSWORD or --db-password-file).")
    var to: String
    @Option(help: "A file (mode 0600) whose first line is the PostgreSQL password.") var dbPasswordFile: String?

    func run() async throws {
        guard case .postgres = try StoreLocation(parsing: to) else {
            throw ValidationError("invalid --to '\(to)': expected postgres://USER@HOST:PORT/DB")
        }
        guard FileManager.default.fileExists(atPath: from) else {
            throw ValidationError("invalid --from '\(from)': no such SQLite file")
        }
        let target = try DatabaseOptions.location(to, passwordFile: dbPasswordFile)
        try report {
            let source = try Store(path: from)
            let revision = try source.read { try $0.revision() }
            try source.copy(to: try Store(target))
            print("copied \(from) (revision \(revision)) into \(target)")
        }
    }
}

/// Domain errors as one line on stderr and exit status 1.
func report(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ValidationError { throw e } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
