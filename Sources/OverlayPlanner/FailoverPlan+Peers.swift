import OverlayModel

extension FailoverPlan {
    /// `peers` as they are while the hubs in `outOfService` (by public key) are out of service:
    /// each such hub's relayed prefixes move onto the other hub's peer, its own /64 stays on its
    /// peer with its access peers (so its probes, its workloads and its access peers still go
    /// straight to it, the one member that delivers them). When neither hub is in
    /// service nothing moves: nothing relayed can pass anyway, and the plan's layout is the one
    /// the first hub to come back serves.
    public func peers(_ peers: [PeerPlan], outOfService: Set<WireGuardKey>) -> [PeerPlan] {
        guard hubs.count == 2 else { return peers }
        let out = hubs.map { outOfService.contains($0.publicKey) }
        guard out.contains(true), out.contains(false) else { return peers }
        let down = hubs[out[0] ? 0 : 1]
        let up = hubs[out[0] ? 1 : 0]
        let moved = Set(down.relayed)
        return peers.map { p in
            var p = p
            if p.publicKey == down.publicKey {
                p.allowedIPs.removeAll { moved.contains($0) }
                let kept = [down.subnet.asIPPrefix] + down.access
                p.allowedIPs.insert(contentsOf: kept.filter { k in !p.allowedIPs.contains { covers($0, k) } }, at: 0)
            } else if p.publicKey == up.publicKey {
                p.allowedIPs += down.relayed.filter { !p.allowedIPs.contains($0) }
            }
            return p
        }
    }

    private func covers(_ a: IPPrefix, _ b: IPPrefix) -> Bool {
        a.length <= b.length && a.contains(b.address)
    }
}
