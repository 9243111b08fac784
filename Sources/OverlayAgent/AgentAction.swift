import NFTables
import OverlayModel
import WireGuard

/// One step the reconciler asks for. `namespace` nil means the agent's own namespace.
/// Actions are ordered so that stopping after any of them leaves a consistent state that the next
/// run completes (a namespace before what lives in it, a firewall before the workloads it guards).
public enum AgentAction: Sendable, CustomStringConvertible {
    case createNamespace(String, workload: Bool)
    case deleteNamespace(String, workload: Bool)
    /// In the agent's namespace (nil) the value found first is recorded, for `restoreSysctl`.
    case setSysctl(namespace: String?, key: String, value: String)
    /// Puts back a host sysctl the agent changed, and forgets the record.
    case restoreSysctl(key: String, value: String)
    /// `mac` is fixed per network (`NetworkResourcePlan.bridgeMAC`).
    case createBridge(namespace: String, name: String, mtu: UInt32, mac: [UInt8])
    /// Starts the interface in the agent's namespace, where its UDP socket stays.
    case startWireGuard(String)
    case stopWireGuard(String)
    /// From the agent's namespace into `to`.
    case moveLink(String, to: String)
    case setMTU(namespace: String?, link: String, mtu: UInt32)
    case setUp(namespace: String?, link: String)
    case setMaster(namespace: String, link: String, master: String)
    case addAddress(namespace: String?, link: String, prefix: IPPrefix)
    case deleteAddress(namespace: String?, link: String, prefix: IPPrefix)
    case addRoute(namespace: String?, RouteState)
    case deleteRoute(namespace: String?, RouteState)
    /// The egress transfer veth: `hostName` in the agent's namespace, `name` in `namespace`, both up.
    case createTransfer(namespace: String, name: String, hostName: String)
    /// A veth pair: `name` in `namespace` on bridge `master`, `peer` in `peerNamespace` with the
    /// workload's fixed MAC (`WorkloadPlan.mac(in:)`).
    case createVeth(
        namespace: String, name: String, peer: String, peerNamespace: String, master: String, mtu: UInt32,
        peerMAC: [UInt8])
    case deleteLink(namespace: String?, name: String)
    case configureWireGuard(String, DeviceChange)
    case replaceFirewall(namespace: String?, NFTable)
    case deleteFirewall(namespace: String?)

    public var description: String {
        func ns(_ n: String?) -> String { n.map { "[\($0)] " } ?? "[host] " }
        switch self {
        case .createNamespace(let n, let w): return "create netns \(n)" + (w ? " (workload)" : "")
        case .deleteNamespace(let n, let w): return "delete netns \(n)" + (w ? " (workload)" : "")
        case .setSysctl(let n, let k, let v): return ns(n) + "sysctl \(k)=\(v)"
        case .restoreSysctl(let k, let v): return "[host] restore sysctl \(k)=\(v)"
        case .createTransfer(let n, let name, let host):
            return "[host] add veth \(host) up, peer \(name) in netns \(n) up"
        case .createBridge(let n, let name, let mtu, _): return ns(n) + "add bridge \(name) mtu \(mtu) up"
        case .startWireGuard(let name): return "[host] start wireguard \(name)"
        case .stopWireGuard(let name): return "stop wireguard \(name)"
        case .moveLink(let name, let to): return "[host] move \(name) to netns \(to)"
        case .setMTU(let n, let l, let m): return ns(n) + "set \(l) mtu \(m)"
        case .setUp(let n, let l): return ns(n) + "set \(l) up"
        case .setMaster(let n, let l, let m): return ns(n) + "set \(l) master \(m)"
        case .addAddress(let n, let l, let p): return ns(n) + "add address \(p) dev \(l)"
        case .deleteAddress(let n, let l, let p): return ns(n) + "delete address \(p) dev \(l)"
        case .addRoute(let n, let r): return ns(n) + "add route \(r)"
        case .deleteRoute(let n, let r): return ns(n) + "delete route \(r)"
        case .createVeth(let n, let name, let peer, let pns, let master, let mtu, _):
            return ns(n) + "add veth \(name) master \(master) mtu \(mtu) up, peer \(peer) in netns \(pns)"
        case .deleteLink(let n, let name): return ns(n) + "delete link \(name)"
        case .configureWireGuard(let name, let change): return "configure \(name): " + Self.describe(change)
        case .replaceFirewall(let n, let t): return ns(n) + "replace table inet \(t.name) (\(Firewall.fingerprint(t)))"
        case .deleteFirewall(let n): return ns(n) + "delete table inet \(Firewall.tableName)"
        }
    }

    /// Whether this action changes anything in the kernel (all do; kept for the log's summary).
    static func describe(_ change: DeviceChange) -> String {
        var parts: [String] = []
        if change.privateKey != nil { parts.append("private-key (redacted)") }
        if let port = change.listenPort { parts.append("listen-port \(port)") }
        if let mark = change.fwmark { parts.append("fwmark \(mark)") }
        for peer in change.peers {
            switch peer {
            case .add(let c):
                parts.append(
                    "+peer \(c.publicKey.base64.prefix(8)) allowed-ips \(c.allowedIPs.map(\.description).joined(separator: ","))"
                        + (c.endpoint.map { " endpoint \($0)" } ?? ""))
            case .update(let u):
                var s = "~peer \(u.publicKey.base64.prefix(8))"
                if let a = u.allowedIPs { s += " allowed-ips \(a.map(\.description).joined(separator: ","))" }
                if let e = u.endpoint { s += " endpoint \(e)" }
                if let k = u.persistentKeepalive { s += " keepalive \(k)" }
                parts.append(s)
            case .remove(let k): parts.append("-peer \(k.base64.prefix(8))")
            }
        }
        return parts.joined(separator: "; ")
    }
}
