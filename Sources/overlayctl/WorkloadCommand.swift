import ArgumentParser
import OverlayController
import OverlayModel

struct WorkloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workload", abstract: "Place, list, show and remove workloads.",
        subcommands: [Add.self, List.self, Show.self, Remove.self])

    struct View: Encodable {
        var name: String, network: String, node: String, address: String, namespace: String, exposed: [String]
        init(_ w: Workload, _ a: IPv6Address) {
            name = w.name
            network = w.network
            node = w.node
            address = a.description
            namespace = w.namespace
            exposed = w.exposed.map(\.description)
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Place a workload on a node in a network.")
        @OptionGroup var global: Global
        @Argument var name: String
        @Option var network: String
        @Option var node: String
        @Option(help: "The workload's network namespace (default wl-NAME).") var netns: String?
        @Option(help: "A port the gateway may reach, e.g. tcp/80. Repeatable.") var expose: [String] = []

        func run() throws {
            try overlayctl.run {
                let (w, a) = try global.controller().addWorkload(name: name, network: network, node: node, namespace: netns, expose: expose)
                if global.json { try Output.json(View(w, a)) } else { print("workload \(w.name) placed on \(w.node): \(a)") }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List workloads.")
        @OptionGroup var global: Global

        func run() throws {
            try overlayctl.run {
                let c = try global.controller()
                let views = try c.workloads().map { try View($0, c.workload(named: $0.name).1) }
                if global.json { return try Output.json(views) }
                Output.table(["NAME", "NETWORK", "NODE", "ADDRESS", "NAMESPACE", "EXPOSE"], views.map {
                    [$0.name, $0.network, $0.node, $0.address, $0.namespace, $0.exposed.joined(separator: ",")]
                })
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a workload.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() throws {
            try overlayctl.run {
                let (w, a) = try global.controller().workload(named: name)
                let v = View(w, a)
                if global.json { return try Output.json(v) }
                Output.fields([("name", v.name), ("network", v.network), ("node", v.node), ("address", v.address),
                               ("namespace", v.namespace), ("expose", v.exposed.isEmpty ? "-" : v.exposed.joined(separator: ", "))])
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a workload.")
        @OptionGroup var global: Global
        @Argument var name: String

        func run() throws {
            try overlayctl.run {
                let c = try global.controller().removeWorkload(name: name)
                if global.json { try Output.json(ChangeView(c)) } else { print("workload \(name) removed (revision \(c.revision))") }
            }
        }
    }
}
