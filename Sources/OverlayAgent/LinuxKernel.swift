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
    /// Writes sent on sockets since closed (their namespace went).
    private var retiredWrites = 0
    /// Per namespace ("" for the host), the firewall as last read and the ruleset generation it
    /// was read at, on that handle: reading the table back costs four dumps and parsing every
    /// rule, the generation one small message, and a pass over many networks would otherwise
    /// spend most of its time re-reading tables nobody touched.
    private var firewallReads: [String: (nft: NFTablesHandle, generation: UInt32, state: FirewallState?)] = [:]

    public init(wireguard: any WireGuardBackend, state: StateDirectory) throws {
        self.wireguard = wireguard
        self.state = state
        host = try NetlinkHandle()
        hostNFT = try NFTablesHandle()
    }

    /// Change requests sent to the kernel so far: rtnetlink and nftables messages that are not
    /// dumps or gets, on every socket, plus the WireGuard backend's. A pass over a kernel that
    /// matches the plan adds nothing.
    public var writesSent: Int {
        retiredWrites + host.socket.writesSent + hostNFT.socket.writesSent + wireguard.writesSent
            + handles.values.reduce(0) { $0 + $1.rt.socket.writesSent + ($1.nft?.socket.writesSent ?? 0) }
    }

    private func retire(_ ns: String) {
        firewallReads[ns] = nil
        guard let e = handles.removeValue(forKey: ns) else { return }
        retiredWrites += e.rt.socket.writesSent + (e.nft?.socket.writesSent ?? 0)
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

    private func entry(_ ns: String, firewall: Bool) throws -> (inode: UInt64, rt: NetlinkHandle, nft: NFTablesHandle?)
    {
        guard let ino = Self.inode(ns) else {
            retire(ns)
            throw NetlinkError(operation: "open netns", object: ns, errno: .ENOENT)
        }
        if var e = handles[ns], e.inode == ino {
            if firewall && e.nft == nil {
                e.nft = try NFTablesHandle(namespace: ns)
                handles[ns] = e
            }
            return e
        }
        retire(ns)
        let e = (
            inode: ino, rt: try NetlinkHandle(namespace: ns), nft: firewall ? try NFTablesHandle(namespace: ns) : nil
        )
        handles[ns] = e
        return e
    }

    /// The namespaces to watch for events: the agent's own and every one it observes.
    public func watchedNamespaces(plan: NodePlan?) -> [String] {
        let names = (try? NetworkNamespace.list()) ?? []
        let workloads = Set(plan?.networks.flatMap { $0.workloads.map(\.namespace) } ?? []).union(
            state.ownedWorkloadNamespaces())
        return names.filter { $0.hasPrefix(Reconciler.networkNamespacePrefix) || workloads.contains($0) }
    }

    // MARK: - Observe

    public func observe(plan: NodePlan?) throws -> ObservedState {
        var o = ObservedState()
        o.namespaces = Set(try NetworkNamespace.list())
        o.ownedWorkloadNamespaces = state.ownedWorkloadNamespaces()
        o.host = try observeNamespace(nil, firewall: true, forwarding: false)
        o.host.links = o.host.links.filter {
            $0.key.hasPrefix(Reconciler.wireguardPrefix) || $0.key.hasPrefix(Reconciler.transferPrefix)
        }
        o.host.forwarding4 = (try? Sysctl.read(Reconciler.forwardingKey4)) == "1"
        o.host.forwarding = (try? Sysctl.read(Reconciler.forwardingKey)) == "1"
        o.uplink6 = try observeUplink6()
        o.bridgeNetfilterLoaded = access(Sysctl.path(of: Reconciler.bridgeNetfilterKeys[0]), F_OK) == 0
        o.recordedSysctls = state.recordedSysctls()
        for ns in o.namespaces where ns.hasPrefix(Reconciler.networkNamespacePrefix) {
            observe(ns, into: &o.networkNamespaces, unreadable: &o.unreadable) {
                try observeNamespace(ns, firewall: true, forwarding: true)
            }
        }
        let workloads = Set(plan?.networks.flatMap { $0.workloads.map(\.namespace) } ?? []).union(
            o.ownedWorkloadNamespaces)
        for ns in workloads where o.namespaces.contains(ns) {
            observe(ns, into: &o.workloadNamespaces, unreadable: &o.unreadable) {
                try observeNamespace(ns, firewall: false, forwarding: false)
            }
        }
        // The plan says where each tunnel lives; the kernel backend asks there.
        if let namespaced = wireguard as? NamespacedWireGuard {
            for n in plan?.networks ?? [] { namespaced.place(n.interface, in: n.namespace) }
        }
        var interfaces = Set(plan?.networks.map(\.interface) ?? [])
        if let userspace = wireguard as? UserspaceWireGuard {
            interfaces.formUnion(userspace.runningInterfaces().filter { $0.hasPrefix(Reconciler.wireguardPrefix) })
        }
        for name in interfaces.sorted() where wireguard.interfaceExists(name) {
            // It exists: a failed read (wireguard-go stalled, a timed-out `get`) is not absence.
            do { o.wireguard[name] = try wireguard.device(name) } catch {
                if wireguard.interfaceExists(name) { o.unreadable[.wireguard(name)] = "\(error)" }
            }
        }
        return o
    }

    /// The device of the host's IPv6 default route (any origin: static, DHCP, router
    /// advertisement) and its `accept_ra`.
    func observeUplink6() throws -> Uplink? {
        let h = try rt(nil)
        guard
            let r = try h.routeList(family: .inet6, table: .main).first(where: {
                $0.type == .unicast && $0.destination.length == 0
            }),
            let index = r.outputIndex, let name = try h.linkList().first(where: { $0.index == index })?.name
        else { return nil }
        return Uplink(name: name, acceptRA: try? Sysctl.read(Reconciler.acceptRAKey(name)))
    }

    /// Reads one namespace; one that vanished since the listing is absent, one that is still
    /// there but failed to read is unreadable (never taken for absent: that would re-create it).
    private func observe(
        _ ns: String, into table: inout [String: NamespaceState], unreadable: inout [ObservedObject: String],
        _ read: () throws -> NamespaceState
    ) {
        do { table[ns] = try read() } catch {
            if Self.inode(ns) != nil { unreadable[.namespace(ns)] = "\(error)" }
        }
    }

    func observeNamespace(_ ns: String?, firewall: Bool, forwarding: Bool) throws -> NamespaceState {
        let h = try rt(ns)
        let links = try h.linkList()
        let byIndex = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        var s = NamespaceState()
        for l in links {
            s.links[l.name] = LinkState(
                name: l.name, kind: l.kind, up: l.isUp, mtu: l.mtu, master: l.masterIndex.flatMap { byIndex[$0] })
        }
        for a in try h.addressList(family: .inet6) + h.addressList(family: .inet) {
            if case .v6(let v6) = a.prefix.address, v6.high >> 54 == 0x3FA { continue }  // fe80::/10
            guard let name = byIndex[a.linkIndex] else { continue }
            s.links[name]?.addresses.insert(a.prefix)
        }
        for r in try h.routeList(family: .inet6, table: .main) + h.routeList(family: .inet, table: .main)
        where r.protocol == .static && r.type == .unicast {
            guard let dev = r.outputIndex.flatMap({ byIndex[$0] }) else { continue }
            s.routes.insert(RouteState(destination: r.destination.masked, gateway: r.gateway, device: dev))
        }
        if forwarding, let ns {
            s.forwarding = (try? Sysctl.read(Reconciler.forwardingKey, namespace: ns)) == "1"
            s.forwarding4 = (try? Sysctl.read(Reconciler.forwardingKey4, namespace: ns)) == "1"
            s.duplicateAddressDetection = (try? Sysctl.read(Reconciler.dadKey, namespace: ns)) != "0"
            s.bridgeNetfilter = Reconciler.bridgeNetfilterKeys.contains {
                (try? Sysctl.read($0, namespace: ns)) == "1"
            }
        }
        if firewall { s.firewall = try firewallState(ns) }
        return s
    }

    /// Our table in `ns` as the kernel holds it, read again only when the namespace's ruleset
    /// generation moved. The generation is read first: a change between the two reads leaves a
    /// newer table under an older number, which the next pass reads again.
    private func firewallState(_ ns: String?) throws -> FirewallState? {
        let nft = try nft(ns)
        let generation = try nft.generation()
        if let last = firewallReads[ns ?? ""], last.nft === nft, last.generation == generation { return last.state }
        let state = try nft.read(Firewall.tableName).map { table in
            FirewallState(
                fingerprint: Firewall.fingerprint(fromComments: table.chains.flatMap { $0.rules.map(\.comment) }),
                rulesPerChain: Dictionary(
                    table.chains.map { ($0.name, $0.rules.count) }, uniquingKeysWith: { a, _ in a }),
                elementsPerSet: Dictionary(table.sets.map { ($0.name, $0.keys.count) }, uniquingKeysWith: { a, _ in a })
            )
        }
        firewallReads[ns ?? ""] = (nft, generation, state)
        return state
    }

    static func bridgeSpec(_ name: String, mtu: UInt32, mac: [UInt8]) -> LinkSpec {
        var spec = LinkSpec(name: name, kind: .bridge, mtu: mtu, up: true)
        spec.hardwareAddress = mac
        return spec
    }

    // MARK: - Apply

    public func apply(_ action: AgentAction) throws {
        switch action {
        case .createNamespace(let ns, let workload):
            // Recorded before it exists: a crash in between leaves a record of nothing, never an
            // unrecorded namespace that `down` would not know to remove.
            if workload { try state.recordWorkloadNamespace(ns, owned: true) }
            do { try NetworkNamespace.create(ns) } catch  where error.errno == .EEXIST {}
        case .deleteNamespace(let ns, let workload):
            retire(ns)
            do { try NetworkNamespace.delete(ns) } catch  where error.errno == .ENOENT {}
            if workload { try state.recordWorkloadNamespace(ns, owned: false) }
        case .setSysctl(let ns, let key, let value):
            if ns == nil, state.recordedSysctls()[key] == nil {
                // Recorded before the write: a crash in between leaves a record `down` restores.
                try state.recordSysctl(key, original: try Sysctl.read(key))
            }
            try Sysctl.write(key, value, namespace: ns)
        case .restoreSysctl(let key, let value):
            try Sysctl.write(key, value)
            try state.forgetSysctl(key)
        case .createTransfer(let ns, let name, let hostName):
            try host.linkAdd(
                LinkSpec(
                    name: hostName, kind: .veth(peer: VethPeer(name: name, namespace: .named(ns), up: true)),
                    up: true))
        case .createBridge(let ns, let name, let mtu, let mac):
            try rt(ns).linkAdd(Self.bridgeSpec(name, mtu: mtu, mac: mac))
        case .startWireGuard(let name):
            try wireguard.createInterface(name)
        case .stopWireGuard(let name):
            try wireguard.deleteInterface(name)
        case .moveLink(let name, let to):
            (wireguard as? NamespacedWireGuard)?.place(name, in: to)
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
            try h.routeReplace(
                Route(destination: r.destination, gateway: r.gateway, outputIndex: try h.linkByName(r.device).index))
        case .deleteRoute(let ns, let r):
            let h = try rt(ns)
            try h.routeDelete(
                Route(destination: r.destination, gateway: r.gateway, outputIndex: try h.linkByName(r.device).index))
        case .createVeth(let ns, let name, let peer, let peerNS, let master, let mtu, let peerMAC):
            let h = try rt(ns)
            let bridge = try h.linkByName(master)
            try h.linkAdd(
                LinkSpec(
                    name: name,
                    kind: .veth(
                        peer: VethPeer(
                            name: peer, namespace: .named(peerNS), mtu: mtu,
                            hardwareAddress: peerMAC)), mtu: mtu,
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
