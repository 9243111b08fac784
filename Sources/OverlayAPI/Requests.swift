/// The bodies of the admin API's write requests: exactly what `overlayctl` passes in local mode.
/// Unknown fields are refused by the server (see `StrictJSON`).

public struct CreateNetworkRequest: Codable, Sendable, Equatable {
    public var name: String
    public var prefix: String?
    public var mtu: Int?
    public init(name: String, prefix: String? = nil, mtu: Int? = nil) {
        self.name = name
        self.prefix = prefix
        self.mtu = mtu
    }
}

public struct AttachRequest: Codable, Sendable, Equatable {
    public var node: String
    public init(node: String) { self.node = node }
}

public struct AddNodeRequest: Codable, Sendable, Equatable {
    public var name: String
    /// Nil: the node is pending until its agent joins with a join token.
    public var identity: String?
    public var publicAddresses: [String]?
    public var listenPorts: String?
    public var region: String?
    public var hub: Bool?
    public var gateway: Bool?
    public var domain: String?
    public init(
        name: String, identity: String? = nil, publicAddresses: [String]? = nil, listenPorts: String? = nil,
        region: String? = nil, hub: Bool? = nil, gateway: Bool? = nil, domain: String? = nil
    ) {
        self.name = name
        self.identity = identity
        self.publicAddresses = publicAddresses
        self.listenPorts = listenPorts
        self.region = region
        self.hub = hub
        self.gateway = gateway
        self.domain = domain
    }
}

public struct JoinTokenRequest: Codable, Sendable, Equatable {
    /// `30m`, `1h`, `2d`…, 1m to 7d; 1h when nil.
    public var expires: String?
    public init(expires: String? = nil) { self.expires = expires }
}

public struct AddWorkloadRequest: Codable, Sendable, Equatable {
    public var name: String
    public var network: String
    public var node: String
    public var netns: String?
    public var expose: [String]?
    public init(name: String, network: String, node: String, netns: String? = nil, expose: [String]? = nil) {
        self.name = name
        self.network = network
        self.node = node
        self.netns = netns
        self.expose = expose
    }
}

public struct AddAccessPeerRequest: Codable, Sendable, Equatable {
    public var name: String
    public var network: String
    public var publicKey: String?
    public var hub: String?
    public init(name: String, network: String, publicKey: String? = nil, hub: String? = nil) {
        self.name = name
        self.network = network
        self.publicKey = publicKey
        self.hub = hub
    }
}

public struct AddGatewayRouteRequest: Codable, Sendable, Equatable {
    public var name: String
    public var node: String
    /// Serve LABEL.<gateway domain>.
    public var label: String?
    public var fqdn: String?
    public var tcp: String?
    public var udp: String?
    public var backends: [String]
    public var tlsPassthrough: Bool?
    /// roundrobin (default) or leastconn.
    public var balance: String?
    /// TLS termination at the gateway: the certificate chain (PEM) and its private key (PEM). The
    /// controller checks them, keeps the certificate and seals the key to the gateway node.
    public var certificate: String?
    public var key: String?
    /// Where the certificate and key came from (file names), named in error messages.
    public var certificateFile: String?
    public var keyFile: String?
    public init(
        name: String, node: String, label: String? = nil, fqdn: String? = nil, tcp: String? = nil, udp: String? = nil,
        backends: [String], tlsPassthrough: Bool? = nil, balance: String? = nil
    ) {
        self.balance = balance
        self.name = name
        self.node = node
        self.label = label
        self.fqdn = fqdn
        self.tcp = tcp
        self.udp = udp
        self.backends = backends
        self.tlsPassthrough = tlsPassthrough
    }
}

public struct ApplyRequest: Codable, Sendable, Equatable {
    /// The topology file's YAML text (parsed by the controller, with the same checks as locally).
    public var topology: String
    public var dryRun: Bool?
    public init(topology: String, dryRun: Bool? = nil) {
        self.topology = topology
        self.dryRun = dryRun
    }
}

/// Every error answer of the API: `{"error": "..."}`, the message `overlayctl` prints.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public init(error: String) { self.error = error }
}

/// `GET /v1/networks/{name}/graph`.
public struct GraphView: Codable, Sendable, Equatable {
    public var dot: String
    public init(dot: String) { self.dot = dot }
}
