import OverlayCrypto
import OverlayModel
import OverlayPlanner
import OverlayStore
import OverlayTLS

extension Controller {
    /// A gateway route to add: what `overlayctl gateway add` and the topology file give, and the
    /// body of `POST /v1/gateway-routes` (see `GatewaySpec+Codable.swift`).
    public struct GatewaySpec: Sendable, Equatable {
        public var name: String
        public var node: String
        public var label: String?
        public var fqdn: String?
        public var tcp: String?
        public var udp: String?
        public var backends: [String]
        public var tlsPassthrough = false
        /// `roundrobin` (default) or `leastconn`.
        public var balance: String?
        /// TLS termination: the certificate chain (PEM) and its private key (PEM, a secret: it is
        /// sealed to the gateway node's identity and never stored in clear). `...File` names each
        /// input in errors (the file it came from; the option name when nil).
        public var certificate: String?
        public var certificateFile: String?
        public var key: SecretKey?
        public var keyFile: String?

        /// How errors name the certificate and the key: their file, else the option.
        var certificateSource: String { certificateFile ?? "--cert" }
        var keySource: String { keyFile ?? "--key" }

        public init(
            name: String, node: String, label: String? = nil, fqdn: String? = nil, tcp: String? = nil,
            udp: String? = nil, backends: [String], tlsPassthrough: Bool = false, balance: String? = nil,
            certificate: String? = nil, key: SecretKey? = nil
        ) {
            self.name = name
            self.node = node
            self.label = label
            self.fqdn = fqdn
            self.tcp = tcp
            self.udp = udp
            self.backends = backends
            self.tlsPassthrough = tlsPassthrough
            self.balance = balance
            self.certificate = certificate
            self.key = key
        }

        func match() throws -> GatewayRoute.Match {
            let given = [label, fqdn, tcp, udp].compactMap { $0 }
            guard given.count == 1 else {
                throw ValidationError(
                    "route", name, allowed: "exactly one of --name LABEL, --fqdn FQDN, --tcp PORT, --udp PORT")
            }
            if let label { return .name(try Names.label(label.lowercased(), field: "name")) }
            if let fqdn { return .fqdn(try Names.fqdn(fqdn, field: "fqdn")) }
            if let tcp { return .tcp(try PortSpec.port(tcp, field: "tcp port")) }
            return .udp(try PortSpec.port(udp!, field: "udp port"))
        }
    }

    /// Adds a public route on a gateway node to exposed ports of workloads of one network; the
    /// gateway joins that network.
    @discardableResult
    public func addGatewayRoute(_ spec: GatewaySpec) throws -> GatewayRoute {
        try mutate(networks: []) { m in try addGatewayRoute(m, spec) }.0
    }

