import Foundation
import Synchronization
import Testing

@testable import WireGuard

/// Routing of calls to the namespace a moving device is in. The per-namespace backends here are
/// in-memory tables: what is under test is which one gets each call, not WireGuard itself (the
/// kernel path runs for real in the VM test, `make test-kernel`).
@Suite struct NamespacedWireGuardTests {
    /// Namespaces (name → inode; "" is home) and the links in each, plus every call made.
    final class World: Sendable {
        let namespaces = Mutex<[String: UInt64]>([:])
        let links = Mutex<[String: Set<String>]>([:])
        let calls = Mutex<[String]>([])
        let made = Mutex<[String]>([])

        func identity(_ ns: String) -> UInt64? { namespaces.withLock { $0[ns] } }
        func move(_ name: String, from: String, to: String) {
            links.withLock {
                $0[from, default: []].remove(name)
                $0[to, default: []].insert(name)
            }
        }
        func backend(_ ns: String?) -> any WireGuardBackend {
            made.withLock { $0.append(ns ?? "") }
            return InNamespace(world: self, namespace: ns ?? "")
        }
    }

    struct InNamespace: WireGuardBackend {
        let world: World
        let namespace: String
        func record(_ what: String) { world.calls.withLock { $0.append("\(what)@\(namespace)") } }
        func createInterface(_ name: String) throws {
            record("create \(name)")
            _ = world.links.withLock { $0[namespace, default: []].insert(name) }
        }
        func deleteInterface(_ name: String) throws {
            record("delete \(name)")
            _ = world.links.withLock { $0[namespace, default: []].remove(name) }
        }
        func interfaceExists(_ name: String) -> Bool { world.links.withLock { $0[namespace]?.contains(name) ?? false } }
        func apply(_ change: DeviceChange, to name: String) throws {
            guard interfaceExists(name) else { throw WireGuardError.noSuchInterface(name) }
            record("apply \(name) \(change.peers.count)")
        }
        func device(_ name: String) throws -> Device {
            guard interfaceExists(name) else { throw WireGuardError.noSuchInterface(name) }
            record("get \(name)")
            return Device(name: name)
        }
        var writesSent: Int {
            world.calls.withLock { $0.filter { !$0.hasPrefix("get") && $0.hasSuffix("@\(namespace)") }.count }
        }
    }

    func backend(_ world: World) throws -> NamespacedWireGuard {
        try NamespacedWireGuard(
            destination: { $0.hasPrefix("wg-") ? "ovl-" + $0.dropFirst(3) : nil },
            identity: { world.identity($0) }, factory: { world.backend($0) })
    }

    @Test func createsAtHomeThenFollowsTheMove() throws {
        let world = World()
        let wg = try backend(world)
        try wg.createInterface("wg-1")
        // Before the namespace exists, and while the link is still at home, calls stay home.
        try wg.apply(DeviceChange(peers: [.remove(key(1))]), to: "wg-1")
        world.namespaces.withLock { $0["ovl-1"] = 10 }
        _ = try wg.device("wg-1")
        world.move("wg-1", from: "", to: "ovl-1")
        try wg.apply(DeviceChange(peers: [.remove(key(1))]), to: "wg-1")
        _ = try wg.device("wg-1")
        #expect(wg.interfaceExists("wg-1"))
        try wg.createInterface("wg-1")  // exists in its namespace: not made again at home
        try wg.deleteInterface("wg-1")
        #expect(
            world.calls.withLock { $0 } == [
                "create wg-1@", "apply wg-1 1@", "get wg-1@", "apply wg-1 1@ovl-1", "get wg-1@ovl-1",
                "delete wg-1@ovl-1",
            ])
        #expect(!wg.interfaceExists("wg-1"))
        // create, two applies, delete: counted whichever namespace's backend carried them.
        #expect(wg.writesSent == 4)
    }

    @Test func dropsBackendsOfDeletedOrRecreatedNamespaces() throws {
        let world = World()
        let wg = try backend(world)
        world.namespaces.withLock { $0["ovl-1"] = 10 }
        try wg.createInterface("wg-1")
        world.move("wg-1", from: "", to: "ovl-1")
        _ = try wg.device("wg-1")
        #expect(wg.namespacesInUse == ["ovl-1"])
        // Made again under the same name: a fresh backend, bound to the new namespace.
        world.namespaces.withLock { $0["ovl-1"] = 11 }
        _ = try wg.device("wg-1")
        #expect(world.made.withLock { $0 } == ["", "ovl-1", "ovl-1"])
        // Deleted: its backend goes before the next call, whatever that call is about.
        world.namespaces.withLock { $0["ovl-1"] = nil }
        _ = wg.interfaceExists("wg-2")
        #expect(wg.namespacesInUse == [])
    }

    @Test func interfacesWithoutDestinationStayHome() throws {
        let world = World()
        let wg = try backend(world)
        try wg.createInterface("obwg1")
        _ = try wg.device("obwg1")
        #expect(world.calls.withLock { $0 } == ["create obwg1@", "get obwg1@"])
        #expect(throws: WireGuardError.invalidInterfaceName("a/b")) { try wg.device("a/b") }
    }

    @Test func followsThePlacesItIsTold() throws {
        let world = World()
        let wg = try NamespacedWireGuard(identity: { world.identity($0) }, factory: { world.backend($0) })
        world.namespaces.withLock { $0["net-a"] = 7 }
        try wg.createInterface("tun-a")
        world.move("tun-a", from: "", to: "net-a")
        // Not told where it went: looked for at home only.
        #expect(!wg.interfaceExists("tun-a"))
        wg.place("tun-a", in: "net-a")
        _ = try wg.device("tun-a")
        #expect(world.calls.withLock { $0 } == ["create tun-a@", "get tun-a@net-a"])
    }
}
