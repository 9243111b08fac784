import Foundation
import NFTables
import OverlayModel
import OverlayPlanner
import WireGuard

/// The decision: from a plan, the opened keys and what the kernel holds, the ordered list of
/// actions that makes the kernel match. Pure: no I/O, no clock (`now` is passed in), so the
/// whole policy is tested against plain values. The empty list means "nothing to send".
public enum Reconciler {
    public static let networkNamespacePrefix = "ovl-"
    public static let wireguardPrefix = "wg-"
    static let forwardingKey = "net.ipv6.conf.all.forwarding"
    static let forwardingKey4 = "net.ipv4.ip_forward"
    /// Links made in a namespace take this as their own `accept_dad`. With 1 (the kernel's default)
    /// a new bridge's link-local address stays tentative for 1 to 2 s, and the router cannot
    /// resolve a workload's neighbour entry for forwarded packets meanwhile (neighbour solicitations
    /// for them need a usable link-local source). The namespace's addresses are unique by
    /// construction, so nothing is lost by skipping the check.
    static let dadKey = "net.ipv6.conf.default.accept_dad"
    /// `br_netfilter`'s switches, per namespace: frames between a network's workloads stay on its
    /// bridge, and its filtering is on the routed path, so the IP hooks need not run twice.
    static let bridgeNetfilterKeys = ["net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"]
    /// The host's ends of the egress transfer links.
    public static let transferPrefix = "ovx-"

    /// - Parameters:
    ///   - plan: the desired state; nil tears everything down (`overlay-agent down`).
    ///   - keys: WireGuard private keys by interface name (opened from the plan's sealed keys).
    ///   - probeGates: per network (name), the instant its relay hub starts answering probes
    ///     (`probeGates(plan:observed:now:current:)`).
    public static func actions(
        plan: NodePlan?, keys: [String: SecretKey], observed: ObservedState, now: Date,
        probeGates: [String: UInt64] = [:]
    ) -> [AgentAction] {
        var out: [AgentAction] = []
        let networks = plan?.networks ?? []
        let wantedNamespaces = Set(networks.map(\.namespace))
        let wantedInterfaces = Set(networks.map(\.interface))
        let wantedWorkloadNamespaces = Set(networks.flatMap { $0.workloads.map(\.namespace) })

        // 1. The node's own door first: nothing is exposed before the host table is in place.
        if let plan {
            let table = Firewall.hostTable(plan.hostFirewall, networks: plan.networks)
            if observed.host.firewall != Firewall.expectedState(table) {
                out.append(.replaceFirewall(namespace: nil, table))
            }
            // Egress needs the host to forward; the table above is already in place and decides
            // only about the overlay's own traffic.
            out += hostSysctlActions(plan, observed: observed)
        }

        // 2. What no longer belongs: networks, then stray tunnels, then workload namespaces we made
        //    for workloads that are gone. Removing first frees ports and names the new state reuses.
        //    A tunnel goes with the namespace that holds its link; what cannot be read stays.
        func holder(_ wg: String) -> String? {
            observed.networkNamespaces.keys.sorted().first { observed.networkNamespaces[$0]?.links[wg] != nil }
        }
        let unwantedNamespaces = observed.networkNamespaces.keys.sorted().filter {
            !wantedNamespaces.contains($0) && !observed.isUnreadable(.namespace($0))
        }
        for ns in unwantedNamespaces {
            for wg in observed.wireguard.keys.sorted() where holder(wg) == ns { out.append(.stopWireGuard(wg)) }
            out.append(.deleteNamespace(ns, workload: false))
        }
        for wg in observed.wireguard.keys.sorted() where !wantedInterfaces.contains(wg) {
            if let ns = holder(wg), unwantedNamespaces.contains(ns) { continue }
            out.append(.stopWireGuard(wg))
        }
        for name in observed.host.links.keys.sorted()
        where name.hasPrefix(wireguardPrefix) && !wantedInterfaces.contains(name) && observed.wireguard[name] == nil
            && !observed.isUnreadable(.wireguard(name))
        {
            out.append(.deleteLink(namespace: nil, name: name))
        }
        let wantedTransfers = Set(
            networks.compactMap { $0.egress?.needsTransfer == true ? $0.egress?.hostInterface : nil })
        for name in observed.host.links.keys.sorted()
        where name.hasPrefix(transferPrefix) && !wantedTransfers.contains(name) {
            out.append(.deleteLink(namespace: nil, name: name))
        }
        for ns in observed.ownedWorkloadNamespaces.sorted()
        where !wantedWorkloadNamespaces.contains(ns) && observed.namespaces.contains(ns) {
            out.append(.deleteNamespace(ns, workload: true))
        }

        // 3. Each network, in plan order.
        let routed4 = NetworkResourcePlan.hostRoutedIPv4(networks)
        for network in networks where !observed.isUnreadable(.namespace(network.namespace)) {
            out += networkActions(
                network, key: keys[network.interface], observed: observed, now: now,
                hostRoutesIPv4: routed4[network.id] != nil, probeGate: probeGates[network.name])
        }

        // 4. Tear-down of the host table last, so the node stays closed while the rest goes; the
        //    host's sysctls go back to what they were once nothing needs them.
        let keep = plan.map { wantedHostSysctls($0, observed: observed) } ?? []
        // An uplink's accept_ra last: it goes back to 1 once the host no longer forwards IPv6.
        let restores = observed.recordedSysctls.sorted {
            ($0.key.hasSuffix("/accept_ra") ? 1 : 0, $0.key) < ($1.key.hasSuffix("/accept_ra") ? 1 : 0, $1.key)
        }
        for (key, value) in restores where !keep.contains(key) {
            out.append(.restoreSysctl(key: key, value: value))
        }
        if plan == nil && observed.host.firewall != nil {
            out.append(.deleteFirewall(namespace: nil))
        }
        return out
    }

