import Hummingbird
import OverlayAPI
import OverlayModel
import OverlayProtocol
import Synchronization

/// The shared state of `AuthFailureLimiter`, with a monotonic clock (a wall-clock step must not
/// lift or extend a refusal).
final class AuthLimits: Sendable {
    private let limiter: Mutex<AuthFailureLimiter>
    private let start = ContinuousClock.now

    init(_ configuration: AuthFailureLimiter.Configuration) {
        limiter = Mutex(AuthFailureLimiter(configuration))
    }

    private var now: Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    func check(_ source: String) -> AuthFailureLimiter.Decision {
        let now = now
        return limiter.withLock { $0.check(source: source, now: now) }
    }

    func failed(_ source: String) -> Bool {
        let now = now
        return limiter.withLock { $0.failed(source: source, now: now) }
    }
}

extension AuthLimits {
    /// The answer to a `/v1/` request (the admin and agent APIs) from a source out of failures:
    /// `429` and `Retry-After`, without its credentials being looked at. Nil: go on.
    func refusal(_ request: Request, _ context: ServerContext, metrics: ServerMetrics) -> Response? {
        guard request.uri.path.hasPrefix("/v1/") else { return nil }
        let source = context.sourceAddress
        guard case .refuse(let after) = check(source) else { return nil }
        metrics.authRefused.increment()
        var response = JSONResponse.make(
            ErrorBody(error: "too many failed authentications from \(source): try again in \(after) s"),
            status: .tooManyRequests)
        response.headers[.retryAfter] = String(after)
        return response
    }

    /// Counts a `401` answer to a `/v1/` request, or a `403` to a join (a bad join token), as a
    /// failure of its source, and logs it.
    func account(_ response: Response, _ request: Request, _ context: ServerContext, metrics: ServerMetrics) {
        let isFailure =
            response.status == .unauthorized
            || (response.status == .forbidden && request.uri.path == AgentPaths.join)
        guard isFailure, request.uri.path.hasPrefix("/v1/") else { return }
        metrics.authFailures.increment()
        let source = context.sourceAddress
        let exhausted = failed(source)
        context.logger.notice(
            exhausted ? "authentication failed; source refused from now on" : "authentication failed",
            metadata: [
                "source": "\(source)", "method": "\(request.method)",
                "path": "\(Quote.bounded(request.uri.path))", "status": "\(response.status.code)",
            ])
    }
}
