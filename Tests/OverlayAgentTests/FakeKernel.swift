import Foundation
import NFTables
import Netlink
import OverlayModel
import OverlayPlanner
import WireGuard

@testable import OverlayAgent

/// An in-memory kernel: it holds an `ObservedState` and carries out actions on it the way Linux
/// would (a veth's peer goes with it, a moved link comes down and loses its routes, a deleted
/// namespace takes everything in it). It counts writes, and can fail one on purpose.
final class FakeKernel: AgentKernel {
    var state = ObservedState()
    /// "namespace/veth" -> (its namespace, peer namespace, peer name), both directions.
    var pairs: [String: (String?, String?, String)] = [:]
    private(set) var writes = 0
    private(set) var observations = 0
    /// Fail the write with this number (1-based, counted over the kernel's life).
    var failOnWrite: Int?
    /// The agent namespace's sysctls, as far as the agent set them.
    var hostSysctls: [String: String] = [:]
    /// `br_netfilter` switches written in network namespaces.
    var bridgeNetfilterWrites: [String] = []

    /// What `observe` reads back of the host sysctls: forwarding and the uplink's `accept_ra`.
    func syncHostSysctls() {
        state.host.forwarding4 = hostSysctls[Reconciler.forwardingKey4] == "1"
        state.host.forwarding = hostSysctls[Reconciler.forwardingKey] == "1"
        if let name = state.uplink6?.name, let value = hostSysctls[Reconciler.acceptRAKey(name)] {
            state.uplink6?.acceptRA = value
        }
    }

    /// Objects whose read fails (they stay in `state`, the kernel still has them); observed
    /// the way `LinuxKernel` reports them: missing from the tables and listed as unreadable.
    var unreadable: Set<ObservedObject> = []

    struct Injected: Error {}

    func observe(plan: NodePlan?) throws -> ObservedState {
        observations += 1
        var o = state
        for object in unreadable {
            switch object {
            case .namespace(let ns):
                o.networkNamespaces[ns] = nil
                o.workloadNamespaces[ns] = nil
            case .wireguard(let name):
                o.wireguard[name] = nil
            }
            o.unreadable[object] = "injected read failure"
        }
        return o
    }

