import Foundation
import NFTables
import Netlink
import OverlayModel
import WireGuard

/// What the kernel holds right now, reduced to what the reconciler decides on. Filled by
/// `LinuxKernel.observe` (netlink dumps, UAPI, nftables read-back) or by a fake in tests.
public struct ObservedState: Sendable {
    /// Names under /run/netns.
    public var namespaces: Set<String>
    /// The agent's own namespace: links named `wg-*` not yet moved, and its firewall.
    public var host: NamespaceState
    /// Every existing `ovl-*` namespace (ours by name), keyed by name.
    public var networkNamespaces: [String: NamespaceState]
    /// Workload namespaces that exist and that the plan names or the agent created.
    public var workloadNamespaces: [String: NamespaceState]
    /// Running WireGuard interfaces named `wg-*` (their UAPI socket answers), read back.
    public var wireguard: [String: Device]
    /// Workload namespaces the agent created (recorded in its state directory): only these are
    /// ever deleted.
    public var ownedWorkloadNamespaces: Set<String>
    /// Objects that exist but could not be read this time (a dump that failed, a wireguard-go
    /// that did not answer), with the error. Neither present nor absent: the reconciler leaves
    /// them alone and the next pass reads them again.
    public var unreadable: [ObservedObject: String]
    /// Host sysctls the agent changed, with the values they had before (from its state
    /// directory): `down`, or the last egress network leaving, puts them back.
    public var recordedSysctls: [String: String] = [:]
    /// The interface of the host's IPv6 default route and its `accept_ra`; nil without one.
    public var uplink6: Uplink?
    /// Whether `br_netfilter` is loaded (a new namespace then starts with its hooks on).
    public var bridgeNetfilterLoaded: Bool = false

    public init(
        namespaces: Set<String> = [], host: NamespaceState = NamespaceState(),
        networkNamespaces: [String: NamespaceState] = [:], workloadNamespaces: [String: NamespaceState] = [:],
        wireguard: [String: Device] = [:], ownedWorkloadNamespaces: Set<String> = [],
        unreadable: [ObservedObject: String] = [:]
    ) {
        self.namespaces = namespaces
        self.host = host
        self.networkNamespaces = networkNamespaces
        self.workloadNamespaces = workloadNamespaces
        self.wireguard = wireguard
        self.ownedWorkloadNamespaces = ownedWorkloadNamespaces
        self.unreadable = unreadable
    }

    public func isUnreadable(_ object: ObservedObject) -> Bool { unreadable[object] != nil }
}

/// The host's IPv6 uplink, for what turning IPv6 forwarding on does to it.
public struct Uplink: Sendable, Equatable {
    public var name: String
    /// `accept_ra` as read ("0", "1", "2"); nil when it could not be read.
    public var acceptRA: String?

    public init(name: String, acceptRA: String?) {
        self.name = name
        self.acceptRA = acceptRA
    }
}

/// Something `observe` reads on its own and can fail to read on its own.
public enum ObservedObject: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// A network or workload namespace's links, addresses, routes and table.
    case namespace(String)
    /// A WireGuard device's configuration (UAPI `get` or generic netlink `GET_DEVICE`).
    case wireguard(String)

    public var description: String {
        switch self {
        case .namespace(let n): return "netns \(n)"
        case .wireguard(let n): return "wireguard \(n)"
        }
    }
}

/// A pass that applied what it safely could but left objects it could not read untouched.
public struct UnreadableStateError: Error, CustomStringConvertible {
    public var unreadable: [ObservedObject: String]
    /// The actions applied before the error was reported.
    public var applied: [AgentAction]

    public var description: String {
        "could not read "
            + unreadable.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            + " (left as it is; \(applied.count) other actions applied; retried next pass)"
    }
}

/// One namespace's links, routes, forwarding switch and `inet overlay` table.
public struct NamespaceState: Sendable, Equatable {
    public var links: [String: LinkState]
    /// Static IPv6 and IPv4 routes of the main table (the ones an agent or an admin adds; kernel
    /// routes for addresses are left out).
    public var routes: Set<RouteState>
    /// `net.ipv6.conf.all.forwarding`; nil when not read (workload namespaces).
    public var forwarding: Bool?
    /// `net.ipv4.ip_forward`; nil when not read.
    public var forwarding4: Bool?
    /// `net.ipv6.conf.default.accept_dad` is not 0: links made from now on run duplicate address
    /// detection on their link-local addresses. nil when not read.
    public var duplicateAddressDetection: Bool?
    /// nil when the namespace has no `inet overlay` table.
    public var firewall: FirewallState?
    /// Whether `br_netfilter` runs the IP hooks for the namespace's bridged frames
    /// (`net.bridge.bridge-nf-call-ip{,6}tables`); false when the module is not loaded or not read.
    public var bridgeNetfilter: Bool = false

    public init(
        links: [String: LinkState] = [:], routes: Set<RouteState> = [], forwarding: Bool? = nil,
        firewall: FirewallState? = nil, forwarding4: Bool? = nil, duplicateAddressDetection: Bool? = nil
    ) {
        self.links = links
        self.routes = routes
        self.forwarding = forwarding
        self.forwarding4 = forwarding4
        self.duplicateAddressDetection = duplicateAddressDetection
        self.firewall = firewall
    }
}

public struct LinkState: Sendable, Hashable {
    public var name: String
    /// `bridge`, `veth`, `tun`...; nil for links without a kind (loopback).
    public var kind: LinkKind?
    public var up: Bool
    public var mtu: UInt32
    /// The master's name (a bridge port's bridge).
    public var master: String?
    /// Global and ULA IPv6 addresses (link-local ones are the kernel's business).
    public var addresses: Set<IPPrefix>

    public init(
        name: String, kind: LinkKind?, up: Bool, mtu: UInt32, master: String? = nil, addresses: Set<IPPrefix> = []
    ) {
        self.name = name
        self.kind = kind
        self.up = up
        self.mtu = mtu
        self.master = master
        self.addresses = addresses
    }
}

/// A route by what it means: destination, next hop, device name.
public struct RouteState: Sendable, Hashable, CustomStringConvertible {
    public var destination: IPPrefix
    public var gateway: IPAddress?
    public var device: String

    public init(destination: IPPrefix, gateway: IPAddress? = nil, device: String) {
        self.destination = destination
        self.gateway = gateway
        self.device = device
    }

    public var description: String {
        (destination.length == 0 ? "default" : destination.masked.description)
            + (gateway.map { " via \($0)" } ?? "") + " dev \(device)"
    }
}

/// An installed `inet overlay` table, summarised: the fingerprint the agent wrote into it and the
/// shape (rules per chain, elements per set), so a hand-deleted rule or element shows as drift.
public struct FirewallState: Sendable, Hashable {
    public var fingerprint: String?
    public var rulesPerChain: [String: Int]
    public var elementsPerSet: [String: Int]

    public init(fingerprint: String?, rulesPerChain: [String: Int], elementsPerSet: [String: Int]) {
        self.fingerprint = fingerprint
        self.rulesPerChain = rulesPerChain
        self.elementsPerSet = elementsPerSet
    }
}
