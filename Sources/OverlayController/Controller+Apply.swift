import OverlayModel
import OverlayPlanner
import OverlayStore

extension Controller {
    /// What applying a topology file does (or would do).
    public struct ApplyResult: Sendable, Equatable {
        public var created: [String]
        /// Per touched node: what changes in its plan.
        public var nodes: [String: PlanDelta.Summary]
        public var revision: Int64?
        public var dryRun: Bool
    }

    /// Ends the transaction without committing: a dry run, or a file that changes nothing.
    struct RollBack: Error { var result: ApplyResult }

    /// Creates what the file describes and the store lacks, in one transaction. Objects that exist
    /// with the same settings are left alone (so re-applying changes nothing); objects that exist
    /// with other settings are refused. `dryRun` does everything, reports it, and rolls back.
    public func apply(_ file: TopologyFile, dryRun: Bool) throws -> ApplyResult {
        try requireOperator("applying a topology file")
        let named = Set((file.networks ?? []).map(\.name)).union((file.workloads ?? []).map(\.network))
            .union((file.access ?? []).map(\.network))
        do {
            let (result, change) = try mutate(networks: []) { m -> ApplyResult in
                for name in named where try m.tx.network(named: name) != nil { try m.include(network: name) }
                // Every network planned once per side (the "before" ones from the cache when it
                // holds them), every node's plan assembled from those.
                var planned: [String: PlannedNetwork] = [:]
                for network in try m.tx.networks() {
                    planned[network.name] = try m.unchangedPlan(network: network.name)
                }
                let plansBefore = try Controller.nodePlans(m.tx, planned: planned)
                let created = try applyBody(m, file)
                try m.ensureRelays()
                planned = [:]
                for name in try m.tx.networks().map(\.name) {
                    planned[name] = try m.tx.snapshot(network: name).map(PlannedNetwork.init)
                }
                var summaries: [String: PlanDelta.Summary] = [:]
                for (n, after) in try Controller.nodePlans(m.tx, planned: planned) {
                    let delta = PlanDelta(from: plansBefore[n], to: after)
                    if !delta.isEmpty { summaries[n] = delta.summary }
                }
                let result = ApplyResult(created: created, nodes: summaries, revision: nil, dryRun: dryRun)
                // Nothing to do is not a command: no new revision (re-applying changes nothing).
                if dryRun || (created.isEmpty && summaries.isEmpty) { throw RollBack(result: result) }
                return result
            }
            var r = result
            r.revision = change.revision
            return r
        } catch let d as RollBack {
            var r = d.result
            if !dryRun { r.revision = try revision() }
            return r
        }
    }

