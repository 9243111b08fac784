import OverlayModel

/// Everything one node must build: the document `overlayctl plan NODE --json` prints and the agent
/// consumes. Bump `currentVersion` on any change an older agent would misread.
public struct NodePlan: Codable, Equatable, Sendable {
    /// 2: IPv4 beside IPv6 (`ipv4` of a network, `ipv4Address` of a workload, IPv4 prefixes in
    /// AllowedIPs and routes) and egress; relay failover (`failover` names both relay hubs and
    /// what each relays, decided on the data path). A version-1 agent would build IPv6 only and
    /// leave the IPv4 prefixes unrouted, and would read no failover, so it must refuse these plans.
    /// 3: a relay hub's forwarder (`relayForwarder`, its port among the host's WireGuard ports) and
    /// a member's detour to each hub (`RelayHubPlan.detour`). A version-2 relay hub would not
    /// forward, and its members would detour into a closed port.
    public static let currentVersion = 3

    public var version: Int
    public var node: String
    /// The store revision this plan was computed at; it only grows.
    public var revision: Int64
    public var hostFirewall: HostFirewallPlan
    /// Sorted by network name.
    public var networks: [NetworkResourcePlan]
    /// Present on gateway nodes.
    public var gateway: GatewayPlan?

    public init(
        node: String, revision: Int64, hostFirewall: HostFirewallPlan,
        networks: [NetworkResourcePlan], gateway: GatewayPlan?
    ) {
        self.version = NodePlan.currentVersion
        self.node = node
        self.revision = revision
        self.hostFirewall = hostFirewall
        self.networks = networks
        self.gateway = gateway
    }
}

/// The host namespace's table: policy drop, except these UDP ports (one per network resource, and
/// a relay hub's forwarder ports) and, on a gateway, the public ports its routes serve.
public struct HostFirewallPlan: Codable, Equatable, Sendable {
    /// Where WireGuard datagrams arrive: the listen ports and the relay forwarders' ports. Sorted.
    public var wireguardPorts: [UInt16]
    /// Whether a network on this node has egress: the host forwards the transfer links' traffic
    /// out and masquerades it.
    public var egress: Bool = false
    /// 80 and 443 when the gateway serves names, plus every `--tcp` mapping. Sorted.
    public var gatewayTCPPorts: [UInt16]
    /// Every `--udp` mapping. Sorted.
    public var gatewayUDPPorts: [UInt16]
    /// WireGuard datagrams from these endpoints are dropped: the relay hubs a member reaches
    /// through a detour, so that WireGuard does not roam back onto a path that carries
    /// only the hub's direction. Set by the agent from its failover state, never in a plan.
    public var ignoredEndpoints: [Endpoint] = []

    public init(
        wireguardPorts: [UInt16], gatewayTCPPorts: [UInt16] = [], gatewayUDPPorts: [UInt16] = [], egress: Bool = false
    ) {
        self.wireguardPorts = wireguardPorts
        self.egress = egress
        self.gatewayTCPPorts = gatewayTCPPorts
        self.gatewayUDPPorts = gatewayUDPPorts
    }

    enum CodingKeys: String, CodingKey { case wireguardPorts, gatewayTCPPorts, gatewayUDPPorts, egress }

    /// Plans written before gateways had ports read as "no gateway ports".
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        wireguardPorts = try c.decode([UInt16].self, forKey: .wireguardPorts)
        gatewayTCPPorts = try c.decodeIfPresent([UInt16].self, forKey: .gatewayTCPPorts) ?? []
        gatewayUDPPorts = try c.decodeIfPresent([UInt16].self, forKey: .gatewayUDPPorts) ?? []
        egress = try c.decodeIfPresent(Bool.self, forKey: .egress) ?? false
    }
}