    func apply(_ action: AgentAction) throws {
        writes += 1
        if writes == failOnWrite { throw Injected() }
        switch action {
        case .createNamespace(let ns, let workload):
            state.namespaces.insert(ns)
            let fresh = NamespaceState(links: ["lo": LinkState(name: "lo", kind: nil, up: false, mtu: 65536)])
            if workload {
                state.ownedWorkloadNamespaces.insert(ns)
                state.workloadNamespaces[ns] = fresh
            } else {
                var s = fresh
                s.forwarding = false
                s.forwarding4 = false
                s.duplicateAddressDetection = true
                state.networkNamespaces[ns] = s
            }
        case .deleteNamespace(let ns, let workload):
            for link in links(ns).keys { removeLink(ns, link) }
            state.namespaces.remove(ns)
            state.networkNamespaces[ns] = nil
            state.workloadNamespaces[ns] = nil
            if workload { state.ownedWorkloadNamespaces.remove(ns) }
        case .setSysctl(nil, let key, let value):
            if state.recordedSysctls[key] == nil {
                state.recordedSysctls[key] = hostSysctls[key] ?? "0"
            }
            hostSysctls[key] = value
            syncHostSysctls()
        case .restoreSysctl(let key, let value):
            hostSysctls[key] = value
            state.recordedSysctls[key] = nil
            syncHostSysctls()
        case .createTransfer(let ns, let name, let hostName):
            try addLink(nil, LinkState(name: hostName, kind: .veth, up: true, mtu: 1500))
            try addLink(ns, LinkState(name: name, kind: .veth, up: true, mtu: 1500))
            pairs["/\(hostName)"] = (nil, ns, name)
            pairs["\(ns)/\(name)"] = (ns, nil, hostName)
        case .setSysctl(let ns?, let key, let value):
            switch key {
            case Reconciler.forwardingKey4: state.networkNamespaces[ns]!.forwarding4 = value == "1"
            case Reconciler.forwardingKey: state.networkNamespaces[ns]!.forwarding = value == "1"
            case Reconciler.dadKey: state.networkNamespaces[ns]!.duplicateAddressDetection = value != "0"
            default:
                bridgeNetfilterWrites.append("\(ns) \(key)=\(value)")
                state.networkNamespaces[ns]!.bridgeNetfilter = false
            }
        case .createBridge(let ns, let name, let mtu, _):
            try addLink(ns, LinkState(name: name, kind: .bridge, up: true, mtu: mtu))
        case .startWireGuard(let name):
            state.wireguard[name] = Device(name: name)
            try addLink(nil, LinkState(name: name, kind: .tun, up: false, mtu: 1420))
        case .stopWireGuard(let name):
            state.wireguard[name] = nil
            for ns in [nil] + Array(state.namespaces) where links(ns)[name] != nil { removeLink(ns, name) }
        case .moveLink(let name, let to):
            guard var l = state.host.links.removeValue(forKey: name) else { throw Injected() }
            l.up = false
            try addLink(to, l)
        case .setMTU(let ns, let link, let mtu):
            try modify(ns, link) { $0.mtu = mtu }
        case .setUp(let ns, let link):
            try modify(ns, link) { $0.up = true }
        case .setMaster(let ns, let link, let master):
            try modify(ns, link) { $0.master = master }
        case .addAddress(let ns, let link, let prefix):
            try modify(ns, link) { $0.addresses.insert(prefix) }
        case .deleteAddress(let ns, let link, let prefix):
            try modify(ns, link) { $0.addresses.remove(prefix) }
        case .addRoute(let ns, let r):
            guard links(ns)[r.device] != nil else { throw Injected() }
            update(ns) { $0.routes.insert(r) }
        case .deleteRoute(let ns, let r):
            update(ns) { $0.routes.remove(r) }
        case .createVeth(let ns, let name, let peer, let peerNS, let master, let mtu, _):
            try addLink(ns, LinkState(name: name, kind: .veth, up: true, mtu: mtu, master: master))
            try addLink(peerNS, LinkState(name: peer, kind: .veth, up: false, mtu: mtu))
            pairs["\(ns)/\(name)"] = (ns, peerNS, peer)
            pairs["\(peerNS)/\(peer)"] = (peerNS, ns, name)
        case .deleteLink(let ns, let name):
            removeLink(ns, name)
        case .configureWireGuard(let name, let change):
            guard var d = state.wireguard[name] else { throw Injected() }
            if let k = change.privateKey { d.privateKey = k }
            if let p = change.listenPort { d.listenPort = p }
            for c in change.peers {
                switch c {
                case .add(let config):
                    d.peers.removeAll { $0.publicKey == config.publicKey }
                    d.peers.append(Device.Peer(config: config))
                case .update(let u):
                    guard let i = d.peers.firstIndex(where: { $0.publicKey == u.publicKey }) else { throw Injected() }
                    if let a = u.allowedIPs { d.peers[i].config.allowedIPs = a }
                    if let e = u.endpoint { d.peers[i].config.endpoint = e }
                    if let k = u.persistentKeepalive { d.peers[i].config.persistentKeepalive = k }
                case .remove(let key):
                    d.peers.removeAll { $0.publicKey == key }
                }
            }
            state.wireguard[name] = d
        case .replaceFirewall(let ns, let table):
            update(ns) { $0.firewall = Firewall.expectedState(table) }
        case .deleteFirewall(let ns):
            update(ns) { $0.firewall = nil }
        }
    }

    // MARK: - Helpers

    func links(_ ns: String?) -> [String: LinkState] {
        guard let ns else { return state.host.links }
        return state.networkNamespaces[ns]?.links ?? state.workloadNamespaces[ns]?.links ?? [:]
    }

    func update(_ ns: String?, _ body: (inout NamespaceState) -> Void) {
        guard let ns else { return body(&state.host) }
        if state.networkNamespaces[ns] != nil { body(&state.networkNamespaces[ns]!) }
        if state.workloadNamespaces[ns] != nil { body(&state.workloadNamespaces[ns]!) }
    }

    func addLink(_ ns: String?, _ link: LinkState) throws {
        if let ns, !state.namespaces.contains(ns) { throw Injected() }
        guard links(ns)[link.name] == nil else { throw Injected() }  // EEXIST
        update(ns) { $0.links[link.name] = link }
    }

    func modify(_ ns: String?, _ name: String, _ body: (inout LinkState) -> Void) throws {
        guard links(ns)[name] != nil else { throw Injected() }  // ENODEV
        update(ns) { body(&$0.links[name]!) }
    }

    func removeLink(_ ns: String?, _ name: String) {
        update(ns) { s in
            s.links[name] = nil
            s.routes = s.routes.filter { $0.device != name }
        }
        if let (_, peerNS, peer) = pairs.removeValue(forKey: "\(ns ?? "")/\(name)") {
            pairs["\(peerNS ?? "")/\(peer)"] = nil
            update(peerNS) { s in
                s.links[peer] = nil
                s.routes = s.routes.filter { $0.device != peer }
            }
        }
    }
}
