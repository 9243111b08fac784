import OverlayModel

/// What changes between two plans of one node: per network, the peers, workloads and settings that
/// differ. This is what a node needs to receive: proportional to what changed for it, not to the
/// size of the network.
public struct PlanDelta: Equatable, Sendable {
    public struct NetworkDelta: Equatable, Sendable {
        public var name: String
        public var peersAdded: [PeerPlan] = []
        public var peersChanged: [PeerPlan] = []
        public var peersRemoved: [WireGuardKey] = []
        public var workloadsAdded: [WorkloadPlan] = []
        public var workloadsRemoved: [String] = []
        public var firewallChanged = false
        public var settingsChanged = false

        public var isEmpty: Bool {
            peersAdded.isEmpty && peersChanged.isEmpty && peersRemoved.isEmpty && workloadsAdded.isEmpty
                && workloadsRemoved.isEmpty && !firewallChanged && !settingsChanged
        }
    }

    public var networksAdded: [String] = []
    public var networksRemoved: [String] = []
    public var networks: [NetworkDelta] = []
    public var gatewayChanged = false

    public init(from old: NodePlan?, to new: NodePlan) {
        let before = Dictionary((old?.networks ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.networks.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        networksAdded = new.networks.map(\.name).filter { before[$0] == nil }
        networksRemoved = (old?.networks ?? []).map(\.name).filter { after[$0] == nil }
        for n in new.networks {
            guard let o = before[n.name] else { continue }
            let d = PlanDelta.diff(o, n)
            if !d.isEmpty { networks.append(d) }
        }
        gatewayChanged = old?.gateway != new.gateway
    }

    static func diff(_ o: NetworkResourcePlan, _ n: NetworkResourcePlan) -> NetworkDelta {
        var d = NetworkDelta(name: n.name)
        let oldPeers = Dictionary(o.peers.map { ($0.publicKey, $0) }, uniquingKeysWith: { a, _ in a })
        let newKeys = Set(n.peers.map(\.publicKey))
        for p in n.peers {
            if let q = oldPeers[p.publicKey] {
                if q != p { d.peersChanged.append(p) }
            } else {
                d.peersAdded.append(p)
            }
        }
        d.peersRemoved = o.peers.map(\.publicKey).filter { !newKeys.contains($0) }
        let oldW = Set(o.workloads)
        let newW = Set(n.workloads)
        d.workloadsAdded = n.workloads.filter { !oldW.contains($0) }
        d.workloadsRemoved = o.workloads.filter { !newW.contains($0) }.map(\.name)
        d.firewallChanged = o.firewall != n.firewall
        var os = o
        var ns = n
        (os.peers, ns.peers, os.workloads, ns.workloads) = ([], [], [], [])
        os.firewall = ns.firewall
        d.settingsChanged = os != ns
        return d
    }

    public var isEmpty: Bool { networksAdded.isEmpty && networksRemoved.isEmpty && networks.isEmpty && !gatewayChanged }

    /// Counts, for people and for the dry-run report.
    public struct Summary: Equatable, Sendable {
        public var networksAdded: [String]
        public var networksRemoved: [String]
        public var peersAdded = 0
        public var peersChanged = 0
        public var peersRemoved = 0
        public var workloadsAdded = 0
        public var workloadsRemoved = 0
        public var firewallChanged = false
        public var gatewayChanged = false

        public init(
            networksAdded: [String], networksRemoved: [String], peersAdded: Int = 0, peersChanged: Int = 0,
            peersRemoved: Int = 0, workloadsAdded: Int = 0, workloadsRemoved: Int = 0, firewallChanged: Bool = false,
            gatewayChanged: Bool = false
        ) {
            self.networksAdded = networksAdded
            self.networksRemoved = networksRemoved
            self.peersAdded = peersAdded
            self.peersChanged = peersChanged
            self.peersRemoved = peersRemoved
            self.workloadsAdded = workloadsAdded
            self.workloadsRemoved = workloadsRemoved
            self.firewallChanged = firewallChanged
            self.gatewayChanged = gatewayChanged
        }

        public var description: String {
            var parts: [String] = []
            if !networksAdded.isEmpty { parts.append("joins \(networksAdded.joined(separator: ","))") }
            if !networksRemoved.isEmpty { parts.append("leaves \(networksRemoved.joined(separator: ","))") }
            if peersAdded > 0 { parts.append("+\(peersAdded) peers") }
            if peersChanged > 0 { parts.append("~\(peersChanged) peers") }
            if peersRemoved > 0 { parts.append("-\(peersRemoved) peers") }
            if workloadsAdded > 0 { parts.append("+\(workloadsAdded) workloads") }
            if workloadsRemoved > 0 { parts.append("-\(workloadsRemoved) workloads") }
            if firewallChanged { parts.append("firewall") }
            if gatewayChanged { parts.append("gateway routes") }
            return parts.joined(separator: ", ")
        }
    }

    public var summary: Summary {
        var s = Summary(networksAdded: networksAdded, networksRemoved: networksRemoved)
        for n in networks {
            s.peersAdded += n.peersAdded.count
            s.peersChanged += n.peersChanged.count
            s.peersRemoved += n.peersRemoved.count
            s.workloadsAdded += n.workloadsAdded.count
            s.workloadsRemoved += n.workloadsRemoved.count
            s.firewallChanged = s.firewallChanged || n.firewallChanged
        }
        s.gatewayChanged = gatewayChanged
        return s
    }
}
