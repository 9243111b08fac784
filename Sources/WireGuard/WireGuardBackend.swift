import Foundation
import OverlayModel

/// A place WireGuard interfaces live: the kernel (generic netlink) or wireguard-go (UAPI).
/// Both send only what a `DeviceChange` names; a full replace is never the normal path.
public protocol WireGuardBackend: Sendable {
    /// Makes sure interface `name` exists (idempotent: an existing one is kept, not recreated).
    func createInterface(_ name: String) throws
    /// Removes the interface; no error when it is already gone.
    func deleteInterface(_ name: String) throws
    /// Whether a WireGuard interface of that name exists and answers.
    func interfaceExists(_ name: String) -> Bool
    /// Applies the whole change in one request (several messages for the kernel when large).
    /// An empty change sends nothing.
    func apply(_ change: DeviceChange, to name: String) throws
    /// Reads the interface back: keys, port, mark, peers with their statistics.
    func device(_ name: String) throws -> Device
    /// How many change requests (create, delete, set) this backend has sent to the kernel or
    /// wireguard-go: a pass over devices that already match sends none.
    var writesSent: Int { get }
}

extension WireGuardBackend {
    public func setPrivateKey(_ key: SecretKey, on name: String) throws {
        try apply(DeviceChange(privateKey: key), to: name)
    }

    public func setListenPort(_ port: UInt16, on name: String) throws {
        try apply(DeviceChange(listenPort: port), to: name)
    }

    /// 0 clears the mark.
    public func setFwmark(_ mark: UInt32, on name: String) throws {
        try apply(DeviceChange(fwmark: mark), to: name)
    }

    /// Adds the peer or, if it exists, gives it exactly this configuration (AllowedIPs replaced).
    public func addPeer(_ peer: PeerConfig, to name: String) throws {
        try apply(DeviceChange(peers: [.add(peer)]), to: name)
    }

    /// Changes only the fields set in `update`.
    public func updatePeer(_ update: PeerUpdate, on name: String) throws {
        try apply(DeviceChange(peers: [.update(update)]), to: name)
    }

    public func removePeer(_ key: WireGuardKey, from name: String) throws {
        try apply(DeviceChange(peers: [.remove(key)]), to: name)
    }

    /// Reads the interface, computes the minimal change to `desired`, applies it and returns it
    /// (empty when the interface already matched: then nothing was sent).
    @discardableResult
    public func sync(_ name: String, to desired: DeviceConfig) throws -> DeviceChange {
        let change = DeviceChange.between(current: try device(name), desired: desired, now: Date())
        if !change.isEmpty { try apply(change, to: name) }
        return change
    }
}

/// Which backend to use; `auto` is resolved once at start.
public enum WireGuardBackendKind: String, Sendable, CaseIterable, Codable {
    case kernel
    case userspace
    case auto

    /// `kernel` when the running kernel has WireGuard (module loaded or built in), else
    /// `userspace`. `familyResolves` lets a caller with a netlink socket ask the kernel itself
    /// (the `wireguard` generic netlink family), which also covers a built-in module.
    public func resolve(
        sysModulePath: String = "/sys/module/wireguard", familyResolves: (() -> Bool)? = nil
    ) -> WireGuardBackendKind {
        guard self == .auto else { return self }
        if FileManager.default.fileExists(atPath: sysModulePath) { return .kernel }
        if let familyResolves, familyResolves() { return .kernel }
        return .userspace
    }
}
