import ArgumentParser
import Foundation
import Logging
import OverlayController
import OverlayModel
import OverlayServer
import OverlayStore
import ServiceLifecycle

typealias ValidationError = ArgumentParser.ValidationError

@main
struct Overlayd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overlayd",
        abstract: "The overlay controller: serves the desired state to agents and admins over HTTPS.",
        subcommands: [Serve.self, TokenCommand.self, TLSCommand.self, Migrate.self])
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
    @Option(
        help: "PEM certificate chain to serve HTTPS with (with --tls-key). Default: DB.tls-cert, made on first start.")
    var tlsCert: String?
    @Option(help: "The PEM private key of --tls-cert (0600). Default: DB.tls-key.") var tlsKey: String?
    @Option(
        help: "A DNS name or IP address the self-signed certificate covers besides the listen address (repeatable).")
    var tlsName: [String] = []
    @Option(
        help:
            "The next certificate (PEM), announced to agents before it is served. Default: DB.tls-next-cert if present."
    )
    var tlsNextCert: String?
    @Flag(help: "Serve plain HTTP instead of HTTPS: loopback listen addresses only, for demos and tests.")
    var plainHttp = false
    @Option(help: "Failed authentications one source address may make in a row before it gets 429 (1 to 1000000).")
    var authFailureBurst: Int = 20

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError(
                "invalid --log-level '\(logLevel)': trace, debug, info, notice, warning, error or critical")
        }
        let (host, port) = try ListenAddress.parse(listen)
        for (name, value) in [
            ("--connections-per-source", connectionsPerSource), ("--max-connections", maxConnections),
            ("--auth-failure-burst", authFailureBurst),
        ]
        where !(1...1_000_000).contains(value) {
            throw ValidationError("invalid \(name) '\(value)': 1 to 1000000")
        }
        let tls = try tlsSetup(host: host)
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
        var certificate: ControllerCertificate?
        var pins: [CertificateFingerprint] = []
        if let tls {
            let (loaded, created) = try reportingTLS { try tls.load() }
            if created {
                logger.notice(
                    "created a self-signed TLS certificate",
                    metadata: ["path": "\(loaded.certificatePath)", "fingerprint": "\(loaded.fingerprint)"])
            }
            certificate = loaded
            pins = [loaded.fingerprint]
            if let next = tls.next {
                let f = try reportingTLS { try ControllerCertificateFile.fingerprint(pemFile: next) }
                if f != loaded.fingerprint { pins.append(f) }
                logger.notice(
                    "announcing the next TLS certificate", metadata: ["path": "\(next)", "fingerprint": "\(f)"])
            }
        }
        let server = ControllerServer(
            store: try Store(location), signingKey: signingKey, logger: logger,
            authFailures: (authFailureBurst, 0.2), tlsFingerprints: pins)
        let limits = ConnectionLimitConfiguration(perSource: connectionsPerSource, total: maxConnections)
        let scheme = certificate == nil ? "http" : "https"
        let fingerprint = certificate?.fingerprint
        let app = try server.application(host: host, port: port, limits: limits, tls: certificate) { bound in
            var metadata: Logger.Metadata = [
                "address": "\(host):\(bound)",
                "url": "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(bound)", "db": "\(location)",
                "controllerKey": "\(server.publicKeyBase64)",
            ]
            if let fingerprint { metadata["fingerprint"] = "\(fingerprint)" }
            logger.notice("overlayd listening", metadata: metadata)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app), .init(service: server.longPollCloser)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.notice("overlayd stopped")
    }
}

extension Serve {
    /// Which certificate to serve and which to announce; nil for `--plain-http`.
    struct TLSFiles {
        var certificate: String
        var key: String
        /// Made when missing (the default pair beside the database).
        var names: [String]?
        var next: String?

        func load() throws -> (ControllerCertificate, created: Bool) {
            guard let names else {
                return (try ControllerCertificateFile.load(certificate: certificate, key: key), false)
            }
            return try ControllerCertificateFile.loadOrCreate(certificate: certificate, key: key, names: names)
        }
    }

