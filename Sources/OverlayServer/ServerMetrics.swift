import Foundation
import Hummingbird
import Prometheus
import Synchronization

/// What `/metrics` shows (Prometheus text format).
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// When each node last polled or reported, and the nodes whose last report had errors.
    private let agents = Mutex<(lastSeen: [String: Int64], failing: Set<String>)>(([:], []))
    /// Each node's last reported failover count (it restarts at 0 with the agent).
    private let failoverCounts = Mutex<[String: Int]>([:])

    let planRevision: Gauge
    let longPolls: Gauge
    let agentsSeen: Gauge
    let agentsFailing: Gauge
    let applyErrors: Counter
    let plansDelivered: Counter
    let wakeups: Counter
    let joins: Counter
    let authFailures: Counter
    let authRefused: Counter
    let connectionsRefused: Counter
    let relayFailovers: Counter

    /// An agent counts as connected while it polled or reported within this many seconds.
    static let seenWindow: Int64 = 120
    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "overlay", metricName: "http_requests", unitName: "total",
            helpText: "HTTP requests by route pattern, method and status.")
    }

    init() {
        planRevision = registry.makeGauge(
            descriptor: .init(
                namespace: "overlay", metricName: "plan_revision", unitName: "",
                helpText: "The store revision (every committed command takes one)."))
        longPolls = registry.makeGauge(
            descriptor: .init(
                namespace: "overlay", metricName: "agent_long_polls", unitName: "",
                helpText: "Plan long-polls in flight."))
        agentsSeen = registry.makeGauge(
            descriptor: .init(
                namespace: "overlay", metricName: "agents_connected", unitName: "",
                helpText: "Agents that polled or reported in the last \(Self.seenWindow) s."))
        agentsFailing = registry.makeGauge(
            descriptor: .init(
                namespace: "overlay", metricName: "agents_with_errors", unitName: "",
                helpText: "Agents whose last status report carried apply errors."))
        applyErrors = registry.makeCounter(
            descriptor: .init(
                namespace: "overlay", metricName: "agent_apply_errors", unitName: "total",
                helpText: "Apply errors reported by agents (summed over reports)."))
        plansDelivered = registry.makeCounter(
            descriptor: .init(
                namespace: "overlay", metricName: "plans_delivered", unitName: "total",
                helpText: "Signed plans sent to agents."))
        wakeups = registry.makeCounter(
            descriptor: .init(
                namespace: "overlay", metricName: "long_poll_wakeups", unitName: "total",
                helpText: "Long-polls woken because their node's plan changed."))
        joins = registry.makeCounter(
            descriptor: .init(
                namespace: "overlay", metricName: "agent_joins", unitName: "total", helpText: "Successful joins."))
        authFailures = registry.makeCounter(
            descriptor: .init(
                namespace: "overlay", metricName: "auth_failures", unitName: "total",
                helpText: "Failed authentications: wrong admin tokens, bad agent signatures, bad join tokens."))
        authRefused = registry.makeCounter(
            descriptor: .init(
                namespace: "overlay", metricName: "auth_refused", unitName: "total",
                helpText: "Requests answered 429: their source failed to authenticate too often."))
        connectionsRefused = registry.makeCounter(
            descriptor: .init(
                namespace: "overlay", metricName: "connections_refused", unitName: "total",
                helpText: "Connections closed at once: their source, or the server, held as many as allowed."))
        relayFailovers = registry.makeCounter(
            descriptor: .init(
                namespace: "overlay", metricName: "relay_failovers", unitName: "total",
                helpText: "Relay hubs taken out of service by agents, moving their relayed prefixes to the other hub."))
    }

    func request(route: String, method: String, status: Int) {
        registry.makeCounter(
            descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
    }

    func seen(node: String, now: Int64 = Int64(Date().timeIntervalSince1970)) {
        agents.withLock { $0.lastSeen[node] = now }
    }

    func reported(node: String, errors: Int, failovers: Int = 0) {
        if errors > 0 { applyErrors.increment(by: Int64(errors)) }
        let new = failoverCounts.withLock { counts -> Int in
            defer { counts[node] = failovers }
            let last = counts[node] ?? 0
            // A smaller count: the agent restarted and counts from 0 again.
            return failovers >= last ? failovers - last : failovers
        }
        if new > 0 { relayFailovers.increment(by: Int64(new)) }
        agents.withLock {
            if errors > 0 { $0.failing.insert(node) } else { $0.failing.remove(node) }
        }
    }

    /// The text of `/metrics`, with the gauges that are sampled brought up to date first.
    func render(revision: Int64, polls: Int, now: Int64 = Int64(Date().timeIntervalSince1970)) -> [UInt8] {
        planRevision.set(Double(revision))
        longPolls.set(Double(polls))
        let (seen, bad) = agents.withLock { agents -> (Int, Int) in
            agents.lastSeen = agents.lastSeen.filter { now - $0.value <= Self.seenWindow }
            return (agents.lastSeen.count, agents.failing.count)
        }
        agentsSeen.set(Double(seen))
        agentsFailing.set(Double(bad))
        return registry.emitToBuffer()
    }
}