    /// IPv4 forwarding for NAT44; IPv6 forwarding for NAT66. Turning IPv6 forwarding on makes the
    /// kernel ignore router advertisements on every interface whose `accept_ra` is 1, so the
    /// uplink (the interface of the IPv6 default route) gets 2 first, which accepts them while
    /// forwarding; a host that already forwards IPv6 is left as it is.
    static func hostSysctlActions(_ plan: NodePlan, observed: ObservedState) -> [AgentAction] {
        var out: [AgentAction] = []
        if plan.hostFirewall.egress && observed.host.forwarding4 != true {
            out.append(.setSysctl(namespace: nil, key: forwardingKey4, value: "1"))
        }
        if needsIPv6Forwarding(plan) && observed.host.forwarding != true {
            if let uplink = observed.uplink6, uplink.acceptRA == "1" {
                out.append(.setSysctl(namespace: nil, key: acceptRAKey(uplink.name), value: "2"))
            }
            out.append(.setSysctl(namespace: nil, key: forwardingKey, value: "1"))
        }
        return out
    }

    /// The recorded host sysctls the plan still needs; the others are restored.
    static func wantedHostSysctls(_ plan: NodePlan, observed: ObservedState) -> Set<String> {
        var keys: Set<String> = []
        if plan.hostFirewall.egress { keys.insert(forwardingKey4) }
        if needsIPv6Forwarding(plan) {
            keys.insert(forwardingKey)
            keys.formUnion(observed.recordedSysctls.keys.filter { $0.hasSuffix("/accept_ra") })
        }
        return keys
    }

    static func needsIPv6Forwarding(_ plan: NodePlan) -> Bool {
        plan.networks.contains { $0.egress?.nat66 == true }
    }

    /// In path form: interface names may contain dots (`eth0.100`).
    static func acceptRAKey(_ interface: String) -> String {
        "/proc/sys/net/ipv6/conf/\(interface)/accept_ra"
    }

    /// The host's table for an agent about to open its first connection to the controller, when
    /// the host has none yet: the cached plan's, or one that lets nothing in but replies. A TCP
    /// connection opened before the table exists is not tracked from its start; once the table's
    /// "replies only" rule is in force, the answers on it can be dropped (a long-poll answered
    /// later then hangs until its deadline). Nil when a table is there: the first pass decides.
    public static func hostTableBeforeConnecting(plan: NodePlan?, host: NamespaceState) -> AgentAction? {
        guard host.firewall == nil else { return nil }
        return .replaceFirewall(
            namespace: nil,
            Firewall.hostTable(
                plan?.hostFirewall ?? HostFirewallPlan(wireguardPorts: []), networks: plan?.networks ?? []))
    }

