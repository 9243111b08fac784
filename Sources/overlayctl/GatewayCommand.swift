import ArgumentParser
import Foundation
import OverlayAPI
import OverlayController
import OverlayModel

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "Public routes on gateway nodes into workloads' exposed ports.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a gateway route.")
        @OptionGroup var global: Global
        @Argument var name: String
        @Option(help: "The gateway node.") var node: String
        @Option(name: .customLong("name"), help: "Serve LABEL.<gateway domain>.") var label: String?
        @Option(help: "Serve this DNS name.") var fqdn: String?
        @Option(help: "Map this public TCP port.") var tcp: String?
        @Option(help: "Map this public UDP port.") var udp: String?
        @Option(help: "WORKLOAD:PORT; repeatable for balancing.") var backend: [String] = []
        @Flag(name: .customLong("tls-passthrough"), help: "Route TLS by SNI; TLS ends at the workload.")
        var tlsPassthrough = false
        @Option(help: "roundrobin (default) or leastconn.") var balance: String?
        @Option(help: "PEM certificate chain: the gateway terminates TLS for this name.") var cert: String?
        @Option(help: "PEM private key of --cert (sealed to the gateway node; never stored in clear).") var key: String?

        func run() async throws {
            try await overlayctl.run(global) { api in
                var request = AddGatewayRouteRequest(
                    name: name, node: node, label: label, fqdn: fqdn, tcp: tcp, udp: udp, backends: backend,
                    tlsPassthrough: tlsPassthrough, balance: balance)
                if let cert {
                    request.certificate = try Self.readPEM(cert, field: "cert", limit: 1 << 20)
                    request.certificateFile = cert
                }
                if let key {
                    request.key = SecretKey(copying: Array(try Self.readPEM(key, field: "key", limit: 64 << 10).utf8))
                    request.keyFile = key
                }
                let r = try await api.addGatewayRoute(request)
                if global.json { try Output.json(r) } else { print("gateway route \(r.name) added on \(r.node)") }
            }
        }

        static func readPEM(_ path: String, field: String, limit: Int) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError(field, path, allowed: "a readable PEM file")
            }
            guard data.count <= limit else {
                throw ValidationError(field, path, allowed: "a PEM file of at most \(limit / 1024) KiB")
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List gateway routes.")
        @OptionGroup var global: Global

        func run() async throws {
            try await overlayctl.run(global) { api in
                let all = try await api.gatewayRoutes()
                if global.json { return try Output.json(all) }
                Output.table(
                    ["NAME", "NODE", "MATCH", "BACKENDS"],
                    all.map { r in
                        let m =
                            r.match.description
                            + (r.tlsPassthrough ? " (tls passthrough)" : r.tls != nil ? " (tls)" : "")
                        return [r.name, r.node, m, r.backends.map(\.description).joined(separator: ",")]
                    })
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a gateway route.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let c = try await api.removeGatewayRoute(name: name)
                if global.json {
                    try Output.json(c)
                } else {
                    print("gateway route \(name) removed (revision \(c.revision))")
                }
            }
        }
    }
}
