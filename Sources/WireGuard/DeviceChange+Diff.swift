import OverlayModel

extension DeviceChange {
    /// The smallest change that turns `current` into `desired`: device fields only when they
    /// differ, removed peers, added peers, and for each existing peer only the fields that differ.
    /// A peer whose configuration is unchanged is not mentioned at all.
    ///
    /// - An endpoint is only compared when the desired config names one: a peer without one
    ///   (hidden node, access peer) has an endpoint WireGuard learned, which is not drift.
    ///   WireGuard cannot unset an endpoint, so that is never asked.
    /// - AllowedIPs compare as sets of masked prefixes, as WireGuard stores them.
    /// - The private key is compared only when both sides are known (reading it needs root).
    public static func between(current: Device, desired: DeviceConfig) -> DeviceChange {
        var change = DeviceChange()
        if let key = desired.privateKey, current.privateKey.map({ $0 != key }) ?? true {
            change.privateKey = key
        }
        if let port = desired.listenPort, port != current.listenPort { change.listenPort = port }
        if let mark = desired.fwmark, mark != current.fwmark { change.fwmark = mark }

        var existing: [WireGuardKey: PeerConfig] = [:]
        existing.reserveCapacity(current.peers.count)
        for peer in current.peers { existing[peer.config.publicKey] = peer.config }

        var wanted = Set<WireGuardKey>()
        wanted.reserveCapacity(desired.peers.count)
        for peer in desired.peers { wanted.insert(peer.publicKey) }

        // Removals first: they free AllowedIPs that a later add may claim.
        for peer in current.peers where !wanted.contains(peer.publicKey) {
            change.peers.append(.remove(peer.publicKey))
        }
        for peer in desired.peers {
            guard let old = existing[peer.publicKey] else {
                change.peers.append(.add(peer))
                continue
            }
            let update = PeerUpdate.between(current: old, desired: peer)
            if !update.isEmpty { change.peers.append(.update(update)) }
        }
        return change
    }
}

extension PeerUpdate {
    /// The fields of `desired` that differ from `current` (same public key assumed).
    public static func between(current: PeerConfig, desired: PeerConfig) -> PeerUpdate {
        var update = PeerUpdate(publicKey: desired.publicKey)
        let oldPSK = current.presharedKey.flatMap { $0.isZero ? nil : $0 }
        let newPSK = desired.presharedKey.flatMap { $0.isZero ? nil : $0 }
        if oldPSK != newPSK { update.presharedKey = newPSK ?? .zero }
        if let endpoint = desired.endpoint, endpoint != current.endpoint { update.endpoint = endpoint }
        if Set(current.allowedIPs.map(\.masked)) != Set(desired.allowedIPs.map(\.masked)) {
            update.allowedIPs = desired.allowedIPs
        }
        if desired.persistentKeepalive != current.persistentKeepalive {
            update.persistentKeepalive = desired.persistentKeepalive
        }
        return update
    }
}
