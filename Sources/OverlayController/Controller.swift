import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import OverlayStore
import Synchronization

/// The use cases behind every admin command: validate, then change the store in one transaction,
/// then re-plan the networks the change touched and mark the nodes whose plans changed.
/// A thrown error anywhere rolls the whole command back.
public final class Controller: Sendable {
    public let store: Store
    /// The last planned state of each network this controller committed, with the store revision
    /// it belongs to. A command whose transaction starts at that revision reuses it as its "before"
    /// instead of reading and planning the network again; any other writer moves the revision on.
    let planned: PlannedNetworkCache
    /// Called after each committed command with its change (the service wakes the agents whose
    /// plans changed).
    let onCommit: (@Sendable (Change) -> Void)?
    /// Whom the commands act for: nil for the operator (everything), else a tenant (its own
    /// networks and what is in them; see `Controller+Tenants`).
    public let tenant: String?

    public convenience init(store: Store, onCommit: (@Sendable (Change) -> Void)? = nil) {
        self.init(store: store, planned: PlannedNetworkCache(), onCommit: onCommit, tenant: nil)
    }

    init(store: Store, planned: PlannedNetworkCache, onCommit: (@Sendable (Change) -> Void)?, tenant: String?) {
        self.store = store
        self.planned = planned
        self.onCommit = onCommit
        self.tenant = tenant
    }

    /// The store holds something the rules it was written by forbid (a row edited by hand).
    static func inconsistent(_ what: String) -> StoredDataError {
        StoredDataError(inconsistent: what)
    }

    public convenience init(databasePath: String, onCommit: (@Sendable (Change) -> Void)? = nil) throws {
        self.init(store: try Store(path: databasePath), onCommit: onCommit)
    }

    /// The outcome of a command: the new store revision and the nodes whose plan changed (each
    /// once, in no particular order).
    public struct Change: Sendable, Equatable {
        public var revision: Int64
        public var touchedNodes: [String]
    }

    /// Runs `body` in one transaction around a re-plan of `networks` (names; the body adds the
    /// networks it finds in the store through `Mutation.include` before changing them). The plans
    /// are validated (topology errors abort the command).
    @discardableResult
    func mutate<T>(networks: [String], _ body: (Mutation) throws -> T) throws -> (T, Change) {
        let done = try commit(networks: networks, body)
        onCommit?(done.1)
        return done
    }

    private func commit<T>(networks: [String], _ body: (Mutation) throws -> T) throws -> (T, Change) {
        let (result, change, plans, start) = try store.write { tx in
            let startRevision = try tx.revision()
            let mutation = Mutation(tx: tx, planned: planned, revision: startRevision)
            for name in networks { try mutation.include(network: name) }
            let result = try body(mutation)
            // Sent before the snapshots are read, answered with them.
            let bumped = try tx.bumpRevisionDeferred()
            let snapshots = try mutation.ensureRelays()
            let revision = try bumped()
            var touched: [String] = []
            var nodeWide = Array(mutation.touchedNodes)
            var afterPlans: [String: PlannedNetwork?] = [:]
            for name in mutation.networks {
                let old = mutation.before[name]
                let new = try snapshots[name].flatMap { $0 }.map { try PlannedNetwork($0) }
                afterPlans[name] = new
                let impact = PlanImpact(before: old, after: new)
                touched += impact.all
                // Members that left the network have no membership row left to carry the change.
                nodeWide += impact.left
                if impact.everyMember {
                    try tx.setPlanRevision(revision, network: name)
                } else {
                    for node in impact.local { try tx.setPlanRevision(revision, network: name, node: node) }
                }
            }
            try tx.setPlanRevision(revision, nodes: Set(nodeWide))
            // Usually one network: its members are already distinct, so skip hashing them.
            if mutation.networks.count > 1 || !mutation.touchedNodes.isEmpty {
                touched = Array(Set(touched).union(mutation.touchedNodes))
            }
            // Other replicas on the same database wake these nodes' long-polls once this commits.
            try tx.announcePlanChanges(touched)
            return (result, Change(revision: revision, touchedNodes: touched), afterPlans, startRevision)
        }
        // Kept only once committed: a write that failed (or that another replica's made abort)
        // leaves its revision free for a different change.
        planned.replace(plans, from: start, to: change.revision)
        return (result, change)
    }
}

