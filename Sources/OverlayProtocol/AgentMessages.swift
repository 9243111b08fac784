/// The agent endpoints (all JSON, all under `/v1/agent`).
///
/// - `POST /v1/agent/join` — body `JoinRequest`, signed with the identity being registered
///   (proof of possession; the token authorises it). Answer `JoinResponse`.
/// - `GET /v1/agent/plan?after=REV&wait=SECONDS` — signed. Answers `SignedPlan` at once when the
///   node's plan revision is above `after`, else as soon as this node's plan changes, else `204`
///   after `wait` seconds (at most `AgentPaths.maxWait`).
///   With `Overlay-TLS-Pins` lacking a certificate the controller announces, answers at once.
/// - `POST /v1/agent/status` — signed, body `AgentStatus`. Answer `204`.
public enum AgentPaths {
    public static let join = "/v1/agent/join"
    public static let plan = "/v1/agent/plan"
    public static let status = "/v1/agent/status"
    public static let maxWait = 60
    public static let defaultWait = 30
    /// Sent with plan long-polls over HTTPS: the certificate fingerprints the agent pins, comma
    /// separated. When the controller announces one not among them it answers at once.
    public static let pinsHeader = "Overlay-TLS-Pins"
}

public struct JoinRequest: Codable, Equatable, Sendable {
    /// The single-use join token printed by `overlayctl node join-token`.
    public var token: String
    /// The node's Ed25519 public key, base64.
    public var identity: String

    public init(token: String, identity: String) {
        self.token = token
        self.identity = identity
    }
}

public struct JoinResponse: Codable, Equatable, Sendable {
    /// The node this token was made for.
    public var node: String
    /// The controller's Ed25519 public key, base64: the agent pins it.
    public var controllerKey: String

    public init(node: String, controllerKey: String) {
        self.node = node
        self.controllerKey = controllerKey
    }
}

/// What an agent reports after each pass (and periodically).
public struct AgentStatus: Codable, Equatable, Sendable {
    public struct Peer: Codable, Equatable, Sendable {
        /// WireGuard public key, base64.
        public var publicKey: String
        /// Seconds since the last handshake; nil when none happened yet.
        public var handshakeAge: Int64?
        public var rxBytes: UInt64
        public var txBytes: UInt64

        public init(publicKey: String, handshakeAge: Int64?, rxBytes: UInt64, txBytes: UInt64) {
            self.publicKey = publicKey
            self.handshakeAge = handshakeAge
            self.rxBytes = rxBytes
            self.txBytes = txBytes
        }
    }

    /// One relay hub as this member sees it through the tunnel (docs/failover.md).
    public struct RelayHub: Codable, Equatable, Sendable {
        public var name: String
        /// WireGuard public key, base64.
        public var publicKey: String
        /// Whether this member routes the hub's relayed prefixes through it now.
        public var inService: Bool
        /// Whether it answers probes.
        public var up: Bool
        /// The last probe's round trip.
        public var rttMilliseconds: Double?
        public var probes: Int
        public var lostProbes: Int
        /// `direct` or `detour` (through the other hub's forwarder); nil with no detour to it.
        public var path: String?

        public init(
            name: String, publicKey: String, inService: Bool, up: Bool, rttMilliseconds: Double?, probes: Int,
            lostProbes: Int, path: String? = nil
        ) {
            self.path = path
            self.name = name
            self.publicKey = publicKey
            self.inService = inService
            self.up = up
            self.rttMilliseconds = rttMilliseconds
            self.probes = probes
            self.lostProbes = lostProbes
        }
    }

    /// The relay hubs of a network whose plan has a failover entry.
    public struct Relays: Codable, Equatable, Sendable {
        /// `normal`, `without HUB` or `no relay`.
        public var status: String
        /// The hub a hidden member's relayed traffic goes through now (nil on other members, or
        /// with no relay).
        public var active: String?
        /// Failovers since the agent started.
        public var failovers: Int
        public var hubs: [RelayHub]

        public init(status: String, active: String?, failovers: Int, hubs: [RelayHub]) {
            self.status = status
            self.active = active
            self.failovers = failovers
            self.hubs = hubs
        }
    }

    public struct Network: Codable, Equatable, Sendable {
        public var network: String
        public var interface: String
        public var peers: [Peer]
        /// Nil where nothing is relayed through two hubs.
        public var relays: Relays?

        public init(network: String, interface: String, peers: [Peer], relays: Relays? = nil) {
            self.network = network
            self.interface = interface
            self.peers = peers
            self.relays = relays
        }
    }

    /// The plan revision the kernel now matches (nil before the first successful pass).
    public var appliedRevision: Int64?
    public var networks: [Network]
    /// The last pass's errors (empty when it succeeded).
    public var errors: [String]
    /// "kernel" or "userspace".
    public var wireguard: String

    public init(appliedRevision: Int64?, networks: [Network], errors: [String], wireguard: String) {
        self.appliedRevision = appliedRevision
        self.networks = networks
        self.errors = errors
        self.wireguard = wireguard
    }
}
