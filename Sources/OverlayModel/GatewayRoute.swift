/// A public door on a gateway node into one workload's exposed ports.
public struct GatewayRoute: Hashable, Sendable, Codable {
    public enum Match: Hashable, Sendable, Codable, CustomStringConvertible {
        /// `LABEL.<gateway domain>`, HTTP by Host (or SNI with TLS passthrough).
        case name(String)
        /// Any DNS name the operator points at the gateway.
        case fqdn(String)
        case tcp(UInt16)
        case udp(UInt16)

        /// `name LABEL`, `fqdn NAME`, `tcp/PORT`, `udp/PORT`.
        public var description: String {
            switch self {
            case .name(let l): "name \(l)"
            case .fqdn(let f): "fqdn \(f)"
            case .tcp(let p): "tcp/\(p)"
            case .udp(let p): "udp/\(p)"
            }
        }
    }

    public struct Backend: Hashable, Sendable, Codable, CustomStringConvertible {
        public var workload: String
        public var port: UInt16
        public init(workload: String, port: UInt16) {
            self.workload = workload
            self.port = port
        }
        public var description: String { "\(workload):\(port)" }
    }

    public var name: String
    public var node: String
    public var match: Match
    public var tlsPassthrough: Bool
    public var backends: [Backend]

    public init(name: String, node: String, match: Match, tlsPassthrough: Bool = false, backends: [Backend]) {
        self.name = name
        self.node = node
        self.match = match
        self.tlsPassthrough = tlsPassthrough
        self.backends = backends
    }

    /// The host name served, for HTTP and TLS routes.
    public func hostName(domain: String?) -> String? {
        switch match {
        case .name(let label): domain.map { "\(label).\($0)" }
        case .fqdn(let f): f
        case .tcp, .udp: nil
        }
    }

    /// The transport the backends are reached with.
    public var backendProto: PortSpec.Proto {
        if case .udp = match { .udp } else { .tcp }
    }
}