    private func applyBody(_ m: Mutation, _ file: TopologyFile) throws -> [String] {
        var created: [String] = []
        for n in file.networks ?? [] {
            if let existing = try m.tx.network(named: n.name) {
                if let p = n.prefix, try Network.validatePrefix(p) != existing.prefix {
                    throw ConflictError("network '\(n.name)' exists with prefix \(existing.prefix), not \(p)")
                }
                if let mtu = n.mtu, mtu != existing.mtu {
                    throw ConflictError("network '\(n.name)' exists with mtu \(existing.mtu), not \(mtu)")
                }
                let have4 = existing.ipv4Prefix?.description ?? "none"
                if let p4 = n.ipv4, try Network.validateIPv4Prefix(p4) != existing.ipv4Prefix {
                    throw ConflictError("network '\(n.name)' exists with IPv4 prefix \(have4), not \(p4)")
                }
                if n.noIPv4 == true, existing.ipv4Prefix != nil {
                    throw ConflictError("network '\(n.name)' exists with IPv4 prefix \(have4), not without IPv4")
                }
                if let egress = n.egress, egress != existing.egress {
                    throw ConflictError(
                        "network '\(n.name)' exists with egress \(existing.egress ? "on" : "off"): change it with 'overlayctl network set \(n.name) --egress \(egress ? "on" : "off")'"
                    )
                }
                continue
            }
            let name = try Names.label(n.name, field: "network name")
            if n.noIPv4 == true, let p4 = n.ipv4 {
                throw ValidationError("ipv4 prefix", p4, allowed: "no IPv4 prefix together with noIPv4")
            }
            let ipv4: IPv4Choice =
                n.noIPv4 == true ? .none : try n.ipv4.map { .given(try Network.validateIPv4Prefix($0)) } ?? .automatic
            _ = try createNetwork(
                m, name: name, prefix: try n.prefix.map(Network.validatePrefix),
                mtu: try Network.validateMTU(n.mtu ?? Network.defaultMTU), ipv4: ipv4, egress: n.egress ?? true)
            try m.include(network: name)
            created.append("network \(name)")
        }
        for n in file.nodes ?? [] {
            let node = try NodeSpec(
                name: n.name, identity: n.identity, publicAddresses: n.publicAddresses ?? [],
                listenPorts: n.listenPorts, region: n.region, hub: n.hub ?? false,
                gateway: n.gateway ?? false, domain: n.domain
            ).validated()
            if let existing = try m.tx.node(named: node.name) {
                // A file without an identity leaves the one registered at join alone.
                var compared = node
                if n.identity == nil { compared.identity = existing.identity }
                if existing != compared {
                    throw ConflictError(
                        "node '\(node.name)' exists with other settings; remove it first to change them")
                }
                continue
            }
            _ = try addNode(m, node)
            created.append("node \(node.name)")
        }
        for w in file.workloads ?? [] {
            let name = try Names.label(w.name, field: "workload name")
            let namespace = try Names.netns(w.netns ?? Workload.defaultNamespace(for: name), field: "netns")
            let ports = try (w.expose ?? []).map { try PortSpec(parsing: $0) }
            if let existing = try m.tx.workload(named: name) {
                if existing.network != w.network || existing.node != w.node || existing.namespace != namespace
                    || Set(existing.exposed) != Set(ports)
                {
                    throw ConflictError("workload '\(name)' exists with other settings; remove it first to change them")
                }
                continue
            }
            try m.include(network: w.network)
            _ = try addWorkload(
                m, name: name, network: w.network, node: w.node, namespace: namespace,
                ports: Array(Set(ports)).sorted())
            created.append("workload \(name)")
        }
        for a in file.access ?? [] {
            let name = try Names.label(a.name, field: "access peer name")
            guard let key = WireGuardKey(base64: a.publicKey) else {
                throw ValidationError(
                    "public key", a.publicKey, allowed: "a WireGuard public key: 44 characters of base64")
            }
            if let existing = try m.tx.accessPeer(named: name) {
                if existing.network != a.network || existing.publicKey != key || (a.hub != nil && existing.hub != a.hub)
                {
                    throw ConflictError(
                        "access peer '\(name)' exists with other settings; remove it first to change them")
                }
                continue
            }
            try m.include(network: a.network)
            _ = try addAccessPeer(m, name: name, network: a.network, key: key, hub: a.hub)
            created.append("access peer \(name)")
        }
        let routes = try m.tx.gatewayRoutes()
        for g in file.gateways ?? [] {
            let spec = GatewaySpec(
                name: g.name, node: g.node, label: g.host, fqdn: g.fqdn, tcp: g.tcp.map(String.init),
                udp: g.udp.map(String.init), backends: g.backends, tlsPassthrough: g.tlsPassthrough ?? false)
            if let existing = routes.first(where: { $0.name == g.name }) {
                let match = try spec.match()
                if existing.node != g.node || existing.match != match
                    || existing.backends.map(\.description) != g.backends
                    || existing.tlsPassthrough != spec.tlsPassthrough
                {
                    throw ConflictError(
                        "gateway route '\(g.name)' exists with other settings; remove it first to change them")
                }
                continue
            }
            _ = try addGatewayRoute(m, spec)
            created.append("gateway route \(g.name)")
        }
        return created
    }
}
