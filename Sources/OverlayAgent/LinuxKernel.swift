import Foundation
import Glibc
import NFTables
import Netlink
import OverlayModel
import OverlayPlanner
import WireGuard

/// The real kernel: rtnetlink and nftables sockets per namespace, WireGuard through a backend.
/// Sockets are opened once per namespace and kept for the agent's life (closing a netfilter
/// socket waits for the kernel's cleanup); a namespace deleted and made again under the same
/// name gets fresh ones (they are keyed by the namespace's inode).
public final class LinuxKernel: AgentKernel {
    let wireguard: any WireGuardBackend
    let state: StateDirectory
    private var host: NetlinkHandle
    private var hostNFT: NFTablesHandle
    private var handles: [String: (inode: UInt64, rt: NetlinkHandle, nft: NFTablesHandle?)] = [:]

    public init(wireguard: any WireGuardBackend, state: StateDirectory) throws {
        self.wireguard = wireguard
        self.state = state
        host = try NetlinkHandle()
        hostNFT = try NFTablesHandle()
    }

    // MARK: - Handles

    static func inode(_ ns: String) -> UInt64? { NetworkNamespace.inode(ns) }

    func rt(_ ns: String?) throws -> NetlinkHandle {
        guard let ns else { return host }
        return try entry(ns, firewall: false).rt
    }

    func nft(_ ns: String?) throws -> NFTablesHandle {
        guard let ns else { return hostNFT }
        return try entry(ns, firewall: true).nft!
    }

    private func entry(_ ns: String, firewall: Bool) throws -> (inode: UInt64, rt: NetlinkHandle, nft: NFTablesHandle?) {
        guard let ino = Self.inode(ns) else {
            handles[ns] = nil
            throw NetlinkError(operation: "open netns", object: ns, errno: .ENOENT)
        }
        if var e = handles[ns], e.inode == ino {
            if firewall && e.nft == nil {
                e.nft = try NFTablesHandle(namespace: ns)
                handles[ns] = e
            }
            return e
        }
        let e = (inode: ino, rt: try NetlinkHandle(namespace: ns), nft: firewall ? try NFTablesHandle(namespace: ns) : nil)
        handles[ns] = e
        return e
    }

    /// The namespaces to watch for events: the agent's own and every one it observes.
    public func watchedNamespaces(plan: NodePlan?) -> [String] {
        let names = (try? NetworkNamespace.list()) ?? []
        let workloads = Set(plan?.networks.flatMap { $0.workloads.map(\.namespace) } ?? []).union(state.ownedWorkloadNamespaces())
        return names.filter { $0.hasPrefix(Reconciler.networkNamespacePrefix) || workloads.contains($0) }
    }

    // MARK: - Observe

    public func observe(plan: NodePlan?) throws -> ObservedState {
        var o = ObservedState()
        o.namespaces = Set(try NetworkNamespace.list())
        o.ownedWorkloadNamespaces = state.ownedWorkloadNamespaces()
        o.host = try observeNamespace(nil, firewall: true, forwarding: false)
        o.host.links = o.host.links.filter { $0.key.hasPrefix(Reconciler.wireguardPrefix) }
        for ns in o.namespaces where ns.hasPrefix(Reconciler.networkNamespacePrefix) {
            // A namespace that vanishes between the listing and the dump is simply absent.
            if let s = try? observeNamespace(ns, firewall: true, forwarding: true) { o.networkNamespaces[ns] = s }
        }
        let workloads = Set(plan?.networks.flatMap { $0.workloads.map(\.namespace) } ?? []).union(o.ownedWorkloadNamespaces)
        for ns in workloads where o.namespaces.contains(ns) {
            if let s = try? observeNamespace(ns, firewall: false, forwarding: false) { o.workloadNamespaces[ns] = s }
        }
        var interfaces = Set(plan?.networks.map(\.interface) ?? [])
        if let userspace = wireguard as? UserspaceWireGuard {
            interfaces.formUnion(userspace.runningInterfaces().filter { $0.hasPrefix(Reconciler.wireguardPrefix) })
        }
        for name in interfaces.sorted() where wireguard.interfaceExists(name) {
            if let device = try? wireguard.device(name) { o.wireguard[name] = device }
        }
        return o
    }

    func observeNamespace(_ ns: String?, firewall: Bool, forwarding: Bool) throws -> NamespaceState {
        let h = try rt(ns)
        let links = try h.linkList()
        let byIndex = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        var s = NamespaceState()
        for l in links {
            s.links[l.name] = LinkState(
                name: l.name, kind: l.kind?.rawValue, up: l.isUp, mtu: l.mtu, master: l.masterIndex.flatMap { byIndex[$0] })
        }
        for a in try h.addressList(family: .inet6) {
            guard case .v6(let v6) = a.prefix.address, v6.high >> 54 != 0x3FA,  // not fe80::/10
                let name = byIndex[a.linkIndex]
            else { continue }
            s.links[name]?.addresses.insert(a.prefix)
        }
        for r in try h.routeList(family: .inet6)
        where r.table == .main && r.protocol == .static && r.type == .unicast {
            guard let dev = r.outputIndex.flatMap({ byIndex[$0] }) else { continue }
            s.routes.insert(RouteState(destination: r.destination.masked, gateway: r.gateway, device: dev))
        }
        if forwarding, let ns {
            s.forwarding = (try? Sysctl.read(Reconciler.forwardingKey, namespace: ns)) == "1"
        }
        if firewall, let table = try nft(ns).read(Firewall.tableName) {
            s.firewall = FirewallState(
                fingerprint: Firewall.fingerprint(fromComments: table.chains.flatMap { $0.rules.map(\.comment) }),
                rulesPerChain: Dictionary(table.chains.map { ($0.name, $0.rules.count) }, uniquingKeysWith: { a, _ in a }),
                elementsPerSet: Dictionary(table.sets.map { ($0.name, $0.keys.count) }, uniquingKeysWith: { a, _ in a }))
        }
        return s
    }

