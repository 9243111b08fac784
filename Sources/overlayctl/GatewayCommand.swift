import ArgumentParser
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

        func run() throws {
            try overlayctl.run {
                let r = try global.controller().addGatewayRoute(.init(
                    name: name, node: node, label: label, fqdn: fqdn, tcp: tcp, udp: udp, backends: backend,
                    tlsPassthrough: tlsPassthrough))
                if global.json { try Output.json(r) } else { print("gateway route \(r.name) added on \(r.node)") }
            }
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
                    let m = r.match.description + (r.tlsPassthrough ? " (tls)" : "")
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