/// One network present on this node.
public struct NetworkResourcePlan: Codable, Equatable, Sendable {
    public var name: String
    public var id: String
    /// The network's /48.
    public var prefix: IPv6Prefix
    /// This node's /64.
    public var subnet: IPv6Prefix
    /// `::1` of the subnet, on the bridge.
    public var routerAddress: IPv6Address
    public var mtu: Int
    /// `ovl-<id>`: holds the WireGuard interface and the bridge.
    public var namespace: String
    /// `wg-<id>`.
    public var interface: String
    /// `br-<id>`.
    public var bridge: String
    public var listenPort: UInt16
    public var publicKey: WireGuardKey
    /// The WireGuard private key sealed to this node's identity (base64 of the crypto_box_seal box).
    public var sealedPrivateKey: String
    /// Sorted by public key bytes.
    public var peers: [PeerPlan]
    /// Destinations routed over `interface` in `namespace`. The whole /48 by default: WireGuard's
    /// AllowedIPs already route per peer, and one route never changes as members come and go.
    public var routes: [IPPrefix]
    /// Sorted by name.
    public var workloads: [WorkloadPlan]
    public var firewall: NetworkFirewallPlan
    /// With two relay hubs and something relayed through them: which prefixes this member moves to
    /// the other hub while one is out of service (docs/failover.md).
    public var failover: FailoverPlan?
    /// The IPv4 half; nil for an IPv6-only network.
    public var ipv4: NetworkIPv4Plan?
    /// The way out to the internet through this node; nil for a sealed network.
    public var egress: EgressPlan?
    /// On a relay hub of a network with hidden members: its forwarder to the other relay hub.
    public var relayForwarder: RelayForwarderPlan?

    public init(
        name: String, id: String, prefix: IPv6Prefix, subnet: IPv6Prefix, routerAddress: IPv6Address,
        mtu: Int, namespace: String, interface: String, bridge: String, listenPort: UInt16,
        publicKey: WireGuardKey, sealedPrivateKey: String, peers: [PeerPlan], routes: [IPPrefix],
        workloads: [WorkloadPlan], firewall: NetworkFirewallPlan, failover: FailoverPlan?,
        ipv4: NetworkIPv4Plan? = nil, egress: EgressPlan? = nil, relayForwarder: RelayForwarderPlan? = nil
    ) {
        self.name = name
        self.id = id
        self.prefix = prefix
        self.subnet = subnet
        self.routerAddress = routerAddress
        self.mtu = mtu
        self.namespace = namespace
        self.interface = interface
        self.bridge = bridge
        self.listenPort = listenPort
        self.publicKey = publicKey
        self.sealedPrivateKey = sealedPrivateKey
        self.peers = peers
        self.routes = routes
        self.workloads = workloads
        self.firewall = firewall
        self.failover = failover
        self.ipv4 = ipv4
        self.egress = egress
        self.relayForwarder = relayForwarder
    }
}

/// A relay hub's forwarder: what arrives on `port` (in the host, from anywhere) is passed on to
/// `target`, the other relay hub's WireGuard endpoint, from one socket per sender, and the
/// answers back. A hidden member whose own path to that hub broke sends through it; WireGuard
/// sessions, keys and AllowedIPs stay as they are (docs/failover.md).
public struct RelayForwarderPlan: Codable, Equatable, Sendable {
    public var port: UInt16
    public var target: Endpoint

    public init(port: UInt16, target: Endpoint) {
        self.port = port
        self.target = target
    }
}

/// A network's IPv4 prefix and this node's /24 of it, `.1` on the bridge.
public struct NetworkIPv4Plan: Codable, Equatable, Sendable {
    public var prefix: IPv4Prefix
    public var subnet: IPv4Prefix
    public var routerAddress: IPv4Address

    public init(prefix: IPv4Prefix, subnet: IPv4Prefix, routerAddress: IPv4Address) {
        self.prefix = prefix
        self.subnet = subnet
        self.routerAddress = routerAddress
    }
}

/// Egress through this node: NAT44 of the network's IPv4 prefix out of the node's uplink, and
/// NAT66 of its /48 where the node has a public IPv6 address. The traffic leaves the network
/// namespace over a transfer veth (`interface` there, `hostInterface` in the agent's namespace):
/// both are masqueraded once, in the host, which routes the network's IPv4 prefix to `address`
/// and its /48 to `address6`. A network whose IPv4 prefix overlaps another egress network's on
/// the node cannot be routed so (the host has one routing table): its IPv4 is masqueraded to
/// `address` in the network namespace first (`NetworkResourcePlan.hostRoutedIPv4`).
public struct EgressPlan: Codable, Equatable, Sendable {
    public var nat44: Bool
    public var nat66: Bool
    /// `vx-<id>`, in the network namespace.
    public var interface: String
    /// `ovx-<id>`, in the agent's namespace.
    public var hostInterface: String
    /// The network namespace's end (`100.127.0.0` + the listen port: unique on the node).
    public var address: IPv4Address
    /// The host's end, the namespace's default gateway.
    public var gateway: IPv4Address