    static func networkActions(
        _ n: NetworkResourcePlan, key: SecretKey?, observed: ObservedState, now: Date, hostRoutesIPv4: Bool = true,
        probeGate: UInt64? = nil
    ) -> [AgentAction] {
        var out: [AgentAction] = []
        let ns = n.namespace
        let mtu = UInt32(n.mtu)
        let exists = observed.namespaces.contains(ns)
        let state = (exists ? observed.networkNamespaces[ns] : nil) ?? NamespaceState()
        if !exists { out.append(.createNamespace(ns, workload: false)) }

        if state.forwarding != true { out.append(.setSysctl(namespace: ns, key: forwardingKey, value: "1")) }
        // Before any link: a link takes the namespace's default when it is made.
        if state.duplicateAddressDetection != false { out.append(.setSysctl(namespace: ns, key: dadKey, value: "0")) }
        if n.ipv4 != nil && state.forwarding4 != true {
            out.append(.setSysctl(namespace: ns, key: forwardingKey4, value: "1"))
        }
        if state.bridgeNetfilter || (!exists && observed.bridgeNetfilterLoaded) {
            for key in bridgeNetfilterKeys { out.append(.setSysctl(namespace: ns, key: key, value: "0")) }
        }
        if state.links["lo"]?.up != true { out.append(.setUp(namespace: ns, link: "lo")) }

        // The table goes in before any workload is attached: conntrack starts tracking in a
        // namespace only once a rule uses it.
        let table = Firewall.networkTable(n, hostRoutesIPv4: hostRoutesIPv4, probesAnsweredFrom: probeGate)
        if state.firewall != Firewall.expectedState(table) { out.append(.replaceFirewall(namespace: ns, table)) }

        // Bridge with the router addresses: ::1 of the /64, .1 of the /24.
        var routerPrefixes: Set<IPPrefix> = [IPPrefix(address: .v6(n.routerAddress), length: 64)!]
        if let v4 = n.ipv4 {
            routerPrefixes.insert(IPPrefix(address: .v4(v4.routerAddress), length: v4.subnet.length)!)
        }
        var bridge = state.links[n.bridge]
        if let b = bridge, b.kind != .bridge {
            out.append(.deleteLink(namespace: ns, name: n.bridge))
            bridge = nil
        }
        if let b = bridge {
            if b.mtu != mtu { out.append(.setMTU(namespace: ns, link: n.bridge, mtu: mtu)) }
            if !b.up { out.append(.setUp(namespace: ns, link: n.bridge)) }
        } else {
            out.append(.createBridge(namespace: ns, name: n.bridge, mtu: mtu, mac: n.bridgeMAC))
        }
        out += addressActions(ns, n.bridge, have: bridge?.addresses ?? [], want: routerPrefixes)

        // Workloads that left: their veth (the pair goes with it), before new ones may reuse names.
        let wantedHostLinks = Set(n.workloads.map(\.hostInterface))
        for (name, link) in state.links.sorted(by: { $0.key < $1.key })
        where link.kind == .veth && name.hasPrefix("vw-") && !wantedHostLinks.contains(name) {
            out.append(.deleteLink(namespace: ns, name: name))
        }

        // A device that did not answer is neither re-created nor reconfigured from a guess.
        if !observed.isUnreadable(.wireguard(n.interface)) {
            out += wireguardActions(n, key: key, state: state, observed: observed, now: now)
        }

        for w in n.workloads where !observed.isUnreadable(.namespace(w.namespace)) {
            out += workloadActions(w, network: n, state: state, observed: observed)
        }
        // Egress last: the overlay path (tunnel, bridge, workloads) is what a joining member is
        // waited for, and nothing on it needs the transfer link.
        out += transferActions(n, state: state, observed: observed, hostRoutesIPv4: hostRoutesIPv4)
        return out
    }

    static func wireguardActions(
        _ n: NetworkResourcePlan, key: SecretKey?, state: NamespaceState, observed: ObservedState, now: Date
    ) -> [AgentAction] {
        var out: [AgentAction] = []
        let ns = n.namespace
        let wg = n.interface
        let mtu = UInt32(n.mtu)
        let desired = DeviceConfig(
            privateKey: key, listenPort: n.listenPort,
            peers: n.peers.map {
                PeerConfig(
                    publicKey: $0.publicKey, endpoint: $0.endpoint, allowedIPs: $0.allowedIPs,
                    persistentKeepalive: $0.persistentKeepalive ?? 0)
            })
        var device = observed.wireguard[wg]
        var link = state.links[wg]
        let inHost = observed.host.links[wg] != nil

        // A tunnel whose link is nowhere (deleted by hand) cannot be repaired: start it again.
        if device != nil && link == nil && !inHost {
            out.append(.stopWireGuard(wg))
            device = nil
        }
        if device == nil {
            if link != nil { out.append(.deleteLink(namespace: ns, name: wg)) }
            out.append(.startWireGuard(wg))
            link = nil
        }
        if link == nil {
            // Created in the agent's namespace so the UDP socket stays on the uplink; then moved.
            out.append(.moveLink(wg, to: ns))
            out.append(.setMTU(namespace: ns, link: wg, mtu: mtu))
            out.append(.setUp(namespace: ns, link: wg))
        } else if let l = link {
            if l.mtu != mtu { out.append(.setMTU(namespace: ns, link: wg, mtu: mtu)) }
            if !l.up { out.append(.setUp(namespace: ns, link: wg)) }
        }
        let change = DeviceChange.between(current: device ?? Device(name: wg), desired: desired, now: now)
        if !change.isEmpty { out.append(.configureWireGuard(wg, change)) }

        // Routes over the tunnel; a re-created link lost them all.
        let have: Set<RouteState> = link == nil ? [] : state.routes.filter { $0.device == wg }
        let want = Set(n.routes.map { RouteState(destination: $0.masked, device: wg) })
        for r in have.subtracting(want).sorted(by: { $0.description < $1.description }) {
            out.append(.deleteRoute(namespace: ns, r))
        }
        for r in want.subtracting(have).sorted(by: { $0.description < $1.description }) {
            out.append(.addRoute(namespace: ns, r))
        }
        return out
    }

