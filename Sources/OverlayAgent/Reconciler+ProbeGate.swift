import Foundation
import OverlayPlanner

/// A relay hub that comes back (after a reboot, or with its tunnel made anew) is reached at once by
/// the members it has an endpoint for, and by a hidden member only when that member's WireGuard
/// starts a handshake itself: up to 15 s after it last heard from the hub while it still holds a
/// session from before (the hub no longer knows it and drops what comes on it), or at its next
/// retry, every 5 s, once it has given that session up. Members that saw it back that far apart would
/// return to it at different instants, and lose what passes between them meanwhile
/// (docs/failover.md, Mixed states). So the hub answers no probe from its tunnel until every
/// member has had its retry, and all of them see it back on the same tick.
extension Reconciler {
    /// WireGuard starts a new handshake 15 s (keepalive timeout 10 s, rekey timeout 5 s) after a
    /// session stops answering, plus up to a third of a second; a member whose hub died less than
    /// that before it came back does so within this of the restart, and any other retries every 5 s.
    static let probeGateLength: UInt64 = 16_000_000_000
    /// How long a gate stays in the table after it opened (inert by then): the table is not
    /// replaced for it while members still count their hold.
    static let probeGateKept: UInt64 = 60_000_000_000

    /// The probe gates of a pass, by network name: the gates in `current` that are still kept,
    /// and a new one for each network this node is a relay hub of whose tunnel does not exist
    /// (this pass makes it) although the node carried it before (`carried`: in the plan the
    /// agent last applied before it started, or with its tunnel seen since). A network new to the
    /// node gets none: its members have no session from before, and one that has just started
    /// waits for the hub's first answer before anything else (a gate would make it give up on
    /// the hub). A gate opens at the middle of a probe interval on the members' wall-clock grid,
    /// `probeGateLength` or a little more after `now`.
    public static func probeGates(
        plan: NodePlan?, observed: ObservedState, now: Date, current: [String: UInt64], carried: Set<String>
    ) -> [String: UInt64] {
        var gates: [String: UInt64] = [:]
        let nowNanoseconds = UInt64(max(0, now.timeIntervalSince1970 * 1e9))
        for n in plan?.networks ?? [] where n.relayForwarder != nil {
            if let open = current[n.name], nowNanoseconds < open + probeGateKept {
                gates[n.name] = open
                continue
            }
            // A tunnel that exists kept its sessions; one that cannot be read is left as it is.
            guard carried.contains(n.name), observed.wireguard[n.interface] == nil,
                !observed.isUnreadable(.wireguard(n.interface)),
                !observed.isUnreadable(.namespace(n.namespace))
            else { continue }
            let interval =
                UInt64(max(1, n.failover?.thresholds.probeInterval ?? FailoverThresholds().probeInterval))
                * 1_000_000
            let earliest = nowNanoseconds + probeGateLength
            var open = earliest / interval * interval + interval / 2
            if open < earliest { open += interval }
            gates[n.name] = open
        }
        return gates
    }
}
