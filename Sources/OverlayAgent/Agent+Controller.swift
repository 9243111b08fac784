import Foundation
import Glibc
import OverlayCrypto
import OverlayHTTPClient
import OverlayPlanner
import OverlayProtocol
import Synchronization
import WireGuard

/// The agent with a controller: join once (pinning the controller's key), then take plans from
/// the long-poll (see `ControllerSession`) and report status after each change and periodically.
extension Agent {
    /// The controller session to run with, or nil in plan-file mode (`--plan`), or when this
    /// agent never joined and no controller was named (then the cached plan is applied alone).
    func connectController() throws -> ControllerSession? {
        guard options.planFile == nil else { return nil }
        var link = try state.controllerLink()
        let given = options.controllerURLs
        if let token = options.joinToken {
            if let link {
                log(
                    "already joined \(link.urls.joined(separator: ", ")) as node \(link.node) (pinned key \(link.controllerKey)); --join ignored"
                )
            } else {
                guard !given.isEmpty else { throw AgentError.controller("--join needs --controller URL") }
                let parsed: JoinToken
                do { parsed = try JoinToken(parsing: token) } catch {
                    throw AgentError.controller("--join: \(error)")
                }
                // The token's certificate fingerprints pin every HTTPS replica (they share one).
                let https = given.allSatisfy { $0.lowercased().hasPrefix("https:") }
                let pins = https && !parsed.fingerprints.isEmpty ? parsed.fingerprints : nil
                var joined = ControllerLink(urls: given, node: "", controllerKey: "", tlsFingerprints: pins)
                let (url, answer) = try join(given, token: parsed.secret, trust: joined.trust)
                joined.node = answer.node
                joined.controllerKey = answer.controllerKey
                guard joined.pinnedKey != nil else {
                    throw AgentError.controller(
                        "controller \(url) gave a controller key that is not 32 bytes of base64")
                }
                try state.saveControllerLink(joined)
                log(
                    "joined \(url) as node \(answer.node); pinned controller key \(answer.controllerKey)"
                        + (pins.map { "; pinned certificate \($0.map(\.description).joined(separator: ", "))" } ?? ""))
                link = joined
            }
        }
        guard var link else {
            if !given.isEmpty {
                throw AgentError.controller(
                    "this agent has not joined \(given.joined(separator: ", ")) yet: run once with --join TOKEN (from 'overlayctl node join-token NODE')"
                )
            }
            return nil
        }
        if !given.isEmpty, given != link.urls {
            // Only the addresses move; the pinned key stays, so a different controller is still refused.
            log(
                "controller replicas changed from \(link.urls.joined(separator: ", ")) to \(given.joined(separator: ", ")); the pinned key stays"
            )
            link = ControllerLink(urls: given, node: link.node, controllerKey: link.controllerKey)
            try state.saveControllerLink(link)
        }
        let identity = identity
        let node = link.node
        let single = link.urls.count == 1
        let trust = link.trust
        let clients = try link.urls.map {
            try AgentClient(baseURL: $0, identity: identity, node: node, retryConnecting: single, trust: trust)
        }
        let state = state
        let saved = link
        return try ControllerSession(
            replicas: clients, gate: try PlanGate(link: link),
            pinned: { pins in
                // Kept only while the link pins certificates; one trusted through authorities stays so.
                guard saved.tlsFingerprints != nil else { return }
                var updated = saved
                updated.tlsFingerprints = pins
                do { try state.saveControllerLink(updated) } catch {
                    Agent.log("cannot keep the pinned certificates in the state directory: \(error)")
                }
            },
            log: { line in Agent.log(line) })
    }

    /// Joins through the first replica that can serve; a token is single-use, so once one replica
    /// has answered (even with a refusal) no other is asked.
    private func join(_ urls: [String], token: String, trust: ControllerTrust) throws -> (
        url: String, answer: JoinResponse
    ) {
        let identity = identity
        for url in urls {
            do {
                let answer = try Self.blocking {
                    try await AgentClient.join(
                        baseURL: url, identity: identity, token: token, retryConnecting: urls.count == 1,
                        trust: trust)
                }
                return (url, answer)
            } catch let error as AgentClientError where error.isReplicaDown && url != urls.last {
                log("join: \(error); trying the next controller replica")
            }
        }
        preconditionFailure("the last replica's failure is thrown")
    }

    /// Waits for the controller's first plan (a node that just joined has none cached).
    func firstPlan(from controller: ControllerSession) throws -> Loaded? {
        log("waiting for the first plan from \(controller.client.baseURL)")
        while Self.stopping == false {
            guard controller.inbox.wait(timeoutMilliseconds: 500), let plan = controller.inbox.take() else { continue }
            do { return try adopt(plan, from: "controller") } catch {
                log("plan revision \(plan.revision) refused: \(error)")
            }
        }
        return nil
    }

    /// Takes a plan the session verified, if one waits; a plan that cannot be used keeps `loaded`.
    func takeControllerPlan(_ controller: ControllerSession, into loaded: inout Loaded) {
        guard let plan = controller.inbox.take() else { return }
        do {
            loaded = try adopt(plan, from: "controller")
            log("plan revision \(plan.revision) received from the controller")
        } catch { log("keeping revision \(loaded.plan.revision): \(error)") }
    }

    /// Builds the status from the WireGuard devices as the backend reads them back.
    func status(loaded: Loaded, applied: Int64?, error: String) -> AgentStatus {
        var devices: [String: Device] = [:]
        var errors = error.isEmpty ? [] : [error]
        for n in loaded.plan.networks {
            do { devices[n.interface] = try kernel.wireguard.device(n.interface) } catch {
                errors.append("read back \(n.interface): \(error)")
            }
        }
        var relays: [String: AgentStatus.Relays] = [:]
        let reports = prober?.reports() ?? [:]
        for n in loaded.plan.networks {
            if let f = n.failover, let r = reports[n.name] { relays[n.name] = AgentStatus.Relays(r, plan: f) }
        }
        return AgentStatus(
            plan: loaded.plan, appliedRevision: applied, devices: devices,
            errors: errors, wireguard: kernel.wireguard is UserspaceWireGuard ? "userspace" : "kernel", relays: relays)
    }

    /// Runs async work from the agent's synchronous thread (joining happens before the loop).
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let box = Mutex<Result<T, any Error>?>(nil)
        Task {
            let r: Result<T, any Error>
            do { r = .success(try await work()) } catch { r = .failure(error) }
            box.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return try box.withLock { $0! }.get()
    }
}