    /// A fixed, locally administered MAC per bridge (02 + the network id + 01): the router
    /// address's link-layer address must not change when workloads come and go.
    static func bridgeMAC(_ bridge: String) -> [UInt8] {
        let hex = Array(bridge.suffix(8))
        var mac: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
        for i in 0..<min(4, hex.count / 2) {
            mac[1 + i] = UInt8(String(hex[2 * i...2 * i + 1]), radix: 16) ?? 0
        }
        return mac
    }

    /// A fixed MAC for a workload's interface (06 + the first two bytes of the network id + the
    /// host number from `vw-<hex>`): a workload re-created at the same address keeps its MAC, so
    /// the router's neighbour entry stays right instead of pointing at the old interface until
    /// neighbour discovery gives up on it (seconds of lost traffic). Unique on its bridge, and
    /// never equal to the bridge's own (02...).
    static func workloadMAC(bridge: String, hostLink: String) -> [UInt8] {
        let id = bridgeMAC(bridge)
        let host = UInt32(hostLink.dropFirst(3), radix: 16) ?? 0
        return [0x06, id[1], id[2], UInt8(truncatingIfNeeded: host >> 16), UInt8(truncatingIfNeeded: host >> 8),
                UInt8(truncatingIfNeeded: host)]
    }

    static func bridgeSpec(_ name: String, mtu: UInt32) -> LinkSpec {
        var spec = LinkSpec(name: name, kind: .bridge, mtu: mtu, up: true)
        spec.hardwareAddress = bridgeMAC(name)
        return spec
    }

    // MARK: - Apply

    public func apply(_ action: AgentAction) throws {
        switch action {
        case .createNamespace(let ns, let workload):
            // Recorded before it exists: a crash in between leaves a record of nothing, never an
            // unrecorded namespace that `down` would not know to remove.
            if workload { try state.recordWorkloadNamespace(ns, owned: true) }
            do { try NetworkNamespace.create(ns) } catch where error.errno == .EEXIST {}
        case .deleteNamespace(let ns, let workload):
            handles[ns] = nil
            do { try NetworkNamespace.delete(ns) } catch where error.errno == .ENOENT {}
            if workload { try state.recordWorkloadNamespace(ns, owned: false) }
        case .setSysctl(let ns, let key, let value):
            try Sysctl.write(key, value, namespace: ns)
        case .createBridge(let ns, let name, let mtu):
            try rt(ns).linkAdd(Self.bridgeSpec(name, mtu: mtu))
        case .startWireGuard(let name):
            try wireguard.createInterface(name)
        case .stopWireGuard(let name):
            try wireguard.deleteInterface(name)
        case .moveLink(let name, let to):
            try host.linkSetNamespace(.name(name), .named(to))
        case .setMTU(let ns, let link, let mtu):
            try rt(ns).linkSetMTU(.name(link), mtu)
        case .setUp(let ns, let link):
            try rt(ns).linkSetUp(.name(link))
        case .setMaster(let ns, let link, let master):
            try rt(ns).linkSetMaster(.name(link), master: .name(master))
        case .addAddress(let ns, let link, let prefix):
            try rt(ns).addressAdd(prefix, link: .name(link))
        case .deleteAddress(let ns, let link, let prefix):
            try rt(ns).addressDelete(prefix, link: .name(link))
        case .addRoute(let ns, let r):
            let h = try rt(ns)
            try h.routeReplace(Route(destination: r.destination, gateway: r.gateway, outputIndex: try h.linkByName(r.device).index))
        case .deleteRoute(let ns, let r):
            let h = try rt(ns)
            try h.routeDelete(Route(destination: r.destination, gateway: r.gateway, outputIndex: try h.linkByName(r.device).index))
        case .createVeth(let ns, let name, let peer, let peerNS, let master, let mtu):
            let h = try rt(ns)
            let bridge = try h.linkByName(master)
            try h.linkAdd(
                LinkSpec(
                    name: name,
                    kind: .veth(
                        peer: VethPeer(
                            name: peer, namespace: .named(peerNS), mtu: mtu,
                            hardwareAddress: Self.workloadMAC(bridge: master, hostLink: name))), mtu: mtu,
                    up: true, masterIndex: bridge.index))
        case .deleteLink(let ns, let name):
            do { try rt(ns).linkDelete(.name(name)) } catch let e as NetlinkError where e.errno == .ENODEV {}
        case .configureWireGuard(let name, let change):
            try wireguard.apply(change, to: name)
        case .replaceFirewall(let ns, let table):
            try nft(ns).replace(table)
        case .deleteFirewall(let ns):
            try nft(ns).delete(table: Firewall.tableName)
        }
    }
}
