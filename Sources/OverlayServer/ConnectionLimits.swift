import NIOCore
import Synchronization

/// The decision on connections: each source address may hold `perSource` open, all together
/// `total`. One client cannot take every slot, so thousands of idle connections from a few
/// addresses leave room for everyone else (and the idle timeout closes them in time). Pure.
struct ConnectionBudget {
    let perSource: Int
    let total: Int
    private(set) var open: [String: Int] = [:]
    private(set) var openTotal = 0

    init(perSource: Int, total: Int) {
        self.perSource = perSource
        self.total = total
    }

    /// Takes a slot for a new connection from `source`; false when it must be closed.
    mutating func accept(_ source: String) -> Bool {
        guard openTotal < total, open[source, default: 0] < perSource else { return false }
        open[source, default: 0] += 1
        openTotal += 1
        return true
    }

    /// Gives back the slot of a connection `accept` took.
    mutating func release(_ source: String) {
        guard let n = open[source] else { return }
        open[source] = n > 1 ? n - 1 : nil
        openTotal -= 1
    }
}

/// The shared budget, and the refusals counted.
final class ConnectionLimits: Sendable {
    private let budget: Mutex<ConnectionBudget>
    let metrics: ServerMetrics

    init(perSource: Int, total: Int, metrics: ServerMetrics) {
        budget = Mutex(ConnectionBudget(perSource: perSource, total: total))
        self.metrics = metrics
    }

    func accept(_ source: String) -> Bool {
        let ok = budget.withLock { $0.accept(source) }
        if !ok { metrics.connectionsRefused.increment() }
        return ok
    }

    func release(_ source: String) { budget.withLock { $0.release(source) } }
}

/// One per connection, in the HTTP pipeline: takes a slot when the connection opens (closing it
/// at once when there is none) and gives it back when it closes. Requests pass through.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    // Requests pass through untouched: the parts are never unwrapped here.
    typealias InboundIn = NIOAny

    let limits: ConnectionLimits
    private var source: String?

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { take(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        take(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let source { limits.release(source) }
        source = nil
        context.fireChannelInactive()
    }

    private func take(_ context: ChannelHandlerContext) {
        guard source == nil else { return }
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        if limits.accept(address) {
            source = address
        } else {
            context.close(promise: nil)
        }
    }
}
