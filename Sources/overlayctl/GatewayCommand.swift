import ArgumentParser
import Foundation
import Glibc
import OverlayController
import OverlayModel

struct GatewayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "Public routes on gateway nodes into workloads' exposed ports.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
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

        func run() throws {
            try overlayctl.run {
                var spec = Controller.GatewaySpec(
                    name: name, node: node, label: label, fqdn: fqdn, tcp: tcp, udp: udp, backends: backend,
                    tlsPassthrough: tlsPassthrough, balance: balance)
                if let cert {
                    guard let data = FileManager.default.contents(atPath: cert) else {
                        throw ValidationError("cert", cert, allowed: "a readable PEM file")
                    }
                    spec.certificate = String(decoding: data, as: UTF8.self)
                    spec.certificateSource = cert
                }
                if let key {
                    spec.key = try Self.readSecret(key)
                    spec.keySource = key
                }
                let r = try global.controller().addGatewayRoute(spec)
                if global.json { try Output.json(r) } else { print("gateway route \(r.name) added on \(r.node)") }
            }
        }

        /// Reads a key file straight into wiped memory (at most 64 KiB).
        static func readSecret(_ path: String) throws -> SecretKey {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw ValidationError("key", path, allowed: "a readable PEM file") }
            defer { close(fd) }
            let buffer = SecretKey(count: 64 * 1024)
            var total = 0
            while true {
                let n = buffer.withMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
                if n < 0 { throw ValidationError("key", path, allowed: "a readable PEM file") }
                if n == 0 { break }
                total += n
                if total == buffer.count { throw ValidationError("key", path, allowed: "a PEM private key under 64 KiB") }
            }
            return buffer.withBytes { SecretKey(copying: $0.prefix(total)) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List gateway routes.")
        @OptionGroup var global: Global

        func run() throws {
            try overlayctl.run {
                let all = try global.controller().gatewayRoutes()
                if global.json { return try Output.json(all) }
                Output.table(["NAME", "NODE", "MATCH", "BACKENDS"], all.map { r in
                    let m = r.match.description + (r.tlsPassthrough ? " (tls passthrough)" : r.tls != nil ? " (tls)" : "")
                    return [r.name, r.node, m, r.backends.map(\.description).joined(separator: ",")]
                })
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a gateway route.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() throws {
            try overlayctl.run {
                let c = try global.controller().removeGatewayRoute(name: name)
                if global.json { try Output.json(ChangeView(c)) } else { print("gateway route \(name) removed (revision \(c.revision))") }
            }
        }
    }
}