/// What a command's body may do besides plain store writes.
final class Mutation {
    let tx: Transaction
    private let planned: PlannedNetworkCache
    /// The store revision the transaction started at.
    private let revision: Int64
    private(set) var networks: Set<String> = []
    private(set) var touchedNodes: Set<String> = []
    /// Plans of the included networks, as they were when included (before any change to them).
    private(set) var before: [String: PlannedNetwork] = [:]

    init(tx: Transaction, planned: PlannedNetworkCache, revision: Int64) {
        self.tx = tx
        self.planned = planned
        self.revision = revision
    }

    /// Adds a network to the re-plan; call before changing it. Its plan at the transaction's start
    /// comes from the cache when one is kept for that revision.
    func include(network: String) throws {
        guard !networks.contains(network) else { return }
        networks.insert(network)
        if let cached = planned.get(network, revision: revision) {
            before[network] = cached
        } else if let s = try tx.snapshot(network: network) {
            before[network] = try PlannedNetwork(s)
        }
    }

    /// The plan of a network this command has not changed yet, without adding it to the re-plan.
    func unchangedPlan(network: String) throws -> PlannedNetwork? {
        if let p = before[network] ?? planned.get(network, revision: revision) { return p }
        return try tx.snapshot(network: network).map(PlannedNetwork.init)
    }

    func touch(node: String) { touchedNodes.insert(node) }

    /// Makes `node` a member of `network` when it is not: a /64 (lowest free subnet ID) and the /24
    /// of the same number when the network has IPv4, a listen
    /// port (lowest free in the node's range) and a fresh WireGuard key sealed to the node.
    /// Returns its membership. `current` is its membership read in this transaction already,
    /// when the caller has it (`.some(nil)`: not a member).
    @discardableResult
    func ensureMember(network: Network, node: Node, pinned: Bool = false, current: Membership?? = .none) throws
        -> Membership
    {
        let existing = try current ?? tx.fetch(tx.membershipQuery(network: network.name, node: node.name))
        if let existing {
            if pinned { try tx.setPinned(true, network: network.name, node: node.name) }
            return existing
        }
        // Its WireGuard key is sealed to its identity, which a pending node does not have yet.
        guard node.hasJoined else { throw ConflictError(Controller.notJoined(node.name)) }
        let (usedSubnetIDs, usedPorts) = try tx.fetch(
            tx.usedSubnetIDsQuery(network: network.name), tx.usedListenPortsQuery(node: node.name))
        guard let subnetID = AddressPlan.lowestFree(in: AddressPlan.nodeSubnetIDs, used: usedSubnetIDs) else {
            throw ConflictError("network '\(network.name)' has no free /64 left for node '\(node.name)'")
        }
        // The node's /24 is /24 number subnetID: the lowest free number is past the last /24 only
        // when every /24 before it is taken.
        if let p4 = network.ipv4Prefix, AddressPlan.ipv4Subnet(p4, subnetID) == nil {
            throw ConflictError(
                "network '\(network.name)' has no free IPv4 /24 left for node '\(node.name)': its IPv4 prefix \(p4) holds \(AddressPlan.ipv4NodeCapacity(p4)) member nodes (a /24 each, the first unused, the last for access peers)"
            )
        }
        guard let port = AddressPlan.lowestFree(in: node.listenPorts, used: usedPorts) else {
            throw ConflictError(
                "node '\(node.name)' has no free listen port left in \(node.listenPorts.lowerBound)-\(node.listenPorts.upperBound) for network '\(network.name)'"
            )
        }
        // A hub may become a relay hub of the network at any change: its forwarder port is there already.
        var relayPort: UInt16?
        if node.hub && !node.isHidden {
            guard let p = AddressPlan.lowestFree(in: node.listenPorts, used: usedPorts.union([port])) else {
                throw ConflictError(
                    "hub node '\(node.name)' has no free port left in \(node.listenPorts.lowerBound)-\(node.listenPorts.upperBound) for its relay forwarder in network '\(network.name)' (a hub takes two ports per network)"
                )
            }
            relayPort = p
        }
        let (privateKey, publicKey) = X25519.generateKeyPair()
        let sealed = try SealedBox.seal(privateKey, toIdentity: node.identity)
        let membership = Membership(
            network: network.name, node: node.name, subnetID: subnetID, publicKey: publicKey,
            sealedPrivateKey: sealed, listenPort: port, relayPort: relayPort)
        try tx.insert(membership, pinned: pinned)
        return membership
    }

