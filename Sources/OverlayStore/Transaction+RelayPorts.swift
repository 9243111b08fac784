import OverlayModel

extension Transaction {
    /// Gives every hub membership without a relay forwarder port the lowest free one in its
    /// node's listen port range, and marks each network concerned as changed so its members get
    /// new plans. Returns those networks. A hub whose range is full keeps none (its members then
    /// have no detour through it).
    @discardableResult
    public func assignMissingRelayPorts() throws -> Set<String> {
        var changed: Set<String> = []
        for m in try membershipsMissingRelayPorts() {
            guard let node = try node(named: m.node),
                let port = AddressPlan.lowestFree(in: node.listenPorts, used: try usedListenPorts(node: m.node))
            else { continue }
            try setRelayPort(port, network: m.network, node: m.node)
            changed.insert(m.network)
        }
        if !changed.isEmpty {
            let revision = try bumpRevision()
            for network in changed { try setPlanRevision(revision, network: network) }
        }
        return changed
    }

    /// Hub memberships made before relay ports existed (none once they were all given one).
    func membershipsMissingRelayPorts() throws -> [Membership] {
        try nodes().filter { $0.hub && !$0.isHidden }.flatMap { try memberships(node: $0.name) }.map(\.membership)
            .filter { $0.relayPort == nil }
    }
}