    public init(
        nat44: Bool, nat66: Bool, interface: String, hostInterface: String, address: IPv4Address,
        gateway: IPv4Address = AddressPlan.transferGateway
    ) {
        self.nat44 = nat44
        self.nat66 = nat66
        self.interface = interface
        self.hostInterface = hostInterface
        self.address = address
        self.gateway = gateway
    }

    /// Whether the transfer link exists at all: NAT44, NAT66 or both.
    public var needsTransfer: Bool { nat44 || nat66 }

    /// The namespace's IPv6 end (NAT66), from the same listen port as `address`.
    public var address6: IPv6Address {
        AddressPlan.transferAddress6(
            listenPort: UInt16(truncatingIfNeeded: address.value &- AddressPlan.transferIPv4.network.value))
    }

    /// The host's IPv6 end, the namespace's IPv6 default gateway.
    public var gateway6: IPv6Address { AddressPlan.transferGateway6 }
}

public struct PeerPlan: Codable, Equatable, Hashable, Sendable {
    public enum Kind: String, Codable, Sendable { case node, access }

    public var name: String
    public var kind: Kind
    public var publicKey: WireGuardKey
    /// Nil for peers that dial in (hidden nodes, access peers).
    public var endpoint: Endpoint?
    public var allowedIPs: [IPPrefix]
    public var persistentKeepalive: UInt16?

    public init(
        name: String, kind: Kind, publicKey: WireGuardKey, endpoint: Endpoint?, allowedIPs: [IPPrefix],
        persistentKeepalive: UInt16?
    ) {
        self.name = name
        self.kind = kind
        self.publicKey = publicKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.persistentKeepalive = persistentKeepalive
    }
}

public struct WorkloadPlan: Codable, Equatable, Hashable, Sendable {
    public var name: String
    public var address: IPv6Address
    /// The same host number in the node's /24; nil in an IPv6-only network.
    public var ipv4Address: IPv4Address?
    /// The workload's own network namespace; the agent creates it when missing.
    public var namespace: String
    /// The veth end on the bridge, inside the network namespace (`vw-<host number in hex>`).
    public var hostInterface: String
    /// The veth end inside the workload namespace.
    public var interface: String
    public var exposed: [PortSpec]

    public init(
        name: String, address: IPv6Address, ipv4Address: IPv4Address? = nil, namespace: String,
        hostInterface: String, interface: String = "ovl0", exposed: [PortSpec]
    ) {
        self.name = name
        self.address = address
        self.ipv4Address = ipv4Address
        self.namespace = namespace
        self.hostInterface = hostInterface
        self.interface = interface
        self.exposed = exposed
    }
}

/// The network namespace's table (`inet overlay`): what may open a connection to a workload.
public struct NetworkFirewallPlan: Codable, Equatable, Sendable {
    /// Sources must lie in the network's /48 (no spoofing).
    public var prefix: IPv6Prefix
    /// IPv4 sources must lie in the network's IPv4 prefix; nil: IPv4 is not forwarded at all.
    public var ipv4Prefix: IPv4Prefix?
    /// Overlay addresses the gateways proxy from: they reach only `exposed`, nothing else.
    public var gatewaySources: [IPv6Address]
    /// Elements of the `ipv6_addr . inet_proto . inet_service` set: exposed ports of local workloads.
    public var exposed: [ExposedPort]

    public init(
        prefix: IPv6Prefix, ipv4Prefix: IPv4Prefix? = nil, gatewaySources: [IPv6Address], exposed: [ExposedPort]
    ) {
        self.prefix = prefix
        self.ipv4Prefix = ipv4Prefix
        self.gatewaySources = gatewaySources
        self.exposed = exposed
    }
}

