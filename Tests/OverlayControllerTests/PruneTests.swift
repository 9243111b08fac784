import Foundation
import OverlayController
import OverlayCrypto
import Testing

@Suite struct PruneTests {
    @Test("when the last hidden member leaves, the hubs that only relayed for it leave too")
    func relaysLeaveWithTheLastHiddenMember() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prune-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = try Controller(databasePath: dir.appendingPathComponent("o.db").path)
        try c.createNetwork(name: "n", prefix: "fd01:2:3::/48")
        func id() -> String { Ed25519Identity.generate().publicKeyBase64 }
        try c.addNode(.init(name: "hub1", identity: id(), publicAddresses: ["192.0.2.1"], hub: true))
        try c.addNode(.init(name: "open", identity: id(), publicAddresses: ["192.0.2.2"]))
        try c.addNode(.init(name: "home", identity: id()))
        try c.addWorkload(name: "a", network: "n", node: "open")
        try c.addWorkload(name: "b", network: "n", node: "home")
        #expect(Set(try c.network(named: "n").members.map(\.node.name)) == ["hub1", "open", "home"])
        try c.removeWorkload(name: "b")
        #expect(
            Set(try c.network(named: "n").members.map(\.node.name)) == ["open"],
            "home left with its workload, and hub1 relayed only for home")
    }
}
