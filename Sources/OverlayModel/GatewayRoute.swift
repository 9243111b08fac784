import Foundation

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

        /// JSON: `{"kind":"name","label":"site"}`, `{"kind":"fqdn","host":"www.example.com"}`,
        /// `{"kind":"tcp","port":8080}`, `{"kind":"udp","port":53}` (in the admin API and in plans).
        enum CodingKeys: String, CodingKey { case kind, label, host, port }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let kind = try c.decode(String.self, forKey: .kind)
            switch kind {
            case "name": self = .name(try c.decode(String.self, forKey: .label))
            case "fqdn": self = .fqdn(try c.decode(String.self, forKey: .host))
            case "tcp": self = .tcp(try c.decode(UInt16.self, forKey: .port))
            case "udp": self = .udp(try c.decode(UInt16.self, forKey: .port))
            default:
                throw DecodingError.dataCorruptedError(
                    forKey: .kind, in: c, debugDescription: "'\(kind)' is not one of name, fqdn, tcp, udp")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .name(let l):
                try c.encode("name", forKey: .kind)
                try c.encode(l, forKey: .label)
            case .fqdn(let f):
                try c.encode("fqdn", forKey: .kind)
                try c.encode(f, forKey: .host)
            case .tcp(let p):
                try c.encode("tcp", forKey: .kind)
                try c.encode(p, forKey: .port)
            case .udp(let p):
                try c.encode("udp", forKey: .kind)
                try c.encode(p, forKey: .port)
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

    /// How new connections are spread over the backends.
    public enum Balance: String, Hashable, Sendable, Codable, CaseIterable {
        case roundrobin, leastconn
    }

    /// TLS terminated at the gateway: the operator's certificate chain (PEM, public) and its
    /// private key sealed to the gateway node's identity (only that node can open it).
    public struct TLS: Hashable, Sendable, Codable {
        public var certificate: String
        public var sealedKey: [UInt8]
        public init(certificate: String, sealedKey: [UInt8]) {
            self.certificate = certificate
            self.sealedKey = sealedKey
        }

        enum CodingKeys: String, CodingKey { case certificate, sealedKey }

        /// The sealed key travels as base64, like the sealed WireGuard keys.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(certificate, forKey: .certificate)
            try c.encode(Data(sealedKey).base64EncodedString(), forKey: .sealedKey)
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            certificate = try c.decode(String.self, forKey: .certificate)
            let text = try c.decode(String.self, forKey: .sealedKey)
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(forKey: .sealedKey, in: c, debugDescription: "not base64")
            }
            sealedKey = Array(data)
        }
    }

    public var name: String
    public var node: String
    public var match: Match
    public var tlsPassthrough: Bool
    public var backends: [Backend]
    public var balance: Balance
    /// Present when the gateway terminates TLS for this route.
    public var tls: TLS?

    public init(
        name: String, node: String, match: Match, tlsPassthrough: Bool = false, backends: [Backend],
        balance: Balance = .roundrobin, tls: TLS? = nil
    ) {
        self.name = name
        self.node = node
        self.match = match
        self.tlsPassthrough = tlsPassthrough
        self.backends = backends
        self.balance = balance
        self.tls = tls
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
