import Foundation
import NIOCore
import PostgresNIO
import Synchronization

/// Replicas on one PostgreSQL database tell each other which nodes' plans a commit changed, so
/// each wakes exactly those nodes' long-polls. The notice is sent inside the transaction:
/// PostgreSQL delivers it only if, and once, it commits.
extension Transaction {
    static let planChannel = "overlay_plans"
    /// PostgreSQL refuses a payload of 8000 bytes or more; a longer list becomes "every node".
    static let maxPayload = 7000

    /// Announces that the plans of `nodes` changed (a no-op on SQLite: one process, woken directly).
    public func announcePlanChanges(_ nodes: some Collection<String>) throws {
        guard let session = conn as? PostgresSession, !nodes.isEmpty else { return }
        var payload = session.origin + "\n" + nodes.joined(separator: " ")
        if payload.utf8.count > Self.maxPayload { payload = session.origin + "\n*" }
        // Nothing reads its answer: it goes out with the commit.
        try session.executeDeferred("SELECT pg_notify(?, ?)", [Self.planChannel, payload])
    }
}

/// A dedicated connection that listens for other replicas' plan changes, reconnecting with backoff
/// whenever it is lost. Stopped by `stop()`.
public final class PlanChangeListener: Sendable {
    private let engine: PostgresEngine
    private let onChange: @Sendable ([String]?) -> Void
    private let onReconnect: @Sendable () -> Void
    private let state = Mutex<(stopped: Bool, connection: PostgresConnection?)>((false, nil))

    init(
        engine: PostgresEngine, onChange: @escaping @Sendable ([String]?) -> Void,
        onReconnect: @escaping @Sendable () -> Void
    ) {
        self.engine = engine
        self.onChange = onChange
        self.onReconnect = onReconnect
    }

    /// Parses a notice: the sending replica's id, then the node names (nil: every node).
    static func parse(_ payload: String, ignoring origin: String) -> [String]?? {
        let parts = payload.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .some(nil) }
        if parts[0] == origin { return .none }
        if parts[1] == "*" { return .some(nil) }
        return .some(parts[1].split(separator: " ").map(String.init))
    }

    func start() {
        Thread.detachNewThread { [self] in run() }
    }

    /// Stops listening and closes the connection.
    public func stop() {
        let c = state.withLock { s -> PostgresConnection? in
            s.stopped = true
            return s.connection
        }
        _ = c.map { $0.close() as EventLoopFuture<Void> }
    }

    private var stopped: Bool { state.withLock { $0.stopped } }

    private func run() {
        var delay = 0.1
        var lost = false
        while !stopped {
            do {
                let connection = try engine.connect()
                let keep = state.withLock { s -> Bool in
                    if s.stopped { return false }
                    s.connection = connection
                    return true
                }
                guard keep else {
                    _ = connection.close() as EventLoopFuture<Void>
                    return
                }
                let origin = engine.origin
                connection.addListener(channel: Transaction.planChannel) { [onChange] _, notice in
                    if case .some(let nodes) = Self.parse(notice.payload, ignoring: origin) { onChange(nodes) }
                }
                _ = try connection.query("LISTEN \(unescaped: Transaction.planChannel)", logger: engine.logger).wait()
                delay = 0.1
                // Changes committed while this replica was not listening reached no one here.
                if lost { onReconnect() }
                lost = false
                try? connection.closeFuture.wait()
            } catch {}
            lost = true
            state.withLock { $0.connection = nil }
            if stopped { return }
            Thread.sleep(forTimeInterval: delay * Double.random(in: 0.5...1.0))
            delay = min(delay * 2, 5)
        }
    }
}

extension Store {
    /// On PostgreSQL, starts listening for the plan changes other replicas commit: `onChange`
    /// gets their nodes (nil: possibly every node), `onReconnect` is called once the listening
    /// connection is back after a loss (changes may have been missed meanwhile). Nil on SQLite.
    public func listenForPlanChanges(
        onChange: @escaping @Sendable ([String]?) -> Void, onReconnect: @escaping @Sendable () -> Void
    ) -> PlanChangeListener? {
        guard case .postgres(let pg) = engine else { return nil }
        let listener = PlanChangeListener(engine: pg, onChange: onChange, onReconnect: onReconnect)
        listener.start()
        return listener
    }
}