    static func workloadActions(
        _ w: WorkloadPlan, network n: NetworkResourcePlan, state: NamespaceState, observed: ObservedState
    ) -> [AgentAction] {
        var out: [AgentAction] = []
        let ns = n.namespace
        let wns = w.namespace
        let mtu = UInt32(n.mtu)
        let exists = observed.namespaces.contains(wns)
        let wstate = (exists ? observed.workloadNamespaces[wns] : nil) ?? NamespaceState()
        if !exists { out.append(.createNamespace(wns, workload: true)) }
        if wstate.links["lo"]?.up != true { out.append(.setUp(namespace: wns, link: "lo")) }

        var hostEnd = state.links[w.hostInterface]
        var inner = wstate.links[w.interface]
        if hostEnd == nil || inner == nil {
            // One end without the other is not our pair: clear it and make a fresh one.
            if inner != nil { out.append(.deleteLink(namespace: wns, name: w.interface)) }
            if hostEnd != nil { out.append(.deleteLink(namespace: ns, name: w.hostInterface)) }
            out.append(
                .createVeth(
                    namespace: ns, name: w.hostInterface, peer: w.interface, peerNamespace: wns, master: n.bridge,
                    mtu: mtu, peerMAC: w.mac(in: n)))
            hostEnd = nil
            inner = nil
        }
        if let h = hostEnd {
            if h.master != n.bridge { out.append(.setMaster(namespace: ns, link: w.hostInterface, master: n.bridge)) }
            if h.mtu != mtu { out.append(.setMTU(namespace: ns, link: w.hostInterface, mtu: mtu)) }
            if !h.up { out.append(.setUp(namespace: ns, link: w.hostInterface)) }
        }
        if let i = inner {
            if i.mtu != mtu { out.append(.setMTU(namespace: wns, link: w.interface, mtu: mtu)) }
            if !i.up { out.append(.setUp(namespace: wns, link: w.interface)) }
        } else {
            out.append(.setUp(namespace: wns, link: w.interface))
        }
        // The /128 sits on a /64 so the whole node subnet is on-link (neighbours on the bridge).
        // Likewise its IPv4 address on the node's /24.
        var addresses: Set<IPPrefix> = [IPPrefix(address: .v6(w.address), length: 64)!]
        var defaultRoutes: Set<RouteState> = [
            RouteState(
                destination: IPPrefix(address: .v6(IPv6Address(high: 0, low: 0)), length: 0)!,
                gateway: .v6(n.routerAddress), device: w.interface)
        ]
        if let a4 = w.ipv4Address, let v4 = n.ipv4 {
            addresses.insert(IPPrefix(address: .v4(a4), length: v4.subnet.length)!)
            defaultRoutes.insert(
                RouteState(
                    destination: IPPrefix(address: .v4(IPv4Address(0)), length: 0)!,
                    gateway: .v4(v4.routerAddress), device: w.interface))
        }
        out += addressActions(wns, w.interface, have: inner?.addresses ?? [], want: addresses)

        let have: Set<RouteState> = inner == nil ? [] : wstate.routes.filter { $0.device == w.interface }
        for r in have.subtracting(defaultRoutes).sorted(by: { $0.description < $1.description }) {
            out.append(.deleteRoute(namespace: wns, r))
        }
        for r in defaultRoutes.subtracting(have).sorted(by: { $0.description < $1.description }) {
            out.append(.addRoute(namespace: wns, r))
        }
        return out
    }