    func tlsSetup(host: String) throws -> TLSFiles? {
        if plainHttp {
            guard tlsCert == nil, tlsKey == nil, tlsNextCert == nil, tlsName.isEmpty else {
                throw ValidationError(
                    "--plain-http cannot be combined with --tls-cert, --tls-key, --tls-name or --tls-next-cert")
            }
            guard ControllerCertificateFile.isLoopback(host) else {
                throw ValidationError(
                    "--plain-http serves loopback only, not '\(host)': listen on 127.0.0.1 or [::1], or drop --plain-http to serve HTTPS"
                )
            }
            return nil
        }
        for name in tlsName { try ControllerCertificateFile.validateName(name) }
        switch (tlsCert, tlsKey) {
        case (let cert?, let key?):
            guard tlsName.isEmpty else {
                throw ValidationError("--tls-name names what a self-signed certificate covers: not with --tls-cert")
            }
            return TLSFiles(certificate: cert, key: key, names: nil, next: tlsNextCert)
        case (nil, nil):
            // Replicas on one PostgreSQL database must present one certificate: the operator's.
            guard case .sqlite(let db) = try database.location else {
                throw ValidationError(
                    "--tls-cert and --tls-key are required with a postgres:// database: every replica serves the same certificate (or --plain-http on loopback)"
                )
            }
            let (cert, key) = ControllerCertificateFile.paths(database: db)
            let staged = ControllerCertificateFile.nextPaths(database: db).certificate
            let next = tlsNextCert ?? (FileManager.default.fileExists(atPath: staged) ? staged : nil)
            return TLSFiles(
                certificate: cert, key: key, names: ControllerCertificateFile.names(listenHost: host, extra: tlsName),
                next: next)
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
    }
}

/// TLS errors as one line on stderr and exit status 1.
func reportingTLS<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

struct TLSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "The controller's HTTPS certificate: fingerprint, stage the next one, promote it.",
        discussion: """
            Rotation without re-joining nodes: 'overlayd tls stage' makes the next certificate \
            beside the current one; restart 'overlayd serve' and it announces the next \
            fingerprint to every agent in signed plans; once the agents have it, 'overlayd tls \
            promote' makes it the current one and a restart serves it.
            """,
        subcommands: [Fingerprint.self, Stage.self, Promote.self])

    struct Fingerprint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the SHA-256 fingerprint of the certificate beside the database (or of --cert).")
        @Option(help: "SQLite database file.") var db: String?
        @Option(help: "A PEM certificate file instead.") var cert: String?
        @Flag(help: "The staged next certificate instead.") var next = false

        func run() async throws {
            guard
                let path = cert
                    ?? db.map({
                        next
                            ? ControllerCertificateFile.nextPaths(database: $0).certificate
                            : ControllerCertificateFile.paths(database: $0).certificate
                    })
            else { throw ValidationError("pass --db PATH or --cert FILE") }
            print(try reportingTLS { try ControllerCertificateFile.fingerprint(pemFile: path) })
        }
    }

    struct Stage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the next self-signed certificate (DB.tls-next-cert, key DB.tls-next-key, 0600).")
        @Option(help: "SQLite database file.") var db: String
        @Option(help: "A further DNS name or IP address to cover (repeatable); the current names are kept.")
        var tlsName: [String] = []

        func run() async throws {
            for name in tlsName { try ControllerCertificateFile.validateName(name) }
            let current = ControllerCertificateFile.paths(database: db).certificate
            let (cert, key) = ControllerCertificateFile.nextPaths(database: db)
            try reportingTLS {
                var names = try ControllerCertificateFile.names(pemFile: current)
                for n in tlsName where !names.contains(n) { names.append(n) }
                try ControllerCertificateFile.create(certificate: cert, key: key, names: names)
                print(try ControllerCertificateFile.fingerprint(pemFile: cert))
            }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the staged certificate the current one (served from the next start).")
        @Option(help: "SQLite database file.") var db: String

        func run() async throws {
            let (cert, key) = ControllerCertificateFile.paths(database: db)
            let (nextCert, nextKey) = ControllerCertificateFile.nextPaths(database: db)
            try reportingTLS {
                guard FileManager.default.fileExists(atPath: nextCert), FileManager.default.fileExists(atPath: nextKey)
                else {
                    throw ControllerCertificateError(
                        description: "no staged certificate: run 'overlayd tls stage' first")
                }
                let staged = try ControllerCertificateFile.load(certificate: nextCert, key: nextKey)
                // The key first: a crash between the two renames leaves a pair that fails to load
                // loudly rather than one that serves the wrong key.
                guard rename(nextKey, key) == 0, rename(nextCert, cert) == 0 else {
                    throw ControllerCertificateError(
                        description: "cannot move \(nextCert) over \(cert): \(String(cString: strerror(errno)))")
                }
                print(staged.fingerprint)
            }
        }
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