public struct ExposedPort: Codable, Equatable, Hashable, Comparable, Sendable {
    public var address: IPv6Address
    public var proto: PortSpec.Proto
    public var port: UInt16

    public init(address: IPv6Address, proto: PortSpec.Proto, port: UInt16) {
        self.address = address
        self.proto = proto
        self.port = port
    }

    public static func < (a: Self, b: Self) -> Bool { (a.address, a.proto, a.port) < (b.address, b.proto, b.port) }
}

/// The network's two relay hubs as this member uses them, and when to stop and start using one
/// (docs/failover.md). Every member that routes something through a relay hub gets one: hidden
/// members and the members that reach hidden members through a hub. The agent probes each hub's
/// router address through the tunnel; while a hub is out of service its `relayed` prefixes sit on
/// the other hub's peer, and what it serves itself (its /64, its access peers) stays on its peer.
public struct FailoverPlan: Codable, Equatable, Sendable {
    /// The two relay hubs, lower subnet ID first.
    public var hubs: [RelayHubPlan]
    public var thresholds: FailoverThresholds

    public init(hubs: [RelayHubPlan], thresholds: FailoverThresholds = .init()) {
        self.hubs = hubs
        self.thresholds = thresholds
    }
}

public struct RelayHubPlan: Codable, Equatable, Sendable {
    public var name: String
    public var publicKey: WireGuardKey
    /// The hub's own /64: the probes go to its router address (`::1`).
    public var subnet: IPv6Prefix
    /// The addresses of the access peers that dial the hub. With its /64 they stay on its peer
    /// when it is out of service: only the hub itself can deliver to them.
    public var access: [IPPrefix]
    /// What this member sends through the hub only because the hub relays it (hidden members'
    /// /64s and /24s; the whole network, both families, on a hidden member whose primary it is).
    /// In member order.
    public var relayed: [IPPrefix]
    /// Whether this hub is this (hidden) member's primary relay.
    public var isPrimary: Bool
    /// The other hub's forwarder: the endpoint to give this hub's peer while the direct path to it
    /// does not answer (nil when the other hub has no relay port).
    public var detour: Endpoint?

    public init(
        name: String, publicKey: WireGuardKey, subnet: IPv6Prefix, access: [IPPrefix], relayed: [IPPrefix],
        isPrimary: Bool, detour: Endpoint? = nil
    ) {
        self.name = name
        self.publicKey = publicKey
        self.subnet = subnet
        self.access = access
        self.relayed = relayed
        self.isPrimary = isPrimary
        self.detour = detour
    }

    public var routerAddress: IPv6Address { AddressPlan.routerAddress(subnet) }
}

/// When a hub counts as down, up again, and back in service. Milliseconds.
public struct FailoverThresholds: Codable, Equatable, Sendable {
    /// One probe per hub per interval.
    public var probeInterval: Int
    /// No sign of life for this long: the hub is down and goes out of service.
    public var downAfter: Int
    /// Answering without a loss for this long: the hub is up again.
    public var upAfter: Int
    /// Up without a loss for this long: the hub is back in service (at once when no hub is in service).
    public var returnAfter: Int

    public init(probeInterval: Int = 1000, downAfter: Int = 3500, upAfter: Int = 2000, returnAfter: Int = 10_000) {
        self.probeInterval = probeInterval
        self.downAfter = downAfter
        self.upAfter = upAfter
        self.returnAfter = returnAfter
    }
}

/// What a gateway node serves.
public struct GatewayPlan: Codable, Equatable, Sendable {
    public var domain: String?
    /// Sorted by name.
    public var routes: [GatewayRoutePlan]

    public init(domain: String?, routes: [GatewayRoutePlan]) {
        self.domain = domain
        self.routes = routes
    }
}

public struct GatewayRoutePlan: Codable, Equatable, Sendable {
    public var name: String
    public var match: GatewayRoute.Match
    /// The served name for HTTP/TLS routes.
    public var host: String?
    public var tlsPassthrough: Bool
    public var network: String
    /// The namespace the backends are reached from (`ovl-<id>` of `network`): the proxy opens
    /// its connections to them there and nowhere else.
    public var namespace: String
    public var backends: [GatewayBackendPlan]
    public var balance: GatewayRoute.Balance
    /// TLS terminated at the gateway; the key sealed to this node's identity.
    public var tls: GatewayTLSPlan?

