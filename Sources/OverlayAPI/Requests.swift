import OverlayController

/// The bodies of the admin API's write requests: exactly what `overlayctl` passes in local mode.
/// Unknown fields are refused by the server (see `StrictJSON`).

public struct CreateNetworkRequest: Codable, Sendable, Equatable {
    public var name: String
    public var prefix: String?
    public var mtu: Int?
    /// The network's IPv4 prefix; the least used /16 of 100.64.0.0/10 when nil (unless `noIPv4`).
    public var ipv4: String?
    /// IPv6 only.
    public var noIPv4: Bool?
    /// Workloads reach the internet through their node; true when nil.
    public var egress: Bool?
    public init(
        name: String, prefix: String? = nil, mtu: Int? = nil, ipv4: String? = nil, noIPv4: Bool? = nil,
        egress: Bool? = nil
    ) {
        self.name = name
        self.prefix = prefix
        self.mtu = mtu
        self.ipv4 = ipv4
        self.noIPv4 = noIPv4
        self.egress = egress
    }
}

/// `PATCH /v1/networks/{name}`: the settings a network may change after creation.
public struct UpdateNetworkRequest: Codable, Sendable, Equatable {
    public var egress: Bool
    public init(egress: Bool) { self.egress = egress }
}

public struct AttachRequest: Codable, Sendable, Equatable {
    public var node: String
    public init(node: String) { self.node = node }
}

/// `POST /v1/nodes`: the controller's own node spec, one type from the command line to the store.
public typealias AddNodeRequest = Controller.NodeSpec

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

/// `POST /v1/gateway-routes`: the controller's own gateway spec (explicit JSON in
/// `GatewaySpec+Codable.swift`).
public typealias AddGatewayRouteRequest = Controller.GatewaySpec

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
