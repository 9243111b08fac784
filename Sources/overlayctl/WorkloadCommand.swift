import ArgumentParser
import OverlayAPI
import OverlayController
import OverlayModel

struct WorkloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workload", abstract: "Place, list, show and remove workloads.",
        subcommands: [Add.self, List.self, Show.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Place a workload on a node in a network.")
        @OptionGroup var global: Global
        @Argument var name: String
        @Option var network: String
        @Option var node: String
        @Option(help: "The workload's network namespace (default wl-NAME).") var netns: String?
        @Option(help: "A port the gateway may reach, e.g. tcp/80. Repeatable.") var expose: [String] = []

        func run() async throws {
            try await overlayctl.run(global) { api in
                let w = try await api.addWorkload(
                    .init(name: name, network: network, node: node, netns: netns, expose: expose))
                if global.json {
                    try Output.json(w)
                } else {
                    print(
                        "workload \(w.name) placed on \(w.node): \(w.address)\(w.ipv4Address.map { ", " + $0 } ?? "")")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List workloads.")
        @OptionGroup var global: Global

        func run() async throws {
            try await overlayctl.run(global) { api in
                let views = try await api.workloads()
                if global.json { return try Output.json(views) }
                Output.table(
                    ["NAME", "NETWORK", "NODE", "ADDRESS", "IPV4", "NAMESPACE", "EXPOSE", "OWNER"],
                    views.map {
                        [
                            $0.name, $0.network, $0.node, $0.address, $0.ipv4Address ?? "-", $0.namespace,
                            $0.exposed.joined(separator: ","), $0.owner ?? "-",
                        ]
                    })
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a workload.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let v = try await api.workload(named: name)
                if global.json { return try Output.json(v) }
                Output.fields([
                    ("name", v.name), ("network", v.network), ("node", v.node), ("address", v.address),
                    ("ipv4 address", v.ipv4Address ?? "-"),
                    ("namespace", v.namespace), ("expose", v.exposed.isEmpty ? "-" : v.exposed.joined(separator: ", ")),
                ])
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a workload.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() async throws {
            try await overlayctl.run(global) { api in
                let c = try await api.removeWorkload(name: name)
                if global.json {
                    try Output.json(c)
                } else {
                    print("workload \(name) removed (revision \(c.revision))")
                }
            }
        }
    }
}
