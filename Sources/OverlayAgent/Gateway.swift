import Foundation
import Glibc
import OverlayCrypto
import OverlayGateway
import OverlayModel
import OverlayPlanner
import ProcessControl
import SystemCalls

/// The gateway side of the agent: HAProxy for HTTP, TLS and TCP routes (configuration rendered
/// from the plan by `HAProxyConfig`), the agent's own UDP relay for UDP mappings, and the
/// certificate files of TLS-terminated routes (keys opened from the plan with the node
/// identity, written 0600 next to their certificate as HAProxy wants them, in files named by
/// their content).
/// Nothing here runs on a node whose plan has no gateway routes.
public final class Gateway {
    let paths: GatewayPaths
    let identity: Ed25519Identity?
    let proxy: HAProxySupervisor
    /// Nil in `--once` mode: the relay lives in the running agent's process.
    let relay: UDPRelay?
    private var lastPlan: GatewayPlan?
    private var lastUDPProblems: [UInt16: String] = [:]
    /// The certificate files of `lastPlan` and their crt-list.
    private var certificates: (list: String, files: Set<String>)?

    public init(stateDirectory: String, identity: Ed25519Identity?, relayUDP: Bool, haproxy: String = "haproxy") {
        paths = GatewayPaths(directory: stateDirectory + "/gateway")
        self.identity = identity
        proxy = HAProxySupervisor(paths: paths, executable: haproxy)
        relay = relayUDP ? UDPRelay() : nil
    }

    /// Brings the gateway to `plan`; returns what it did (for the log). Throws when HAProxy did not
    /// take the plan's configuration (after the UDP relay got its share of the plan).
    public func reconcile(_ plan: GatewayPlan?) throws -> [String] {
        var done: [String] = []
        let routes = plan?.routes ?? []
        let proxied = routes.filter { if case .udp = $0.match { false } else { true } }
        let udp = routes.filter { if case .udp = $0.match { true } else { false } }

        var proxyError: Error?
        if proxied.isEmpty {
            if let s = proxy.stop() { done.append(s) }
        } else {
            do {
                try prepareDirectories()
                if plan != lastPlan || certificates == nil { certificates = try writeCertificates(plan!) }
                var namespaces: [String: UInt64] = [:]
                for ns in Set(proxied.map(\.namespace)) {
                    guard let ino = LinuxKernel.inode(ns) else {
                        throw GatewayError(description: "gateway: network namespace \(ns) is not there yet")
                    }
                    namespaces[ns] = ino
                }
                let config = HAProxyConfig.render(plan!, paths: paths, certificateList: certificates!.list)
                if let s = try proxy.apply(config: config, namespaces: namespaces) {
                    done.append(s)
                    // Only now is no file of an earlier configuration needed, even by a restart.
                    pruneCertificates(keeping: certificates!.files)
                }
            } catch {
                proxyError = error
            }
        }
        lastPlan = plan

        let mappings = udp.compactMap { r -> UDPRelay.Mapping? in
            guard case .udp(let port) = r.match else { return nil }
            return UDPRelay.Mapping(
                port: port, namespace: r.namespace,
                backends: r.backends.map { .init(address: $0.address, port: $0.port) })
        }
        if let relay {
            relay.update(mappings)
            let problems = relay.currentProblems()
            if problems != lastUDPProblems {
                done += problems.sorted { $0.key < $1.key }.map { "udp relay: \($0.value)" }
                lastUDPProblems = problems
            }
        } else if !mappings.isEmpty && lastUDPProblems.isEmpty {
            lastUDPProblems = [0: "once"]
            done.append("udp mappings are relayed by a running agent (not with --once)")
        }
        if let proxyError { throw proxyError }
        return done
    }

    /// Stops HAProxy and the relay and removes the gateway's files (what `down` does).
    public func down() -> [String] {
        var done: [String] = []
        if let s = proxy.stop() { done.append(s) }
        relay?.stop()
        try? FileManager.default.removeItem(atPath: paths.directory)
        return done
    }

    private func prepareDirectories() throws {
        for d in [paths.directory, paths.certificates] {
            do throws(StateDirectoryError) { try StateDirectory.makeDirectory(d) } catch {
                throw GatewayError(description: "gateway: \(error)")
            }
        }
    }

    /// One file per terminated route: its certificate chain then its private key (0600), named
    /// by a hash of what determines that content (the chain and the sealed key), and the crt-list naming each file with the name it serves,
    /// named the same way. A file that exists already has this content and is left alone, so
    /// nothing the running configuration loads is ever rewritten.
    private func writeCertificates(_ plan: GatewayPlan) throws -> (list: String, files: Set<String>) {
        var files: [String: String] = [:]
        for r in plan.routes {
            guard let tls = r.tls else { continue }
            guard let identity, let box = Data(base64Encoded: tls.sealedKey),
                let key = try? SealedBox.open(Array(box), with: identity)
            else {
                throw GatewayError(
                    description: "gateway route \(r.name): cannot open its sealed TLS key with this node's identity")
            }
            var chain = Array(tls.certificate.utf8)
            if chain.last != UInt8(ascii: "\n") { chain.append(UInt8(ascii: "\n")) }
            let pem = SecretKey(count: chain.count + key.count)
            pem.withMutableBytes { out in
                out.copyBytes(from: chain)
                key.withBytes { k in UnsafeMutableRawBufferPointer(rebasing: out[chain.count...]).copyMemory(from: k) }
            }
            // The chain and the sealed key determine the file's content; hashing them keeps the
            // opened key out of unzeroed memory.
            let digest = Self.digest(chain + Array(tls.sealedKey.utf8))
            let file = paths.certificate(route: r.name, digest: digest)
            files[r.name] = file
            if access(file, F_OK) != 0 { try StateDirectory(path: paths.directory).writeSecret(pem, to: file) }
        }
        let list = HAProxyConfig.certificateList(plan, files: files)
        let listFile = paths.certificateList(digest: Self.digest(Array(list.utf8)))
        if access(listFile, F_OK) != 0 {
            guard
                FileManager.default.createFile(
                    atPath: listFile, contents: Data(list.utf8), attributes: [.posixPermissions: 0o600])
            else { throw GatewayError(description: "gateway: cannot write \(listFile)") }
        }
        return (listFile, Set(files.values).union([listFile]))
    }

    /// Removes the certificate files the running configuration does not name.
    private func pruneCertificates(keeping files: Set<String>) {
        let keep = Set(files.map { ($0 as NSString).lastPathComponent })
        for f in (try? FileManager.default.contentsOfDirectory(atPath: paths.certificates)) ?? []
        where !keep.contains(f) {
            unlink(paths.certificates + "/" + f)
        }
    }

    /// 128 bits of SHA-256, in hex: enough to tell contents apart in a file name.
    static func digest(_ bytes: [UInt8]) -> String { Digest.hex(Array(Digest.sha256(bytes).prefix(16))) }
}

/// Why the gateway cannot serve its plan yet: a namespace not there, a TLS key this node cannot
/// open, a file it cannot write. The last good configuration stays.
public struct GatewayError: Error, CustomStringConvertible {
    public var description: String
}
