import Foundation
import Hummingbird
import Synchronization

/// The threads request handlers run on. The store's reads and writes block (SQLite, waiting up to
/// its 5 s busy timeout for a writer): on Swift's cooperative threads, as many as there are
/// cores, a few such waits would stall every other request and the long-polls' wake-ups. Work
/// that prefers this executor runs on a fixed pool of threads of its own instead, which may block.
///
/// Why not a concurrent `DispatchQueue`: on Linux its work goes to the global pool, which starts
/// no more threads than there are cores, so two blocked store calls would stall it just the same.
final class DatabaseExecutor: TaskExecutor {
    /// One pool for the process: every server in it (tests run several) shares these threads.
    /// Twice the cores, at least 4: SQLite runs one writer at a time and readers in parallel, so
    /// more threads would mostly wait, and each thread that allocates costs a malloc arena (16
    /// threads cost the controller about 12 MB more than the cooperative pool alone).
    static let shared = DatabaseExecutor(threads: max(4, 2 * ProcessInfo.processInfo.activeProcessorCount))

    private static let markerKey = "overlayd.database"
    private let jobs = Mutex<[UnownedJob]>([])
    private let ready = DispatchSemaphore(value: 0)

    init(threads: Int) {
        for i in 0..<threads {
            let thread = Thread { [self] in self.work() }
            thread.name = "overlayd-db-\(i)"
            thread.start()
        }
    }

    /// Whether the calling code runs on these threads.
    static var isCurrent: Bool { Thread.current.threadDictionary[markerKey] as? Bool ?? false }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        ready.signal()
    }

    private func work() {
        Thread.current.threadDictionary[Self.markerKey] = true
        let executor = asUnownedTaskExecutor()
        while true {
            ready.wait()
            guard let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            job.runSynchronously(on: executor)
        }
    }

    /// Runs `body`, and everything it awaits that is not isolated elsewhere (the admin use
    /// cases, the controller's store calls), on these threads.
    func run<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(self, isolation: isolation, operation: body)
    }
}