    public init(
        name: String, match: GatewayRoute.Match, host: String?, tlsPassthrough: Bool, network: String,
        namespace: String, backends: [GatewayBackendPlan], balance: GatewayRoute.Balance = .roundrobin,
        tls: GatewayTLSPlan? = nil
    ) {
        self.name = name
        self.match = match
        self.host = host
        self.tlsPassthrough = tlsPassthrough
        self.network = network
        self.namespace = namespace
        self.backends = backends
        self.balance = balance
        self.tls = tls
    }
}

/// A certificate chain (PEM) and its private key sealed to the gateway node's identity (base64 of
/// the crypto_box_seal box, like `sealedPrivateKey`).
public struct GatewayTLSPlan: Codable, Equatable, Sendable {
    public var certificate: String
    public var sealedKey: String

    public init(certificate: String, sealedKey: String) {
        self.certificate = certificate
        self.sealedKey = sealedKey
    }
}

public struct GatewayBackendPlan: Codable, Equatable, Sendable {
    public var workload: String
    public var address: IPv6Address
    public var port: UInt16

    public init(workload: String, address: IPv6Address, port: UInt16) {
        self.workload = workload
        self.address = address
        self.port = port
    }
}

// Link-layer addresses follow from the plan's values (the network id, the workload's address)
// and are not encoded: plans signed before they existed read the same.
extension NetworkResourcePlan {
    /// A fixed, locally administered MAC for the bridge (02 + the network id's four bytes + 01):
    /// the router address's link-layer address must not change when workloads come and go.
    public var bridgeMAC: [UInt8] {
        let bytes = idBytes
        return [0x02, bytes[0], bytes[1], bytes[2], bytes[3], 0x01]
    }

    /// The id's first four bytes (it is hex, as `Network.id` is made); zero where it is not.
    var idBytes: [UInt8] {
        let hex = Array(id.utf8.prefix(8))
        return (0..<4).map { i in
            guard 2 * i + 1 < hex.count, let hi = Self.nibble(hex[2 * i]), let lo = Self.nibble(hex[2 * i + 1]) else {
                return 0
            }
            return hi << 4 | lo
        }
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension WorkloadPlan {
    /// A fixed MAC for the workload's interface (06 + the network id's first two bytes + the low
    /// three bytes of its host number): a workload re-created at the same address keeps its MAC,
    /// so the router's neighbour entry stays right instead of pointing at the old interface until
    /// neighbour discovery gives up on it. Unique on its bridge, never equal to the bridge's (02...).
    public func mac(in network: NetworkResourcePlan) -> [UInt8] {
        let id = network.idBytes
        let host = address.low  // the address is the node's /64 + the host number
        return [
            0x06, id[0], id[1], UInt8(truncatingIfNeeded: host >> 16), UInt8(truncatingIfNeeded: host >> 8),
            UInt8(truncatingIfNeeded: host),
        ]
    }
}

extension NetworkResourcePlan {
    /// The IPv4 prefixes of `networks` (one node's) that the host routes to their transfer links
    /// and masquerades once: those of networks with NAT44 whose prefix overlaps no other such
    /// network's. The others keep a masquerade in their namespace (to the transfer address)
    /// before the host's, so their prefixes never meet in the host's routing table.
    public static func hostRoutedIPv4(_ networks: [NetworkResourcePlan]) -> [String: IPv4Prefix] {
        let nat44 = networks.compactMap { n -> (id: String, prefix: IPv4Prefix)? in
            guard n.egress?.nat44 == true, let p = n.ipv4?.prefix else { return nil }
            return (n.id, p)
        }
        var out: [String: IPv4Prefix] = [:]
        for (i, a) in nat44.enumerated()
        where !nat44.enumerated().contains(where: { $0.offset != i && $0.element.prefix.overlaps(a.prefix) }) {
            out[a.id] = a.prefix
        }
        return out
    }
}