    /// The egress transfer link: the veth pair, its host addresses, the namespace's default routes
    /// through the host's end and the host's routes back: to the namespace's end, and the
    /// network's IPv4 prefix (unless it overlaps another's, `hostRoutesIPv4`) and /48 through it.
    /// Without egress, the pair goes.
    static func transferActions(
        _ n: NetworkResourcePlan, state: NamespaceState, observed: ObservedState, hostRoutesIPv4: Bool = true
    ) -> [AgentAction] {
        var out: [AgentAction] = []
        let ns = n.namespace
        guard let e = n.egress, e.needsTransfer else {
            let name = "vx-\(n.id)"
            if state.links[name] != nil { out.append(.deleteLink(namespace: ns, name: name)) }
            return out
        }
        var inner = state.links[e.interface]
        var outer = observed.host.links[e.hostInterface]
        if inner == nil || outer == nil {
            // One end without the other is not our pair.
            if inner != nil { out.append(.deleteLink(namespace: ns, name: e.interface)) }
            if outer != nil { out.append(.deleteLink(namespace: nil, name: e.hostInterface)) }
            out.append(.createTransfer(namespace: ns, name: e.interface, hostName: e.hostInterface))
            inner = nil
            outer = nil
        } else {
            if inner?.up != true { out.append(.setUp(namespace: ns, link: e.interface)) }
            if outer?.up != true { out.append(.setUp(namespace: nil, link: e.hostInterface)) }
        }
        var innerAddresses: Set<IPPrefix> = []
        var outerAddresses: Set<IPPrefix> = []
        var nsWant: Set<RouteState> = []
        var hostWant: Set<RouteState> = []
        if e.nat44 {
            innerAddresses.insert(.host(.v4(e.address)))
            outerAddresses.insert(.host(.v4(e.gateway)))
            nsWant.insert(RouteState(destination: .host(.v4(e.gateway)), device: e.interface))
            nsWant.insert(
                RouteState(
                    destination: IPPrefix(address: .v4(IPv4Address(0)), length: 0)!, gateway: .v4(e.gateway),
                    device: e.interface))
            hostWant.insert(RouteState(destination: .host(.v4(e.address)), device: e.hostInterface))
            if hostRoutesIPv4, let p4 = n.ipv4?.prefix {
                hostWant.insert(
                    RouteState(destination: p4.asIPPrefix, gateway: .v4(e.address), device: e.hostInterface))
            }
        }
        if e.nat66 {
            innerAddresses.insert(.host(.v6(e.address6)))
            outerAddresses.insert(.host(.v6(e.gateway6)))
            nsWant.insert(RouteState(destination: .host(.v6(e.gateway6)), device: e.interface))
            nsWant.insert(
                RouteState(
                    destination: IPPrefix(address: .v6(IPv6Address(high: 0, low: 0)), length: 0)!,
                    gateway: .v6(e.gateway6), device: e.interface))
            hostWant.insert(RouteState(destination: .host(.v6(e.address6)), device: e.hostInterface))
            hostWant.insert(
                RouteState(destination: n.firewall.prefix.asIPPrefix, gateway: .v6(e.address6), device: e.hostInterface)
            )
        }
        out += addressActions(ns, e.interface, have: inner?.addresses ?? [], want: innerAddresses)
        out += addressActions(nil, e.hostInterface, have: outer?.addresses ?? [], want: outerAddresses)
        out += routeActions(
            ns, have: inner == nil ? [] : state.routes.filter { $0.device == e.interface }, want: nsWant)
        out += routeActions(
            nil, have: outer == nil ? [] : observed.host.routes.filter { $0.device == e.hostInterface },
            want: hostWant)
        return out
    }

    static func routeActions(_ ns: String?, have: Set<RouteState>, want: Set<RouteState>) -> [AgentAction] {
        var out: [AgentAction] = []
        for r in have.subtracting(want).sorted(by: { $0.description < $1.description }) {
            out.append(.deleteRoute(namespace: ns, r))
        }
        // Routes to a device before routes through a gateway: an IPv6 gateway must be reachable
        // when its route is added.
        for r in want.subtracting(have).sorted(by: {
            ($0.gateway == nil ? 0 : 1, $0.description) < ($1.gateway == nil ? 0 : 1, $1.description)
        }) {
            out.append(.addRoute(namespace: ns, r))
        }
        return out
    }

    static func addressActions(_ ns: String?, _ link: String, have: Set<IPPrefix>, want: Set<IPPrefix>)
        -> [AgentAction]
    {
        var out: [AgentAction] = []
        for p in have.subtracting(want).sorted(by: { $0.description < $1.description }) {
            out.append(.deleteAddress(namespace: ns, link: link, prefix: p))
        }
        for p in want.subtracting(have).sorted(by: { $0.description < $1.description }) {
            out.append(.addAddress(namespace: ns, link: link, prefix: p))
        }
        return out
    }
}
