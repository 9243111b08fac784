import Foundation
import Glibc
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import SystemCalls

/// The last good plan, the opened WireGuard keys and the workload namespaces the agent created:
/// with these a node that restarts while the controller is away comes back as it was.
extension StateDirectory {
    /// Not `plan.json`: that is the usual name of the file an operator hands to `run --plan`.
    var planPath: String { path + "/applied-plan.json" }
    var keysPath: String { path + "/keys" }
    var ownedPath: String { path + "/owned-namespaces" }

    /// The cached plan, or nil when none was ever applied.
    public func cachedPlan() throws -> NodePlan? {
        guard let data = FileManager.default.contents(atPath: planPath) else { return nil }
        do { return try JSONDecoder().decode(NodePlan.self, from: data) } catch {
            throw StateDirectoryError.corrupt(
                "\(planPath): not a plan document (\(error)); apply a plan with --plan or from the controller to replace it"
            )
        }
    }

    /// Keeps `plan` as the last good one (0600: it names the node's keys, sealed, and topology).
    public func savePlan(_ plan: NodePlan) throws {
        try createDirectory()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(plan)
        try writeSecret(SecretKey(copying: data), to: planPath)
    }

    /// Opens every network's sealed private key with the node identity, keeping a 0600 copy per
    /// interface; when a box cannot be opened (a plan sealed to another identity), the copy kept
    /// from an earlier plan is used only if its public key is the one the plan names.
    public func openKeys(_ plan: NodePlan, identity: Ed25519Identity) throws -> [String: SecretKey] {
        try createDirectory()
        try Self.makeDirectory(keysPath)
        var keys: [String: SecretKey] = [:]
        for n in plan.networks {
            let file = "\(keysPath)/\(n.interface).key"
            if let box = Data(base64Encoded: n.sealedPrivateKey),
                let key = try? SealedBox.open(Array(box), with: identity)
            {
                guard key.count == 32 else {
                    throw StateDirectoryError.corrupt("network \(n.name): the sealed key is not 32 bytes")
                }
                if (try? readSecret(file)) != key { try writeSecret(key, to: file) }
                keys[n.interface] = key
            } else if let cached = try readSecret(file), cached.count == 32 {
                let kept = X25519.publicKey(for: cached)
                guard kept == n.publicKey else {
                    throw StateDirectoryError.keyMismatch(network: n.name, planned: n.publicKey, kept: kept)
                }
                keys[n.interface] = cached
            } else {
                throw StateDirectoryError.corrupt(
                    "network \(n.name): cannot open its sealed private key with this node's identity (plan for another node?)"
                )
            }
        }
        return keys
    }

    /// Removes the kept keys of interfaces no longer planned.
    public func pruneKeys(keeping interfaces: Set<String>) {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: keysPath)) ?? []
        for f in files where f.hasSuffix(".key") && !interfaces.contains(String(f.dropLast(4))) {
            unlink("\(keysPath)/\(f)")
        }
    }

    /// Workload namespaces this agent created (one name a line).
    public func ownedWorkloadNamespaces() -> Set<String> {
        guard let text = try? String(contentsOfFile: ownedPath, encoding: .utf8) else { return [] }
        return Set(text.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
    }

    func recordWorkloadNamespace(_ name: String, owned: Bool) throws {
        var names = ownedWorkloadNamespaces()
        if owned { names.insert(name) } else { names.remove(name) }
        try createDirectory()
        let text = names.sorted().map { $0 + "\n" }.joined()
        let tmp = ownedPath + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8)) else {
            throw StateDirectoryError.corrupt("cannot write \(tmp)")
        }
        do throws(SystemCallError) {
            try systemCall("rename", "\(tmp) to \(ownedPath)") { rename(tmp, ownedPath) }
        } catch {
            throw StateDirectoryError.io(error)
        }
    }
}
