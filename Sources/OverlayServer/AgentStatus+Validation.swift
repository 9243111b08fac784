import OverlayModel
import OverlayProtocol

/// An agent's report is shown to operators (`overlayctl node show`) and kept: every field is
/// checked, and its size bounded, before it is stored. (Free text, the errors, is escaped where
/// it is printed.)
extension AgentStatus {
    /// Networks per report: far more than a node carries.
    static let maxNetworks = 1_024
    /// Peers per network: the largest meshes the planner is measured with, and then some.
    static let maxPeers = 8_192
    static let maxErrors = 32
    static let maxErrorLength = 4_096

    func validate() throws {
        if let r = appliedRevision, r < 0 {
            throw ValidationError("appliedRevision", String(r), allowed: "a revision (0 or more) or null")
        }
        guard ["kernel", "userspace"].contains(wireguard) else {
            throw ValidationError("wireguard", wireguard, allowed: "kernel or userspace")
        }
        guard networks.count <= Self.maxNetworks else {
            throw ValidationError("networks", "\(networks.count) entries", allowed: "at most \(Self.maxNetworks)")
        }
        for n in networks {
            _ = try Names.label(n.network, field: "networks[].network")
            _ = try Names.interface(n.interface, field: "networks[].interface")
            guard n.peers.count <= Self.maxPeers else {
                throw ValidationError(
                    "networks[].peers", "\(n.peers.count) entries", allowed: "at most \(Self.maxPeers) per network")
            }
            for p in n.peers {
                try Self.key(p.publicKey, field: "networks[].peers[].publicKey")
                if let age = p.handshakeAge, age < 0 {
                    throw ValidationError(
                        "networks[].peers[].handshakeAge", String(age), allowed: "seconds (0 or more) or null")
                }
            }
            if let r = n.relays { try Self.validate(r) }
        }
        guard errors.count <= Self.maxErrors else {
            throw ValidationError("errors", "\(errors.count) entries", allowed: "at most \(Self.maxErrors)")
        }
        for e in errors where e.unicodeScalars.count > Self.maxErrorLength {
            throw ValidationError(
                "errors[]", e, allowed: "at most \(Self.maxErrorLength) characters each")
        }
    }

    /// A relay report: hub names are node names, keys keys, counts not negative, the status one
    /// of the agent's three words.
    static func validate(_ r: Relays) throws {
        let hubs = Set(r.hubs.map(\.name))
        let allowed = ["normal", "no relay"] + hubs.sorted().map { "without \($0)" }
        guard allowed.contains(r.status) else {
            throw ValidationError("networks[].relays.status", r.status, allowed: allowed.joined(separator: ", "))
        }
        if let active = r.active, !hubs.contains(active) {
            throw ValidationError("networks[].relays.active", active, allowed: "one of its hubs or null")
        }
        guard r.failovers >= 0, r.hubs.count <= 2 else {
            throw ValidationError(
                "networks[].relays", "\(r.failovers) failovers, \(r.hubs.count) hubs",
                allowed: "failovers 0 or more, at most 2 hubs")
        }
        for h in r.hubs {
            _ = try Names.label(h.name, field: "networks[].relays.hubs[].name")
            try Self.key(h.publicKey, field: "networks[].relays.hubs[].publicKey")
            guard h.probes >= 0, (0...h.probes).contains(h.lostProbes), (h.rttMilliseconds ?? 0) >= 0,
                (h.rttMilliseconds ?? 0).isFinite
            else {
                throw ValidationError(
                    "networks[].relays.hubs[]",
                    "\(h.probes) probes, \(h.lostProbes) lost, rtt \(h.rttMilliseconds ?? 0)",
                    allowed: "probes 0 or more, lost at most the probes, rtt 0 or more")
            }
            if let path = h.path, !["direct", "detour"].contains(path) {
                throw ValidationError("networks[].relays.hubs[].path", path, allowed: "direct, detour or null")
            }
        }
    }

    static func key(_ text: String, field: String) throws {
        guard WireGuardKey(base64: text) != nil else {
            throw ValidationError(field, text, allowed: "a WireGuard key: 32 bytes of base64")
        }
    }
}
