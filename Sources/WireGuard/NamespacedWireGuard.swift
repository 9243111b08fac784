import Foundation
import Synchronization

/// A backend for devices that move between network namespaces. The design creates a tunnel in
/// the agent's namespace (its UDP socket stays there, on the uplink) and then moves the link into
/// the network's namespace; a kernel WireGuard device answers generic netlink only on a socket in
/// the namespace it is in now. This routes each call to the backend of the namespace the link is
/// in: the destination namespace when the link has arrived there, else the agent's own.
///
/// Backends are made on first use per namespace and kept; a namespace that was deleted (or
/// deleted and made again) loses its backend before the next call, so no socket keeps a dead
/// namespace, and the devices in it, alive.
public final class NamespacedWireGuard: WireGuardBackend {
    public typealias Factory = @Sendable (_ namespace: String?) throws -> any WireGuardBackend

    private let home: any WireGuardBackend
    private let destination: (@Sendable (String) -> String?)?
    /// Where `place` said each interface goes (used when no `destination` was given).
    private let placements = Mutex<[String: String]>([:])
    private let identity: @Sendable (String) -> UInt64?
    private let factory: Factory
    private let backends = Mutex<[String: (identity: UInt64, backend: any WireGuardBackend)]>([:])

    /// - Parameters:
    ///   - destination: the namespace an interface is moved into (nil: it stays at home); when
    ///     not given, the namespaces recorded by `place(_:in:)`.
    ///   - identity: what tells a namespace apart from a later one of the same name (its inode);
    ///     nil when it does not exist.
    ///   - factory: a backend bound to a namespace (nil: the agent's own).
    public init(
        destination: (@Sendable (String) -> String?)? = nil,
        identity: @escaping @Sendable (String) -> UInt64?,
        factory: @escaping Factory
    ) throws {
        home = try factory(nil)
        self.destination = destination
        self.identity = identity
        self.factory = factory
    }

    /// Records that `name` is (or will be) moved into `namespace`: the caller knows it from its
    /// plan, so nothing here derives one name from another.
    public func place(_ name: String, in namespace: String) {
        placements.withLock { $0[name] = namespace }
    }

    func destination(of name: String) -> String? {
        if let destination { return destination(name) }
        return placements.withLock { $0[name] }
    }

    /// The backend of the namespace `name` is in now: the destination's when it holds the link.
    func located(_ name: String) throws -> any WireGuardBackend {
        purge()
        guard let ns = destination(of: name), let id = identity(ns) else { return home }
        let backend = try backends.withLock { table in
            if let e = table[ns], e.identity == id { return e.backend }
            let b = try factory(ns)
            table[ns] = (id, b)
            return b
        }
        return backend.interfaceExists(name) ? backend : home
    }

    /// Drops the backends of namespaces that are gone or were made again.
    private func purge() {
        backends.withLock { table in
            for (ns, e) in table where identity(ns) != e.identity { table[ns] = nil }
        }
    }

    /// The namespaces that hold a backend now (for tests and diagnostics).
    public var namespacesInUse: [String] { backends.withLock { $0.keys.sorted() } }

    /// Counted here, per call, by the backend that carried it: backends of deleted namespaces
    /// go, their counts stay.
    private let writes = Atomic<Int>(0)
    public var writesSent: Int { writes.load(ordering: .relaxed) }

    private func counting<R>(_ backend: any WireGuardBackend, _ body: () throws -> R) rethrows -> R {
        let before = backend.writesSent
        defer { writes.add(backend.writesSent - before, ordering: .relaxed) }
        return try body()
    }

    /// Always made at home: that is where its UDP socket must live.
    public func createInterface(_ name: String) throws {
        try WireGuardError.validate(name)
        if interfaceExists(name) { return }
        try counting(home) { try home.createInterface(name) }
    }

    public func deleteInterface(_ name: String) throws {
        try WireGuardError.validate(name)
        let backend = try located(name)
        try counting(backend) { try backend.deleteInterface(name) }
    }

    public func interfaceExists(_ name: String) -> Bool {
        guard let backend = try? located(name) else { return false }
        return backend.interfaceExists(name)
    }

    public func apply(_ change: DeviceChange, to name: String) throws {
        try WireGuardError.validate(name)
        guard !change.isEmpty else { return }
        let backend = try located(name)
        try counting(backend) { try backend.apply(change, to: name) }
    }

    public func device(_ name: String) throws -> Device {
        try WireGuardError.validate(name)
        return try located(name).device(name)
    }
}
