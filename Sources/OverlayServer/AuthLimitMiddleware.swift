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

/// Applies the limits to every `/v1/` request (the admin and agent APIs): a source out of
/// failures gets `429` and `Retry-After` without its credentials being looked at; a `401`
/// answer, or a `403` to a join (a bad join token), counts as a failure and is logged.
struct AuthLimitMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let limits: AuthLimits
    let metrics: ServerMetrics

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        let source = context.sourceAddress
        if case .refuse(let after) = limits.check(source) {
            metrics.authRefused.increment()
            var response = JSONResponse.make(
                ErrorBody(
                    error: "too many failed authentications from \(source): try again in \(after) s"),
                status: .tooManyRequests)
            response.headers[.retryAfter] = String(after)
            return response
        }
        let response = try await next(request, context)
        let failed =
            response.status == .unauthorized
            || (response.status == .forbidden && request.uri.path == AgentPaths.join)
        if failed {
            metrics.authFailures.increment()
            let exhausted = limits.failed(source)
            context.logger.notice(
                exhausted ? "authentication failed; source refused from now on" : "authentication failed",
                metadata: [
                    "source": "\(source)", "method": "\(request.method)",
                    "path": "\(Quote.bounded(request.uri.path))", "status": "\(response.status.code)",
                ])
        }
        return response
    }
}
