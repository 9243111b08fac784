import Dispatch
import Hummingbird

/// The threads request handlers run on. The store's reads and writes block (SQLite, waiting up to
/// its 5 s busy timeout for a writer): on Swift's cooperative threads, as many as there are
/// cores, a few such waits would stall every other request and the long-polls' wake-ups. Work
/// that prefers this executor runs on a dispatch queue's threads instead, which may block.
final class DatabaseExecutor: TaskExecutor {
    private static let marker = DispatchSpecificKey<Bool>()
    private let queue: DispatchQueue

    init() {
        queue = DispatchQueue(label: "overlayd.database", qos: .userInitiated, attributes: .concurrent)
        queue.setSpecific(key: Self.marker, value: true)
    }

    /// Whether the calling code runs on these threads.
    static var isCurrent: Bool { DispatchQueue.getSpecific(key: marker) ?? false }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    /// Runs `body`, and everything it awaits that is not isolated elsewhere (the admin use
    /// cases, the controller's store calls), on these threads.
    func run<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(self, isolation: isolation, operation: body)
    }
}

/// Puts every request's handling on the `DatabaseExecutor` (admin and agent routes alike).
struct DatabaseExecutorMiddleware<Context: RequestContext>: RouterMiddleware {
    let executor: DatabaseExecutor

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        try await executor.run { try await next(request, context) }
    }
}
