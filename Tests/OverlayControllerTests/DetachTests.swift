import Foundation
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayController

/// Removing what is not there is refused and takes no revision; refusals of the planner are
/// plain refusals with the planner's message.
@Suite("Detach and refusals")
struct DetachTests {
    @Test("detaching a node that is not a member: not found, no new revision", arguments: TestEngine.all)
    func notAMember(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "shop")
        try db.node("n1", public: "198.51.100.1")
        let revision = try c.revision()
        try expectRefused(db, "not a member", mentions: ["no member of network 'shop' named 'n1'"]) {
            try c.detach(network: "shop", node: "n1")
        }
        #expect(throws: NotFoundError("member of network 'shop'", "n1")) { try c.detach(network: "shop", node: "n1") }
        #expect(try c.revision() == revision)
    }

    @Test("detaching a member that was not attached: refused, it stays, no new revision", arguments: TestEngine.all)
    func notAttached(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "shop")
        try db.node("n1", public: "198.51.100.1")
        try c.addWorkload(name: "web", network: "shop", node: "n1")
        let revision = try c.revision()
        try expectRefused(db, "not attached", mentions: ["node 'n1' was not attached to network 'shop'", "workloads"]) {
            try c.detach(network: "shop", node: "n1")
        }
        #expect(try c.revision() == revision)
        #expect(try c.network(named: "shop").members.map(\.node.name) == ["n1"])
    }

    @Test("detaching an attached member removes it once; the second detach is refused", arguments: TestEngine.all)
    func twice(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "shop")
        try db.node("n1", public: "198.51.100.1")
        try c.attach(network: "shop", node: "n1")
        let change = try c.detach(network: "shop", node: "n1")
        #expect(change.touchedNodes == ["n1"])
        #expect(try c.network(named: "shop").members.isEmpty)
        try expectRefused(db, "second detach", mentions: ["no member of network 'shop' named 'n1'"]) {
            try c.detach(network: "shop", node: "n1")
        }
    }

    @Test("a hidden member without any hub to relay: refused by the planner, nothing stored", arguments: TestEngine.all)
    func hiddenWithoutHub(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        let c = db.controller
        try c.createNetwork(name: "shop")
        try db.node("hidden")
        try db.node("hub1", public: "198.51.100.1", hub: true)
        let message = "has hidden members (hidden) but no hub"
        // Attaching or placing a workload on a hidden node needs a hub; hub1 is taken when there.
        try c.removeNode(name: "hub1")
        try expectRefused(db, "attach hidden", mentions: [message]) { try c.attach(network: "shop", node: "hidden") }
        try expectRefused(db, "workload on hidden", mentions: [message]) {
            try c.addWorkload(name: "web", network: "shop", node: "hidden")
        }
        // With a hub, the hidden member gets it as relay; the hub cannot then be removed.
        try db.node("hub1", public: "198.51.100.1", hub: true)
        try c.addWorkload(name: "web", network: "shop", node: "hidden")
        try expectRefused(db, "remove the last hub", mentions: [message]) { try c.removeNode(name: "hub1") }
        #expect(throws: TopologyError.self) { try c.removeNode(name: "hub1") }
    }
}
