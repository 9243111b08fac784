import Hummingbird

/// What every request goes through before its route, in one middleware: onto the
/// `DatabaseExecutor` (admin and agent routes alike), the failed-authentication limit
/// (`AuthLimits`), every error turned into its answer (`ErrorAnswers`), and the request counted
/// by its route pattern (not its path: names stay out of label values).
///
/// One middleware rather than four because each async frame between the server and a route costs
/// memory for as long as the connection stays open, not only while the request runs: a task keeps
/// the slabs its deepest call needed (about 1 KB each) and reuses them until it ends, and a
/// connection is one task. With 1,000 agents holding a long-poll, every frame is 1 MB.
struct RequestPipeline: RouterMiddleware {
    typealias Context = ServerContext
    let executor: DatabaseExecutor
    let limits: AuthLimits
    let errors: ErrorAnswers
    let metrics: ServerMetrics

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        try await executor.run {
            let response: Response
            if let refusal = limits.refusal(request, context, metrics: metrics) {
                response = refusal
            } else {
                do {
                    response = try await next(request, context)
                } catch {
                    response = errors.response(for: error, request, context)
                }
                limits.account(response, request, context, metrics: metrics)
            }
            metrics.request(
                route: context.endpointPath ?? "unmatched", method: request.method.rawValue,
                status: response.status.code)
            return response
        }
    }
}