    func addGatewayRoute(_ m: Mutation, _ spec: GatewaySpec) throws -> GatewayRoute {
        let name = try Names.label(spec.name, field: "route name")
        let match = try spec.match()
        switch match {
        case .tcp, .udp:
            if spec.tlsPassthrough {
                throw ValidationError("tls-passthrough", name, allowed: "only with --name or --fqdn (routing by SNI)")
            }
        default: break
        }
        let balance =
            try spec.balance.map { text in
                guard let b = GatewayRoute.Balance(rawValue: text) else {
                    throw ValidationError("balance", text, allowed: "roundrobin or leastconn")
                }
                return b
            } ?? .roundrobin
        let terminates = spec.certificate != nil || spec.key != nil
        if terminates {
            guard spec.certificate != nil, spec.key != nil else {
                throw ValidationError(
                    spec.certificate == nil ? "key" : "cert",
                    spec.certificate == nil ? spec.keySource : spec.certificateSource,
                    allowed: "--cert and --key together (TLS termination needs both)")
            }
            switch match {
            case .tcp, .udp:
                throw ValidationError(
                    "cert", spec.certificateSource, allowed: "only with --name or --fqdn (TLS for an HTTP route)")
            default: break
            }
            if spec.tlsPassthrough {
                throw ValidationError(
                    "tls-passthrough", name,
                    allowed:
                        "either --tls-passthrough (TLS ends at the workload) or --cert/--key (TLS ends at the gateway)")
            }
        }
        // 80 and 443 carry the name routes; the node's WireGuard ports are the overlay's own.
        if case .tcp(let p) = match, p == 80 || p == 443 {
            throw ValidationError(
                "tcp port", String(p), allowed: "a port other than 80 and 443 (they serve --name and --fqdn routes)")
        }
        guard !spec.backends.isEmpty else {
            throw ValidationError("backend", "", allowed: "at least one --backend WORKLOAD:PORT")
        }
        var backends: [GatewayRoute.Backend] = []
        for b in spec.backends {
            guard let c = b.lastIndex(of: ":") else {
                throw ValidationError("backend", b, allowed: "WORKLOAD:PORT, e.g. web:80")
            }
            let w = try Names.label(String(b[..<c]), field: "backend workload")
            let p = try PortSpec.port(String(b[b.index(after: c)...]), field: "backend port")
            backends.append(.init(workload: w, port: p))
        }
        var route = GatewayRoute(
            name: name, node: spec.node, match: match, tlsPassthrough: spec.tlsPassthrough,
            backends: backends, balance: balance)
        guard let network = try m.tx.workload(named: backends[0].workload)?.network,
            try sees(network: network, m.tx)
        else {
            throw NotFoundError("workload", backends[0].workload)
        }
        try m.include(network: network)
        guard let gw = try m.tx.node(named: spec.node) else { throw NotFoundError("node", spec.node) }
        guard gw.gateway else {
            throw ValidationError("node", spec.node, allowed: "a node added with --gateway --domain")
        }
        if case .udp(let p) = match, gw.listenPorts.contains(p) {
            throw ValidationError(
                "udp port", String(p),
                allowed:
                    "a port outside the node's WireGuard ports (\(gw.listenPorts.lowerBound)-\(gw.listenPorts.upperBound))"
            )
        }
        if terminates, let certificate = spec.certificate, let key = spec.key {
            let checked = try TLSMaterial.check(
                certificate: certificate, certificateSource: spec.certificateSource, key: key,
                keySource: spec.keySource,
                host: route.hostName(domain: gw.domain))
            route.tls = GatewayRoute.TLS(
                certificate: checked.certificateChain, sealedKey: try SealedBox.seal(key, toIdentity: gw.identity))
        }
        let existing = try m.tx.gatewayRoutes()
        if existing.contains(where: { $0.name == name }) {
            throw ConflictError("gateway route '\(name)' already exists")
        }
        if let host = route.hostName(domain: gw.domain) {
            if let taken = existing.first(where: { $0.hostName(domain: try? m.tx.node(named: $0.node)?.domain) == host }
            ) {
                // Another tenant's route is not named.
                let by = try routeNetwork(taken, m.tx).map { try sees(network: $0, m.tx) } ?? isOperator
                throw ConflictError(
                    "'\(host)' is already served by \(by ? "gateway route '\(taken.name)'" : "another route")")
            }
            if case .fqdn = match {
                for other in try m.tx.nodes() where other.gateway && other.name != gw.name {
                    if let d = other.domain, host == d || host.hasSuffix("." + d) {
                        throw ConflictError("'\(host)' is under the domain of gateway '\(other.name)' (\(d))")
                    }
                }
            }
        } else if existing.contains(where: { $0.node == gw.name && $0.match == match }) {
            throw ConflictError("port \(match) on gateway '\(gw.name)' is already mapped")
        }
        for b in backends {
            guard let w = try m.tx.workload(named: b.workload), try sees(network: w.network, m.tx) else {
                throw NotFoundError("workload", b.workload)
            }
            guard w.network == network else {
                throw ValidationError(
                    "backend", b.description, allowed: "backends of one route in one network ('\(network)')")
            }
            let needed = PortSpec(proto: route.backendProto, port: b.port)
            guard w.exposed.contains(needed) else {
                throw ValidationError(
                    "backend", b.description,
                    allowed:
                        "a port the workload exposes (\(w.exposed.map(\.description).joined(separator: ", ")); add it with --expose \(needed))"
                )
            }
        }
        guard let net = try m.tx.network(named: network) else { throw NotFoundError("network", network) }
        try m.ensureMember(network: net, node: gw)
        try m.tx.insert(route)
        m.touch(node: gw.name)
        return route
    }

    public func gatewayRoutes() throws -> [GatewayRoute] {
        try store.read { tx in
            guard !isOperator else { return try tx.gatewayRoutes() }
            return try tx.gatewayRoutes().filter { r in
                try routeNetwork(r, tx).map { try sees(network: $0, tx) } ?? false
            }
        }
    }

    /// The network of a route's backends (all in one), nil when its workloads are gone.
    func routeNetwork(_ route: GatewayRoute, _ tx: Transaction) throws -> String? {
        try route.backends.first.flatMap { try tx.workload(named: $0.workload)?.network }
    }

    @discardableResult
    public func removeGatewayRoute(name: String) throws -> Change {
        try mutate(networks: []) { m in
            guard let route = try m.tx.gatewayRoutes().first(where: { $0.name == name }) else {
                throw NotFoundError("gateway route", name)
            }
            // The backends of a route are in one network; a route whose workloads are gone reaches
            // none and is the operator's to remove.
            let network = try routeNetwork(route, m.tx)
            guard try network.map({ try sees(network: $0, m.tx) }) ?? isOperator else {
                throw NotFoundError("gateway route", name)
            }
            if let network { try m.include(network: network) }
            try m.tx.deleteGatewayRoute(named: name)
            m.touch(node: route.node)
            if let network { try m.pruneMembers(network: network) }
        }.1
    }
}
