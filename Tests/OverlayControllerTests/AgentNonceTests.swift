import Foundation
import OverlayController
import OverlayStore
import Testing

@Suite struct AgentNonceTests {
    @Test(
        "a nonce is used once per window and scope; expired ones are taken again and pruned", arguments: TestEngine.all)
    func oncePerWindow(_ engine: TestEngine) throws {
        let f = try TestDB(engine)
        let store = f.controller.store
        #expect(try store.useNonce("aa", scope: "n1", now: 100, window: 120))
        #expect(try !store.useNonce("aa", scope: "n1", now: 150, window: 120))
        #expect(try !store.useNonce("aa", scope: "n1", now: 220, window: 120))
        #expect(try store.useNonce("aa", scope: "n2", now: 150, window: 120))
        #expect(try store.useNonce("bb", scope: "n1", now: 150, window: 120))
        // Past the window the request would be refused for its time anyway.
        #expect(try store.useNonce("aa", scope: "n1", now: 221, window: 120))
        #expect(try !store.useNonce("aa", scope: "n1", now: 222, window: 120))
        try store.pruneNonces(before: 200)
        #expect(try store.nonceCount() == 1)
        // Not state: a dump does not show them.
        #expect(try !store.dump().contains("agent_nonces"))
    }

    @Test("two stores on one database share the nonces", arguments: TestEngine.all)
    func sharedByReplicas(_ engine: TestEngine) throws {
        let f = try TestDB(engine)
        let other = try Store(
            try StoreLocation(parsing: f.path, password: ProcessInfo.processInfo.environment["PGPASSWORD"]))
        #expect(try f.controller.store.useNonce("cc", scope: "n1", now: 1000, window: 120))
        #expect(try !other.useNonce("cc", scope: "n1", now: 1001, window: 120))
    }
}
