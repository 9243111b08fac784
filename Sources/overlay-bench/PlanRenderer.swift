import Foundation
import OverlayModel
import OverlayPlanner
import Synchronization

/// Renders the JSON plan documents of every member of a network without re-encoding the shared
/// part N times: each member's full-mesh peer entry is encoded once, in key order, into one
/// buffer; an ordinary member's peer list is that buffer minus its own entry (two copies).
/// Members whose view differs (hidden members, relays, hubs with access peers) go through
/// the plain encoder. The output decodes to exactly the `NodePlan` that `Planner.nodePlan` builds.
/// Measured by `overlay-bench plans` against encoding every plan whole; not on the delivery path,
/// where the controller encodes and signs one node's plan when that node asks for it.
struct PlanRenderer {
    let planned: PlannedNetwork
    let revision: Int64
    /// Canonical entries of the non-hidden members, sorted by public key, comma-joined.
    let meshBytes: [UInt8]
    /// Member index -> byte range of its entry (with its following comma, if any) in meshBytes.
    let meshRanges: [Int: Range<Int>]
    let encoder: JSONEncoder
    let failovers = FailoverCache()

    init(_ planned: PlannedNetwork, revision: Int64) throws {
        self.planned = planned
        self.revision = revision
        encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let t = planned.topology
        let open = t.members.indices.filter { !t.members[$0].isHidden }
            .sorted { t.members[$0].publicKey.bytes.lexicographicallyPrecedes(t.members[$1].publicKey.bytes) }
        var bytes: [UInt8] = []
        var ranges: [Int: Range<Int>] = [:]
        for (k, i) in open.enumerated() {
            let start = bytes.count
            if k > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: try encoder.encode(t.canonicalPeer(i)))
            ranges[i] = start..<bytes.count
        }
        meshBytes = bytes
        meshRanges = ranges
    }

    /// Whether member `i`'s peers are exactly the mesh minus itself.
    func isPlain(_ i: Int) -> Bool {
        let t = planned.topology
        return !t.members[i].isHidden && !t.relayHubs.contains(i) && (t.accessByHub[i] ?? []).isEmpty
    }

    /// The JSON plan of the member `node` for this network alone, appended to `out`.
    func render(node: Node, into out: inout [UInt8]) throws {
        guard let i = planned.topology.indexByName[node.name] else { return }
        var resource = planned.resource(index: i, membership: planned.membership(index: i), peers: !isPlain(i))
        var plan = NodePlan(
            node: node.name, revision: revision,
            hostFirewall: HostFirewallPlan(wireguardPorts: [resource.listenPort]),
            networks: [resource], gateway: nil)
        guard isPlain(i) else {
            out.append(contentsOf: try encoder.encode(plan))
            return
        }
        // Encode with a marker peer list, then splice the shared bytes in its place. The failover
        // entry (the relayed prefixes of every hidden member) is the same for every plain member:
        // it is encoded once and spliced in after the peers (key order means nothing in JSON).
        let failover = try resource.failover.map(failoverBytes)
        resource.peers = []
        resource.failover = nil
        plan.networks = [resource]
        let skeleton = [UInt8](try encoder.encode(plan))
        let marker = Array(#""peers":[]"#.utf8)
        // Searched in [UInt8], not with Data's `firstRange(of:)`: the skeleton carries the
        // failover entry (the relayed prefixes of every hidden member) before the peer list, and
        // Data's generic search compared it byte by byte through protocol witnesses, most of the
        // whole render.
        guard let offset = Self.firstOffset(of: marker, in: skeleton) else {
            throw TopologyError("renderer: no peer list in skeleton")
        }
        let at = offset..<(offset + marker.count)
        out.append(contentsOf: skeleton[..<at.lowerBound])
        out.append(contentsOf: #""peers":["#.utf8)
        let own = meshRanges[i]!
        if own.lowerBound == 0 {
            // First entry: drop it and the comma that opens the next one.
            if own.upperBound < meshBytes.count { out.append(contentsOf: meshBytes[(own.upperBound + 1)...]) }
        } else {
            out.append(contentsOf: meshBytes[..<own.lowerBound])
            out.append(contentsOf: meshBytes[own.upperBound...])
        }
        out.append(UInt8(ascii: "]"))
        if let failover {
            out.append(contentsOf: #","failover":"#.utf8)
            out.append(contentsOf: failover)
        }
        out.append(contentsOf: skeleton[at.upperBound...])
    }

    /// The encoded failover entry, from the cache when an equal one was encoded before.
    private func failoverBytes(_ failover: FailoverPlan) throws -> [UInt8] {
        if let hit = failovers.encoded.withLock({ $0.first { $0.plan == failover }?.bytes }) { return hit }
        let bytes = [UInt8](try encoder.encode(failover))
        failovers.encoded.withLock { $0.append((failover, bytes)) }
        return bytes
    }

    /// The failover entries encoded so far (plain members share a handful).
    final class FailoverCache: Sendable {
        let encoded = Mutex<[(plan: FailoverPlan, bytes: [UInt8])]>([])
    }

    static func firstOffset(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var i = 0
        while let j = haystack[i...].firstIndex(of: first), j + needle.count <= haystack.count {
            if haystack[j..<(j + needle.count)].elementsEqual(needle) { return j }
            i = j + 1
        }
        return nil
    }
}
