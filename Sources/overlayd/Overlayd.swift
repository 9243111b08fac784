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
        subcommands: [Serve.self, TokenCommand.self])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the admin API, the agent API and /metrics until SIGTERM or SIGINT.")
    @Option(help: "SQLite database file (WAL mode; created when missing).") var db: String
    @Option(help: "ADDR:PORT to listen on, e.g. 127.0.0.1:8470 or [::]:8470.") var listen: String
    @Option(help: "The controller's Ed25519 signing key (0600; created when missing). Default: DB.controller-key")
    var key: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"
    @Option(help: "Connections one source address may hold open (1 to 1000000).")
    var connectionsPerSource: Int = ConnectionLimitConfiguration().perSource
    @Option(help: "Connections held open in all (1 to 1000000).")
    var maxConnections: Int = ConnectionLimitConfiguration().total
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
        let keyPath = key ?? db + ".controller-key"
        let (signingKey, created) = try ControllerKeyFile.loadOrCreate(path: keyPath)
        if created { logger.notice("created the controller signing key", metadata: ["path": "\(keyPath)"]) }
        let server = ControllerServer(
            store: try Store(path: db), signingKey: signingKey, logger: logger,
            authFailures: (authFailureBurst, 0.2))
        let limits = ConnectionLimitConfiguration(perSource: connectionsPerSource, total: maxConnections)
        let app = server.application(host: host, port: port, limits: limits) { bound in
            logger.notice(
                "overlayd listening",
                metadata: ["address": "\(host):\(bound)", "db": "\(db)", "controllerKey": "\(server.publicKeyBase64)"])
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
        @Option(help: "SQLite database file.") var db: String
        @Option(help: "A name for the token (DNS label), to revoke it later.") var name: String?

        func run() async throws {
            try report {
                let (_, token) = try Controller(databasePath: db).createAdminToken(name: name)
                print(token)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List admin token names (never the tokens).")
        @Option(help: "SQLite database file.") var db: String

        func run() async throws {
            try report {
                for t in try Controller(databasePath: db).adminTokens() {
                    print("\(t.name)  created \(Controller.isoTime(t.createdAt))")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an admin token by name.")
        @Option(help: "SQLite database file.") var db: String
        @Argument var name: String

        func run() async throws {
            try report {
                try Controller(databasePath: db).revokeAdminToken(name: name)
                print("admin token \(name) revoked")
            }
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
