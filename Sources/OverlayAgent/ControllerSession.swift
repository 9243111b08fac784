import Foundation
import OverlayModel
import OverlayPlanner
import OverlayProtocol
import Synchronization

/// The agent's running conversation with its controller, off the reconcile thread:
/// - a long-poll loop asks for a plan newer than the one the agent has, checks it with the
///   `PlanGate` (pinned key, node, revision) and leaves it in the `PlanInbox`, which wakes the
///   reconcile loop at once;
/// - a report loop sends the newest `AgentStatus` handed to `report(_:)` (older ones still
///   unsent are dropped).
/// A controller may run as several replicas on one database: when the one in use cannot serve,
/// the poll moves to the next (`ControllerPollStateMachine`) and the reports follow; when none
/// can, both retry with `Backoff`. The data plane never waits for them. A refused plan is
/// logged and the last good plan stays.
public final class ControllerSession: Sendable {
    /// One client per controller replica, in the order given at join (`--controller`).
    public let replicas: [AgentClient]
    public let gate: PlanGate
    public let inbox: PlanInbox
    let wait: Int
    let log: @Sendable (String) -> Void
    /// Called with the whole pinned set after a signed plan announced a new certificate.
    let pinned: @Sendable ([CertificateFingerprint]) -> Void
    private let statuses: AsyncStream<AgentStatus>
    private let statusSink: AsyncStream<AgentStatus>.Continuation
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// The newest revision handed to the inbox (or applied before the session started).
    private let received = Mutex<Int64?>(nil)
    /// The replica polled now; status reports go there too.
    private let current = Mutex(0)

    public convenience init(
        client: AgentClient, gate: PlanGate, wait: Int = AgentPaths.defaultWait,
        pinned: @escaping @Sendable ([CertificateFingerprint]) -> Void = { _ in },
        log: @escaping @Sendable (String) -> Void
    ) throws {
        try self.init(replicas: [client], gate: gate, wait: wait, pinned: pinned, log: log)
    }

    /// - Parameter replicas: at least one; the first is polled first.
    public init(
        replicas: [AgentClient], gate: PlanGate, wait: Int = AgentPaths.defaultWait,
        pinned: @escaping @Sendable ([CertificateFingerprint]) -> Void = { _ in },
        log: @escaping @Sendable (String) -> Void
    ) throws {
        precondition(!replicas.isEmpty, "a controller session needs a controller")
        self.replicas = replicas
        self.pinned = pinned
        self.gate = gate
        self.wait = wait
        self.log = log
        inbox = try PlanInbox()
        (statuses, statusSink) = AsyncStream.makeStream(of: AgentStatus.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The client of the replica in use now.
    public var client: AgentClient { replicas[current.withLock { $0 }] }

    /// Starts both loops; `applied` is the revision the agent already has (nil: none).
    public func start(applied: Int64?) {
        received.withLock { $0 = applied }
        let poll = Task { await self.pollLoop() }
        let report = Task { await self.reportLoop() }
        tasks.withLock { $0 = [poll, report] }
    }

    /// Stops both loops and closes the connections (waits at most a second for that).
    public func stop() {
        statusSink.finish()
        let running = tasks.withLock { $0 }
        for t in running { t.cancel() }
        let done = DispatchSemaphore(value: 0)
        let replicas = replicas
        Task {
            for t in running { await t.value }
            for client in replicas { await client.shutdown() }
            done.signal()
        }
        _ = done.wait(timeout: .now() + 1)
    }

    /// Queues a status report (replacing one not sent yet).
    public func report(_ status: AgentStatus) { statusSink.yield(status) }

    // MARK: - Loops

    func pollLoop() async {
        var machine = ControllerPollStateMachine(replicas: replicas.map(\.baseURL))
        while !Task.isCancelled {
            let after = received.withLock { $0 }
            let actions: [ControllerPollStateMachine.Action]
            do {
                let client = replicas[machine.current]
                if let signed = try await client.plan(after: after, wait: wait) {
                    let announced = try gate.announcedCertificates(signed)
                    // Every replica presents the same certificate, so each client pins what one announced.
                    let fresh = replicas.map { $0.pin(announced) }.contains(true)
                    if fresh {
                        log(
                            "pinned the controller's announced certificates: \(client.pins.map(\.description).joined(separator: ", "))"
                        )
                        pinned(client.pins)
                    }
                    // An answer for the announcement alone carries the plan the agent has.
                    if after == nil || signed.revision > after! {
                        let plan = try gate.open(signed, applied: after)
                        received.withLock { $0 = plan.revision }
                        inbox.post(plan)
                    }
                }
                actions = machine.reachable()
            } catch let error as AgentClientError where error.isReplicaDown {
                if Task.isCancelled { return }
                actions = machine.replicaDown("\(error)", unit: Double.random(in: 0..<1))
            } catch {
                if Task.isCancelled { return }
                actions = machine.unusableAnswer("\(error)", unit: Double.random(in: 0..<1))
            }
            for action in actions {
                switch action {
                case .log(let line): log(line)
                case .moveTo(let index): current.withLock { $0 = index }
                case .backOff(let delay): try? await Task.sleep(for: delay)
                }
            }
        }
    }

    func reportLoop() async {
        var failing: String?
        for await status in statuses {
            do {
                try await self.client.report(status)
                failing = nil
            } catch {
                // The next report (after the next change, or the periodic one) carries fresher
                // state; nothing to keep.
                let text = "\(error)"
                if text != failing { log("status report not delivered: \(text)") }
                failing = text
            }
        }
    }

    static func seconds(_ d: Duration) -> String {
        String(format: "%.2f s", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}
