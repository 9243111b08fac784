import Testing

@testable import OverlayServer

/// Store calls block; the handlers that make them must run on the database threads, not on the
/// cooperative pool.
@Suite struct DatabaseExecutorTests {
    @Test func workRunsOnTheDatabaseThreadsAndOnlyThere() async throws {
        let executor = DatabaseExecutor.shared
        #expect(!DatabaseExecutor.isCurrent)
        let inside = try await executor.run { DatabaseExecutor.isCurrent }
        #expect(inside)
        // What the work awaits stays there too (a use case awaiting a helper).
        let awaited = try await executor.run { await Self.isCurrentAfterSuspending() }
        #expect(awaited)
        #expect(!DatabaseExecutor.isCurrent)
    }

    @Test func errorsComeThrough() async {
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await DatabaseExecutor.shared.run { throw Boom() } }
    }

    nonisolated static func isCurrentAfterSuspending() async -> Bool {
        await Task.yield()
        return DatabaseExecutor.isCurrent
    }
}
