import Foundation
import OverlayModel

extension DeviceChange {
    /// The smallest change that turns `current` into `desired`: device fields only when they
    /// differ, removed peers, added peers, and for each existing peer only the fields that differ.
    /// A peer whose configuration is unchanged is not mentioned at all.
    ///
    /// - An endpoint is only compared when the desired config names one: a peer without one
    ///   (hidden node, access peer) has an endpoint WireGuard learned, which is not drift.
    ///   WireGuard cannot unset an endpoint, so that is never asked.
    /// - A peer that had a handshake within `roamingGrace` of `now` keeps its current endpoint
    ///   even if it differs: WireGuard follows a peer that roams (NAT rebinding, another source
    ///   address), and resetting a working tunnel to the configured address would break it.
    /// - AllowedIPs compare as sets of masked prefixes, as WireGuard stores them.
    /// - The private key is compared only when both sides are known (reading it needs root).
    public static func between(
        current: Device, desired: DeviceConfig, now: Date, roamingGrace: TimeInterval = Self.roamingGrace
    ) -> DeviceChange {
        var change = DeviceChange()
        if let key = desired.privateKey, !(current.privateKey.map { samePrivateKey($0, key) } ?? false) {
            change.privateKey = key
        }
        if let port = desired.listenPort, port != current.listenPort { change.listenPort = port }
        if let mark = desired.fwmark, mark != current.fwmark { change.fwmark = mark }

        var existing: [KeyID: Int] = [:]
        existing.reserveCapacity(current.peers.count)
        for (i, peer) in current.peers.enumerated() { existing[KeyID(peer.publicKey)] = i }

        var wanted = Set<KeyID>()
        wanted.reserveCapacity(desired.peers.count)
        for peer in desired.peers { wanted.insert(KeyID(peer.publicKey)) }

        // Removals first: they free AllowedIPs that a later add may claim.
        for peer in current.peers where !wanted.contains(KeyID(peer.publicKey)) {
            change.peers.append(.remove(peer.publicKey))
        }
        for peer in desired.peers {
            guard let index = existing[KeyID(peer.publicKey)] else {
                change.peers.append(.add(peer))
                continue
            }
            let old = current.peers[index]
            let connected = old.lastHandshake.map { now.timeIntervalSince($0) < roamingGrace } ?? false
            let update = PeerUpdate.between(current: old.config, desired: peer, keepEndpoint: connected)
            if !update.isEmpty { change.peers.append(.update(update)) }
        }
        return change
    }

    /// WireGuard's REJECT_AFTER_TIME: a session older than this is dead, so a handshake newer than
    /// this means the tunnel works at its current endpoint.
    public static let roamingGrace: TimeInterval = 180

    /// Whether two X25519 private keys are the same key. Both the kernel and wireguard-go store
    /// the key clamped (RFC 7748: low 3 bits and top bit cleared, bit 254 set), so the key read
    /// back may differ in those bits from the one set. Constant time.
    public static func samePrivateKey(_ a: SecretKey, _ b: SecretKey) -> Bool {
        guard a.count == 32, b.count == 32 else { return a == b }
        return a.withBytes { x in
            b.withBytes { y in
                var diff: UInt8 = 0
                for i in 0..<32 {
                    var p = x[i]
                    var q = y[i]
                    if i == 0 {
                        p &= 248
                        q &= 248
                    } else if i == 31 {
                        p = (p & 127) | 64
                        q = (q & 127) | 64
                    }
                    diff |= p ^ q
                }
                return diff == 0
            }
        }
    }
}

/// A public key as four words: hashing it is four combines instead of thirty-two.
struct KeyID: Hashable {
    let a: UInt64, b: UInt64, c: UInt64, d: UInt64

    init(_ key: WireGuardKey) {
        (a, b, c, d) = key.bytes.withUnsafeBytes {
            (
                $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            )
        }
    }
}

extension PeerUpdate {
    /// The fields of `desired` that differ from `current` (same public key assumed).
    /// `keepEndpoint`: leave the endpoint alone (the peer is connected where it is).
    public static func between(current: PeerConfig, desired: PeerConfig, keepEndpoint: Bool = false) -> PeerUpdate {
        var update = PeerUpdate(publicKey: desired.publicKey)
        let oldPSK = current.presharedKey.flatMap { $0.isZero ? nil : $0 }
        let newPSK = desired.presharedKey.flatMap { $0.isZero ? nil : $0 }
        if oldPSK != newPSK { update.presharedKey = newPSK ?? .zero }
        if !keepEndpoint, let endpoint = desired.endpoint, endpoint != current.endpoint { update.endpoint = endpoint }
        if current.allowedIPs != desired.allowedIPs,
            Set(current.allowedIPs.map(\.masked)) != Set(desired.allowedIPs.map(\.masked))
        {
            update.allowedIPs = desired.allowedIPs
        }
        if desired.persistentKeepalive != current.persistentKeepalive {
            update.persistentKeepalive = desired.persistentKeepalive
        }
        return update
    }
}