    /// Hidden members need relays: a network with hidden members and no hub member gets up to two
    /// hubs attached (same region as its first hidden member first, then by name). When no hub
    /// exists the planner refuses the network, which aborts the command. Returns the included
    /// networks' snapshots as they are then (nil: a network deleted).
    @discardableResult
    func ensureRelays() throws -> [String: NetworkSnapshot?] {
        var snapshots: [String: NetworkSnapshot?] = [:]
        for name in networks {
            let snapshot = try tx.snapshot(network: name)
            snapshots[name] = snapshot
            guard let snapshot, snapshot.members.contains(where: \.node.isHidden),
                !snapshot.members.contains(where: \.node.hub)
            else { continue }
            let region = snapshot.members.first { $0.node.isHidden }?.node.region
            let candidates = try tx.nodes().filter { $0.hub && !$0.isHidden && $0.hasJoined }
                .sorted { ($0.region == region ? 0 : 1, $0.name) < ($1.region == region ? 0 : 1, $1.name) }
            for hub in candidates.prefix(2) { try ensureMember(network: snapshot.network, node: hub) }
            snapshots[name] = try tx.snapshot(network: name)
        }
        return snapshots
    }

    /// Removes memberships nothing needs any more (not pinned, no workloads, not relaying, not a
    /// gateway serving the network).
    func pruneMembers(network: String) throws {
        guard let snapshot = try tx.snapshot(network: network) else { return }
        let hosting = Set(snapshot.workloads.map(\.node))
        let dialled = Set(snapshot.accessPeers.map(\.hub))
        let gateways = Set(snapshot.gatewayRoutes.map(\.node))
        let pinned = try tx.pinnedMembers(network: network)
        var kept: Set<String> = []
        var hasHidden = false
        for m in snapshot.members {
            let name = m.node.name
            if hosting.contains(name) || dialled.contains(name) || gateways.contains(name) || pinned.contains(name) {
                kept.insert(name)
                hasHidden = hasHidden || m.node.isHidden
            }
        }
        // Hubs relay only while a hidden member stays; decided after the others are settled, so
        // the last hidden member leaving takes its relays with it.
        for m in snapshot.members where !kept.contains(m.node.name) {
            if m.node.hub && hasHidden { continue }
            try tx.deleteMembership(network: network, node: m.node.name)
        }
    }
}

/// Which members' plans a change alters. Shared state (peers, relays, gateway sources, network
/// settings) reaches every member; workloads reach only their node.
struct PlanImpact {
    var all: [String] = []
    var left: [String] = []
    var local: [String] = []
    var everyMember = false

    init(before: PlannedNetwork?, after: PlannedNetwork?) {
        let namesBefore = before?.topology.members.map(\.name) ?? []
        let namesAfter = after?.topology.members.map(\.name) ?? []
        left = namesBefore.filter { after?.topology.indexByName[$0] == nil }
        guard let before, let after, before.sharesPlansWith(after) else {
            all = namesAfter + left
            everyMember = true
            return
        }
        local = namesAfter.filter { !before.sameLocalPlan(after, node: $0) }
        all = local + left
    }
}

/// Planned networks by name, valid at one store revision.
final class PlannedNetworkCache: Sendable {
    private let entries = Mutex<[String: (revision: Int64, network: PlannedNetwork)]>([:])

    func get(_ name: String, revision: Int64) -> PlannedNetwork? {
        entries.withLock { $0[name].flatMap { $0.revision == revision ? $0.network : nil } }
    }

    /// Records a network planned by a reader at `revision` (a newer entry wins).
    func put(_ name: String, _ network: PlannedNetwork, revision: Int64) {
        entries.withLock { entries in
            if let e = entries[name], e.revision >= revision { return }
            entries[name] = (revision, network)
        }
    }

    /// Records the networks a command planned at its new revision. Entries valid when it started
    /// and for networks it did not touch stay valid (every command names the networks it
    /// changes); anything else is dropped, since it can no longer match the store.
    func replace(_ networks: [String: PlannedNetwork?], from start: Int64, to revision: Int64) {
        entries.withLock { entries in
            var next: [String: (revision: Int64, network: PlannedNetwork)] = [:]
            for (name, entry) in entries where entry.revision == start && networks[name] == nil {
                next[name] = (revision, entry.network)
            }
            for case (let name, let network?) in networks { next[name] = (revision, network) }
            entries = next
        }
    }
}
